import { Readable, Writable } from 'node:stream';
import * as acp from '@agentclientprotocol/sdk/unstable';
import { BatonError } from '../../errors.js';
import { agentFailure, bounded } from '../agent-process.js';
import { settlesWithin, type ChildEnd, type ChildHandle } from '../../process/child.js';
import type { PermissionOption, PermissionOptionKind, ToolCallInfo } from '../../engine/types.js';
import type {
  AgentSession,
  OpenOptions,
  SessionCapabilities,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from '../driver.js';
import { contentBlocks } from './content.js';
import { CwdFiles } from './files.js';
import { missingFileReadsEmpty, quotaUsage, salvageUsage } from './quirks.js';
import { mapUpdate, modelsOf, optionValues } from './updates.js';

/** How long an agent may take to answer `initialize` and open its session. */
const START_TIMEOUT_MS = 60_000;
/** After a prompt response, updates that are still in flight are awaited until this long passes quietly. */
const SETTLE_QUIET_MS = 30;
const SETTLE_MAX_MS = 1000;

/** One ACP agent process and its session (see `AcpDriver` in index.ts). */
export class AcpSession implements AgentSession {
  agentSessionId = '';
  capabilities: SessionCapabilities = { load: false, resume: false };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly #child: ChildHandle;
  readonly #options: OpenOptions;
  readonly #conn: acp.ClientConnection;
  readonly #files: CwdFiles;
  #sink: TurnSink | undefined;
  readonly #exitWatchers = new Set<() => void>();
  #replaying = false;
  #lastUpdate = 0;
  /** The agent's name from `initialize` (`agentInfo.name`), for agent-specific workarounds. */
  #agentName: string | undefined;
  /** What the agent takes in a prompt besides text (`initialize`'s `promptCapabilities`). */
  #promptCaps: acp.PromptCapabilities | null | undefined;

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
    this.#files = new CwdFiles(options.cwd, options.excluded ?? []);
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
      .onRequest(acp.methods.client.fs.readTextFile, ({ params }) => {
        this.#filesServed();
        return this.#files.read(params, missingFileReadsEmpty(this.#agentName));
      })
      .onRequest(acp.methods.client.fs.writeTextFile, ({ params }) => {
        this.#filesServed();
        return this.#onWrite(params);
      })
      .onNotification(acp.methods.client.session.update, ({ params }) => this.#onUpdate(params.update));
    this.#conn = app.connect(stream);
  }

  /** True when the agent runs here and may be served the run's files (fs/*). */
  get #localFiles(): boolean {
    return this.#options.agent.runner?.local !== false;
  }

  /** Refuses fs/* from an agent that was not offered them (it runs on another machine). */
  #filesServed(): void {
    if (!this.#localFiles) {
      throw acp.RequestError.methodNotFound('fs (not offered: the agent runs on another machine)');
    }
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
        // An agent on another machine (its runner is not local) works on its own files: baton's are not offered.
        clientCapabilities: {
          fs: { readTextFile: this.#localFiles, writeTextFile: this.#localFiles },
          terminal: false,
        },
        clientInfo: { name: 'baton', version: '0.1.0' },
      }),
      'initialize',
    );
    this.#agentName = init.agentInfo?.name;
    this.#promptCaps = init.agentCapabilities?.promptCapabilities;
    this.capabilities = {
      load: init.agentCapabilities?.loadSession === true,
      resume: Boolean(init.agentCapabilities?.sessionCapabilities?.resume),
    };
    const cwd = this.#options.cwd;
    let configOptions: acp.SessionConfigOption[] | null | undefined;
    let legacyModels: string[] | undefined;
    const resumeId = this.#options.resumeSessionId;
    if (resumeId) {
      ({ configOptions, legacyModels } = await this.#reopen(resumeId));
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

  async prompt(text: string, sink: TurnSink, options: TurnOptions = {}): Promise<TurnOutcome> {
    this.#sink = sink;
    try {
      const res = await this.#raceExit(
        this.#conn.agent.request(acp.methods.agent.session.prompt, {
          sessionId: this.agentSessionId,
          // A multipart input goes as content blocks; the run's role rides along in _meta.
          prompt: options.parts ? contentBlocks(options.parts, this.#promptCaps) : [{ type: 'text', text }],
          ...(options.role ? { _meta: { baton: { role: options.role } } } : {}),
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

  /**
   * Reopens agent-side session `resumeId`: `session/load` (its replayed history is not recorded,
   * see #onUpdate) or `session/resume`, whichever the agent offers.
   */
  async #reopen(resumeId: string): Promise<{
    configOptions: acp.SessionConfigOption[] | null | undefined;
    legacyModels: string[] | undefined;
  }> {
    const agent = this.#conn.agent;
    const cwd = this.#options.cwd;
    try {
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
          return { configOptions: res?.configOptions, legacyModels: modelsOf(res) };
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
        return { configOptions: res.configOptions, legacyModels: modelsOf(res) };
      } else if (this.#options.resumeForeign) {
        throw new BatonError(
          'RESUME_NOT_SUPPORTED',
          `agent ${this.#options.agent.name} cannot resume session ${resumeId}: it offers neither session/load nor session/resume (initialize's agentCapabilities); start a new run without resume`,
        );
      } else {
        throw new BatonError(
          'SESSION_NOT_RESUMABLE',
          `agent ${this.#options.agent.name} cannot reopen session ${resumeId}: it supports neither session/load nor session/resume, and its process is gone; start a new run instead`,
        );
      }
    } catch (err) {
      // A session started outside baton that the agent does not know: its own answer, with the fix.
      if (this.#options.resumeForeign && err instanceof acp.RequestError) {
        throw new BatonError(
          'SESSION_NOT_RESUMABLE',
          `agent ${this.#options.agent.name} cannot reopen session ${resumeId}: ${err.message}; check the id, and pass the cwd the session was started in`,
          { cause: err, details: { stderr_tail: this.#child.stderrTail() } },
        );
      }
      throw err;
    }
  }

  #bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return bounded(this.#raceExit(p, what), {
      what,
      ms: START_TIMEOUT_MS,
      who: `agent ${this.#options.agent.name}`,
      stderrTail: () => this.#child.stderrTail(),
    });
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
    return this.#files.write(params);
  }

  #onUpdate(update: acp.SessionUpdate): void {
    this.#lastUpdate = Date.now();
    if (this.#replaying) return;
    const event = mapUpdate(update);
    if (event) this.#sink?.emit(event);
  }
}
