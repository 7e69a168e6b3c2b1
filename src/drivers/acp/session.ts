import { constants, type Stats } from 'node:fs';
import { mkdir, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as acp from '@agentclientprotocol/sdk/unstable';
import { BatonError } from '../../errors.js';
import { agentFailure, startAgentProcess, withDeadline } from '../agent-process.js';
import { ChildHandle, settlesWithin, type ChildEnd } from '../../process/child.js';
import { isExcluded, isInside, realpathLoose } from '../../paths.js';
import type { PermissionOption, PermissionOptionKind, ToolCallInfo, Usage } from '../../engine/types.js';
import type {
  AgentSession,
  Driver,
  DriverEvent,
  OpenOptions,
  SessionCapabilities,
  TurnOutcome,
  TurnSink,
} from '../driver.js';

/** How long an agent may take to answer `initialize` and open its session. */
const START_TIMEOUT_MS = 60_000;
/** After a prompt response, updates that are still in flight are awaited until this long passes quietly. */
const SETTLE_QUIET_MS = 30;
const SETTLE_MAX_MS = 1000;
/** Largest file the agent may read through the client. */
const MAX_FILE_BYTES = 10 * 1024 * 1024;
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;

/**
 * Drives any Agent Client Protocol agent over stdio (`@agentclientprotocol/sdk` 2.x app builder).
 * Serves `fs/read_text_file` and `fs/write_text_file` confined to the run's cwd, maps every
 * `session/update` variant to normalized events, and reopens sessions with `session/load` or
 * `session/resume` when the agent advertises them.
 */
export class AcpDriver implements Driver {
  readonly name = 'acp';
  readonly nativeStructuredOutput = false;
  readonly policyInProcess = false;

  async open(options: OpenOptions): Promise<AgentSession> {
    return startAgentProcess(options, options.agent.args, (child) => new AcpSession(child, options));
  }
}

class AcpSession implements AgentSession {
  agentSessionId = '';
  capabilities: SessionCapabilities = { load: false, resume: false };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly #child: ChildHandle;
  readonly #options: OpenOptions;
  readonly #conn: acp.ClientConnection;
  #sink: TurnSink | undefined;
  readonly #exitWatchers = new Set<() => void>();
  #replaying = false;
  #lastUpdate = 0;
  /** The agent's name from `initialize` (`agentInfo.name`), for agent-specific workarounds. */
  #agentName: string | undefined;

  /** The MCP servers offered to the session (baton itself when delegation is on), in ACP's shape. */
  #mcpServers(): acp.McpServer[] {
    return (this.#options.mcpServers ?? []).map((m) => ({
      name: m.name,
      command: m.command,
      args: m.args,
      env: Object.entries(m.env).map(([name, value]) => ({ name, value })),
    }));
  }

  constructor(child: ChildHandle, options: OpenOptions) {
    this.#child = child;
    this.#options = options;
    this.exited = child.exited.then((end) => ({ end, stderrTail: child.stderrTail() }));
    // One exit listener for the life of the process; requests in flight register watchers.
    void child.exited.then(() => {
      // Give a response that was already written a moment to be read before calling it a crash.
      setTimeout(() => {
        for (const w of [...this.#exitWatchers]) w();
        this.#exitWatchers.clear();
      }, 50);
    });
    const stream = acp.ndJsonStream(
      Writable.toWeb(child.stdin) as WritableStream<Uint8Array>,
      Readable.toWeb(child.stdout.pipe(salvageUsage((u) => this.#onUpdate(u)))) as ReadableStream<Uint8Array>,
    );
    const app = acp
      .client({ name: 'baton' })
      .onRequest(acp.methods.client.session.requestPermission, ({ params, signal }) =>
        this.#onPermission(params, signal),
      )
      .onRequest(acp.methods.client.fs.readTextFile, ({ params }) => this.#onRead(params))
      .onRequest(acp.methods.client.fs.writeTextFile, ({ params }) => this.#onWrite(params))
      .onNotification(acp.methods.client.session.update, ({ params }) => this.#onUpdate(params.update));
    this.#conn = app.connect(stream);
    // A closed pipe after the child died is expected; the exit is reported through `exited`.
    child.stdin.on('error', () => undefined);
  }

  get pid(): number {
    return this.#child.pid;
  }

  get pidStart(): string | undefined {
    return this.#child.startTime;
  }

  /** initialize, then session/new or session/load|resume, then the model option. */
  async start(): Promise<void> {
    const agent = this.#conn.agent;
    const init = await this.#bounded(
      agent.request(acp.methods.agent.initialize, {
        protocolVersion: acp.PROTOCOL_VERSION,
        clientCapabilities: { fs: { readTextFile: true, writeTextFile: true }, terminal: false },
        clientInfo: { name: 'baton', version: '0.1.0' },
      }),
      'initialize',
    );
    this.#agentName = init.agentInfo?.name;
    this.capabilities = {
      load: init.agentCapabilities?.loadSession === true,
      resume: Boolean(init.agentCapabilities?.sessionCapabilities?.resume),
    };
    const cwd = this.#options.cwd;
    let configOptions: acp.SessionConfigOption[] | null | undefined;
    let legacyModels: string[] | undefined;
    const resumeId = this.#options.resumeSessionId;
    if (resumeId) {
      if (this.capabilities.load) {
        this.#replaying = true;
        try {
          const res = await this.#bounded(
            agent.request(acp.methods.agent.session.load, {
              sessionId: resumeId,
              cwd,
              mcpServers: this.#mcpServers(),
            }),
            'session/load',
          );
          configOptions = res?.configOptions;
          legacyModels = modelsOf(res);
        } finally {
          await this.#settle();
          this.#replaying = false;
        }
      } else if (this.capabilities.resume) {
        const res = await this.#bounded(
          agent.request(acp.methods.agent.session.resume, {
            sessionId: resumeId,
            cwd,
            mcpServers: this.#mcpServers(),
          }),
          'session/resume',
        );
        configOptions = res.configOptions;
        legacyModels = modelsOf(res);
      } else {
        throw new BatonError(
          'SESSION_NOT_RESUMABLE',
          `agent ${this.#options.agent.name} cannot reopen session ${resumeId}: it supports neither session/load nor session/resume, and its process is gone; start a new run instead`,
        );
      }
      this.agentSessionId = resumeId;
    } else {
      const res = await this.#bounded(
        agent.request(acp.methods.agent.session.new, { cwd, mcpServers: this.#mcpServers() }),
        'session/new',
      );
      this.agentSessionId = res.sessionId;
      configOptions = res.configOptions;
      legacyModels = modelsOf(res);
    }
    const model = this.#options.model;
    if (model) await this.#applyModel(model, configOptions, legacyModels);
  }

  /**
   * Chooses the session's model: the `model` config option when the agent offers one, else the
   * older `session/set_model` when it lists `models` (gemini-cli 0.61). A model the agent does not
   * offer fails the run with the list (agents were seen to map an unknown id silently to another
   * model); an agent with no model choice at all only gets a note.
   */
  async #applyModel(
    model: string,
    configOptions: acp.SessionConfigOption[] | null | undefined,
    legacyModels: string[] | undefined,
  ): Promise<void> {
    const agent = this.#conn.agent;
    const name = this.#options.agent.name;
    const option = configOptions?.find((o) => o.category === 'model');
    const offered = option ? optionValues(option) : legacyModels;
    if (offered && offered.length > 0 && !offered.includes(model)) {
      throw new BatonError(
        'MODEL_NOT_AVAILABLE',
        `agent ${name} does not offer model "${model}"; choose one of: ${offered.join(', ')}`,
      );
    }
    if (option) {
      await this.#bounded(
        agent.request(acp.methods.agent.session.setConfigOption, {
          sessionId: this.agentSessionId,
          configId: option.id,
          value: model,
        }),
        'session/set_config_option',
      );
    } else if (legacyModels) {
      await this.#bounded(
        agent.request('session/set_model', { sessionId: this.agentSessionId, modelId: model }),
        'session/set_model',
      );
    } else {
      this.notes.push(`agent ${name} offers no model option; model "${model}" was not applied`);
    }
  }

  async prompt(text: string, sink: TurnSink): Promise<TurnOutcome> {
    this.#sink = sink;
    try {
      const res = await this.#raceExit(
        this.#conn.agent.request(acp.methods.agent.session.prompt, {
          sessionId: this.agentSessionId,
          prompt: [{ type: 'text', text }],
        }),
        'session/prompt',
      );
      await this.#settle();
      const outcome: TurnOutcome = { stop_reason: res.stopReason };
      const u = res.usage;
      const quota = quotaUsage(res._meta);
      if (!u && quota) outcome.usage = quota;
      if (u) {
        outcome.usage = {
          input_tokens: u.inputTokens,
          output_tokens: u.outputTokens,
          total_tokens: u.totalTokens,
          ...(u.thoughtTokens != null ? { thought_tokens: u.thoughtTokens } : {}),
          ...(u.cachedReadTokens != null ? { cached_read_tokens: u.cachedReadTokens } : {}),
        };
      }
      return outcome;
    } catch (err) {
      // A closed pipe usually means the agent is dying: give its exit a moment to be seen.
      if (!(err instanceof BatonError)) await settlesWithin(this.#child.exited, 1000);
      throw this.explain(err, 'during the turn');
    } finally {
      // What the agent sends after the turn has settled belongs to no run.
      this.#sink = undefined;
    }
  }

  async cancel(): Promise<void> {
    if (this.#child.end || !this.agentSessionId) return;
    // Not awaited: the write can queue behind a large prompt an agent is not reading; the ladder goes on.
    void this.#conn.agent
      .notify(acp.methods.agent.session.cancel, { sessionId: this.agentSessionId })
      .catch(() => undefined);
  }

  async close(graceMs = 2000): Promise<ChildEnd> {
    this.#conn.close();
    return this.#child.stop(graceMs);
  }

  /** Turns anything a request threw into a BatonError carrying the stderr tail when the agent died. */
  explain(err: unknown, when: string): BatonError {
    return agentFailure(err, when, `agent ${this.#options.agent.name}`, this.#child);
  }

  #raceExit<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const onExit = () => {
        if (!done) {
          done = true;
          reject(this.explain(new Error(`${what}: the agent process exited`), `during ${what}`));
        }
      };
      this.#exitWatchers.add(onExit);
      const settle = (fn: () => void) => {
        this.#exitWatchers.delete(onExit);
        if (!done) {
          done = true;
          fn();
        }
      };
      p.then(
        (v) => settle(() => resolve(v)),
        (e) => settle(() => reject(e)),
      );
    });
  }

  #bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return withDeadline(
      this.#raceExit(p, what),
      START_TIMEOUT_MS,
      () =>
        new BatonError(
          'AGENT_ERROR',
          `agent ${this.#options.agent.name} did not answer ${what} within ${START_TIMEOUT_MS / 1000}s`,
          { details: { stderr_tail: this.#child.stderrTail() } },
        ),
    );
  }

  // HACK: in ACP SDK 2.4 a prompt response can resolve before the handlers of the notifications
  // that preceded it have run, and real agents send updates after the response. Wait until the
  // stream has been quiet briefly (bounded) so the turn's transcript is complete. Remove when ACP
  // v2 drops the turn concept.
  async #settle(): Promise<void> {
    const started = Date.now();
    await new Promise((r) => setImmediate(r));
    while (Date.now() - started < SETTLE_MAX_MS) {
      const quietFor = Date.now() - this.#lastUpdate;
      if (quietFor >= SETTLE_QUIET_MS) return;
      await new Promise((r) => setTimeout(r, SETTLE_QUIET_MS - quietFor));
    }
  }

  async #onPermission(
    params: acp.RequestPermissionRequest,
    signal: AbortSignal,
  ): Promise<acp.RequestPermissionResponse> {
    // Let session/update notifications that came before this request on the wire be handled first.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const sink = this.#sink;
    if (!sink) return { outcome: { outcome: 'cancelled' } };
    const tc = params.toolCall;
    const toolCall: ToolCallInfo = { tool_call_id: tc.toolCallId };
    if (tc.kind) toolCall.kind = tc.kind;
    if (tc.title) toolCall.title = tc.title;
    if (tc.locations?.length) toolCall.locations = tc.locations.map((l) => l.path);
    if (tc.rawInput !== undefined) toolCall.raw_input = tc.rawInput;
    const options: PermissionOption[] = params.options.map((o) => ({
      option_id: o.optionId,
      name: o.name,
      kind: o.kind as PermissionOptionKind,
    }));
    const answer = await sink.requestPermission(
      { title: tc.title ?? tc.kind ?? 'Permission requested', tool_call: toolCall, options },
      signal,
    );
    return answer.outcome === 'selected'
      ? { outcome: { outcome: 'selected', optionId: answer.option_id } }
      : { outcome: { outcome: 'cancelled' } };
  }

  /** The real path (symlinks and `..` resolved) of a file the agent names, if it is inside the cwd. */
  #confine(path: string): string {
    if (!isAbsolute(path)) throw acp.RequestError.invalidParams(undefined, `path must be absolute: ${path}`);
    // ".." after a symlink means something else to the kernel than to a lexical check: refuse it.
    if (path.split(/[\\/]/).includes('..')) {
      throw acp.RequestError.invalidParams(
        undefined,
        `path must not contain "..": ${path}; it is outside the run's working directory`,
      );
    }
    const real = realpathLoose(path);
    this.#checkWhere(path, real);
    return real;
  }

  /** Refuses a real path outside the run's cwd, or inside an excluded folder ($BATON_HOME). */
  #checkWhere(path: string, real: string): void {
    const cwd = realpathLoose(this.#options.cwd);
    if (!isInside(cwd, real)) {
      throw acp.RequestError.invalidParams(
        undefined,
        `baton only serves files inside the run's working directory ${this.#options.cwd}; ${path} is outside it`,
      );
    }
    if (isExcluded(cwd, real, this.#options.excluded ?? [])) {
      throw acp.RequestError.invalidParams(
        undefined,
        `${path} is inside baton's own state folder (BATON_HOME); baton never serves it to agents`,
      );
    }
  }

  /**
   * The opened file's stats, once it is known to be the confined path's file: a folder swapped for
   * a symlink between {@link #confine} and the open would have led elsewhere.
   */
  async #checkOpened(handle: FileHandle, path: string): Promise<Stats> {
    const st = await handle.stat();
    // Linux names the file an fd really is; elsewhere the path must still lead to this very file.
    const where = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (where !== undefined && isAbsolute(where)) {
      this.#checkWhere(path, where);
      return st;
    }
    const real = await realpath(path).catch(() => '');
    const now = real ? await stat(real).catch(() => undefined) : undefined;
    if (!now || now.dev !== st.dev || now.ino !== st.ino) {
      throw acp.RequestError.invalidParams(undefined, `${path} changed while it was opened; try again`);
    }
    this.#checkWhere(path, real);
    return st;
  }

  async #onRead(params: acp.ReadTextFileRequest): Promise<acp.ReadTextFileResponse> {
    const path = this.#confine(params.path);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: never a symlink put there since; O_NONBLOCK: a FIFO must not block the open.
      handle = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw openFailure(path, err);
      // HACK: gemini-cli (0.61.0 and earlier) does not recognise the resource-not-found error: its ACP
      // connection rejects with the raw JSON-RPC error object, and its check (`err instanceof Error`)
      // never maps it to ENOENT (google-gemini/gemini-cli#17588). Every write_file of a NEW file then
      // fails with "Error checking existing file" before it even asks permission. For gemini-cli only,
      // a missing file reads as empty, which it treats as "new file".
      if (this.#agentName === 'gemini-cli') return { content: '' };
      throw acp.RequestError.resourceNotFound(path);
    }
    let content: string;
    try {
      const st = await this.#checkOpened(handle, path);
      if (!st.isFile()) throw acp.RequestError.invalidParams(undefined, `${path} is not a regular file`);
      if (st.size > MAX_FILE_BYTES) {
        throw acp.RequestError.invalidParams(undefined, `${path} is larger than ${MAX_FILE_BYTES} bytes`);
      }
      content = await readBounded(handle, path);
    } finally {
      await handle.close();
    }
    if (params.line != null || params.limit != null) {
      const lines = content.split('\n');
      const start = Math.max((params.line ?? 1) - 1, 0);
      content = lines.slice(start, params.limit != null ? start + params.limit : undefined).join('\n');
    }
    return { content };
  }

  async #onWrite(params: acp.WriteTextFileRequest): Promise<acp.WriteTextFileResponse> {
    // Writes are refused outside a turn and when the run's policy is deny_all.
    if (!this.#sink || !this.#sink.allowWrites) {
      throw acp.RequestError.invalidRequest(
        undefined,
        this.#sink
          ? 'the run policy (deny_all) forbids writing files'
          : 'no turn is running: writes are refused',
      );
    }
    const path = this.#confine(params.path);
    await mkdir(dirname(path), { recursive: true });
    let handle: FileHandle;
    try {
      handle = await open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw openFailure(path, err);
      // A new file: created here and now, never through a symlink made meanwhile.
      handle = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666).catch((e: unknown) => {
        throw openFailure(path, e);
      });
    }
    try {
      const st = await this.#checkOpened(handle, path);
      if (!st.isFile()) throw acp.RequestError.invalidParams(undefined, `${path} is not a regular file`);
      if (st.nlink > 1) {
        throw acp.RequestError.invalidParams(
          undefined,
          `${path} has another hard link (${st.nlink} names, some may lie outside the run's working directory): baton does not write through it`,
        );
      }
      await handle.truncate(0);
      await handle.writeFile(params.content);
    } finally {
      await handle.close();
    }
    return {};
  }

  #onUpdate(update: acp.SessionUpdate): void {
    this.#lastUpdate = Date.now();
    if (this.#replaying) return;
    const event = mapUpdate(update);
    if (event) this.#sink?.emit(event);
  }
}

/** Why a file the agent named could not be opened, as the ACP error it gets. */
function openFailure(path: string, err: unknown): acp.RequestError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP')
    return acp.RequestError.invalidParams(undefined, `${path} is a symlink now; try again`);
  // EISDIR: a folder; ENXIO: a FIFO without a reader (O_NONBLOCK); ENODEV and others: a device.
  if (code === 'EISDIR' || code === 'ENXIO' || code === 'ENODEV') {
    return acp.RequestError.invalidParams(undefined, `${path} is not a regular file`);
  }
  return acp.RequestError.invalidParams(undefined, `${path} cannot be opened (${code ?? String(err)})`);
}

/** The file's text, refused beyond {@link MAX_FILE_BYTES} (however much it grew since it was stat'ed). */
async function readBounded(handle: FileHandle, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > MAX_FILE_BYTES) {
      throw acp.RequestError.invalidParams(undefined, `${path} is larger than ${MAX_FILE_BYTES} bytes`);
    }
    chunks.push(buf.subarray(0, bytesRead));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The values a select config option offers (groups flattened); empty for other kinds. */
function optionValues(option: acp.SessionConfigOption): string[] {
  const raw = (option as { options?: unknown }).options;
  if (!Array.isArray(raw)) return [];
  const out: string[] = [];
  for (const o of raw as { value?: unknown; options?: { value?: unknown }[] }[]) {
    if (typeof o.value === 'string') out.push(o.value);
    for (const g of o.options ?? []) if (typeof g.value === 'string') out.push(g.value);
  }
  return out;
}

/** The model ids of the older unstable `models` field of a session response, if present. */
function modelsOf(res: unknown): string[] | undefined {
  const models = (res as { models?: { availableModels?: { modelId?: unknown }[] } } | null)?.models;
  if (!Array.isArray(models?.availableModels)) return undefined;
  return models.availableModels.map((m) => m.modelId).filter((id): id is string => typeof id === 'string');
}

/** Longest stdout line the usage salvage looks into (longer ones pass through untouched). */
const SALVAGE_MAX_LINE = 64 * 1024;

/**
 * HACK: claude-agent-acp (0.23.1) sends `usage_update` with `used: null` (it knows the cost and the
 * context size, not the tokens used). The ACP SDK rejects the whole notification as invalid params,
 * and the run would lose its cost. This pass-through takes such lines out of the stream and hands
 * them to `onUpdate` with `used` left out. Everything else passes unchanged (as UTF-8 text). Remove when the
 * adapter sends a number.
 */
export function salvageUsage(onUpdate: (update: acp.SessionUpdate) => void): Transform {
  // Decoded across chunks: a character split between two pipe reads stays whole.
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = partial + decoder.write(chunk);
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      let tail = '';
      if (partial.length > SALVAGE_MAX_LINE) {
        // Too long to hold back: pass its start on now (the rest follows as it comes).
        tail = partial;
        partial = '';
      }
      const kept = lines.filter((line) => {
        if (line.length > SALVAGE_MAX_LINE || !line.includes('"usage_update"')) return true;
        try {
          const msg = JSON.parse(line) as { method?: string; params?: { update?: Record<string, unknown> } };
          const update = msg.params?.update;
          if (msg.method !== 'session/update' || update?.sessionUpdate !== 'usage_update') return true;
          if (typeof update.used === 'number') return true;
          onUpdate(update as unknown as acp.SessionUpdate);
          return false;
        } catch {
          return true;
        }
      });
      done(null, (kept.length > 0 ? `${kept.join('\n')}\n` : '') + tail);
    },
    flush(done) {
      done(null, partial + decoder.end());
    },
  });
}

/**
 * HACK: gemini-cli (0.61.0) reports a turn's tokens not in the prompt response's `usage` but in
 * `_meta.quota.token_count` ({input_tokens, output_tokens}). Read it when `usage` is absent; remove
 * once gemini-cli fills the standard field.
 */
function quotaUsage(meta: Record<string, unknown> | null | undefined): Usage | undefined {
  const quota = meta?.quota as
    { token_count?: { input_tokens?: unknown; output_tokens?: unknown } } | undefined;
  const input = quota?.token_count?.input_tokens;
  const output = quota?.token_count?.output_tokens;
  if (typeof input !== 'number' || typeof output !== 'number') return undefined;
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}

function textOf(block: acp.ContentBlock): string | undefined {
  return block.type === 'text' ? block.text : undefined;
}

function mapUsage(update: {
  used: number | null;
  size: number | null;
  cost?: { amount: number; currency: string } | null;
}): Usage {
  const usage: Usage = {};
  if (typeof update.used === 'number') usage.context_used = update.used;
  if (typeof update.size === 'number') usage.context_size = update.size;
  if (update.cost && update.cost.currency.toUpperCase() === 'USD') usage.cost_usd = update.cost.amount;
  return usage;
}

function toolCallData(
  tc: Omit<acp.ToolCallUpdate, 'toolCallId'> & { toolCallId: string },
): Record<string, unknown> {
  const data: Record<string, unknown> = { tool_call_id: tc.toolCallId };
  if (tc.title != null) data.title = tc.title;
  if (tc.kind != null) data.kind = tc.kind;
  if (tc.status != null) data.status = tc.status;
  if (tc.locations?.length) data.locations = tc.locations.map((l) => l.path);
  if (tc.rawInput !== undefined) data.raw_input = tc.rawInput;
  if (tc.rawOutput !== undefined) data.raw_output = tc.rawOutput;
  if (tc.content?.length) {
    data.content = tc.content.map((c) => {
      if (c.type === 'diff')
        return { type: 'diff', path: c.path, old_text: c.oldText ?? null, new_text: c.newText };
      if (c.type === 'terminal') return { type: 'terminal', terminal_id: c.terminalId };
      const text = textOf(c.content);
      return text !== undefined ? { type: 'text', text } : { type: 'content', content: c.content };
    });
  }
  return data;
}

/** Maps one `session/update` to a normalized event; unknown variants are kept as `raw`. */
export function mapUpdate(update: acp.SessionUpdate): DriverEvent | undefined {
  switch (update.sessionUpdate) {
    case 'agent_message_chunk': {
      const text = textOf(update.content);
      return text !== undefined
        ? { type: 'message_chunk', text }
        : { type: 'raw', data: { session_update: update.sessionUpdate, content: update.content } };
    }
    case 'agent_thought_chunk': {
      const text = textOf(update.content);
      return text !== undefined
        ? { type: 'thought_chunk', text }
        : { type: 'raw', data: { session_update: update.sessionUpdate, content: update.content } };
    }
    case 'user_message_chunk': {
      const text = textOf(update.content);
      return text !== undefined ? { type: 'user_chunk', text } : undefined;
    }
    case 'tool_call':
      return { type: 'tool_call', data: toolCallData(update) };
    case 'tool_call_update':
      return { type: 'tool_update', data: toolCallData(update) };
    case 'plan':
      return { type: 'plan', data: { entries: update.entries } };
    case 'usage_update':
      return { type: 'usage', usage: mapUsage(update) };
    case 'available_commands_update':
    case 'current_mode_update':
    case 'config_option_update':
    case 'session_info_update': {
      const { sessionUpdate, ...rest } = update as { sessionUpdate: string } & Record<string, unknown>;
      return { type: 'info', data: { session_update: sessionUpdate, ...rest } };
    }
    case 'notice':
    case 'compaction_update':
    case 'compaction_summary_chunk':
    case 'plan_update':
    case 'plan_removed':
    case 'subagent_update':
    case 'session_message':
    case 'session_message_chunk': {
      const { sessionUpdate, ...rest } = update as { sessionUpdate: string } & Record<string, unknown>;
      return { type: 'raw', data: { session_update: sessionUpdate, ...rest } };
    }
    default: {
      const unknownUpdate: never = update;
      return { type: 'raw', data: { session_update: 'unknown', update: unknownUpdate as unknown } };
    }
  }
}
