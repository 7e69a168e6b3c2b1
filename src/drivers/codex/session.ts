import type { Readable, Writable } from 'node:stream';
import { BatonError } from '../../errors.js';
import { agentFailure, errorText, startAgentProcess, withDeadline } from '../agent-process.js';
import { readLines } from '../../process/lines.js';
import { ChildHandle, settlesWithin, type ChildEnd } from '../../process/child.js';
import type { PermissionOption, PermissionPolicy, ToolCallInfo, Usage } from '../../engine/types.js';
import type {
  AgentSession,
  Driver,
  DriverEvent,
  OpenOptions,
  PermissionAnswer,
  PermissionAsk,
  SessionCapabilities,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from '../driver.js';

/** How long codex may take to answer `initialize` and open or resume its thread. */
const START_TIMEOUT_MS = 60_000;
/** How long `turn/start` and `turn/interrupt` may take to be acknowledged (the turn itself is unbounded). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Longest JSON-RPC line read from codex; a longer one is dropped (and a request it answered fails). */
const MAX_LINE_BYTES = 32 * 1024 * 1024;
/** After codex exits, how long its last stdout lines may take to be read. */
const DRAIN_MS = 1000;
/** After the turn ends, how long a closing codex gets to exit on stdin EOF before the kill ladder. */
const EOF_EXIT_MS = 500;

type Json = Record<string, unknown>;
type RpcId = number | string;

/** A JSON-RPC error answer from codex. */
class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

type PeerHandlers = {
  onRequest: (method: string, params: Json, id: RpcId) => Promise<unknown>;
  onNotification: (method: string, params: Json) => void;
  onDropped: (bytes: number) => void;
};

/**
 * JSON-RPC over JSONL as `codex app-server` speaks it: one JSON object a line, no `jsonrpc`
 * member, integer request ids. Lines are bounded by {@link MAX_LINE_BYTES}.
 */
class JsonLinePeer {
  readonly #out: Writable;
  readonly #handlers: PeerHandlers;
  readonly #pending = new Map<RpcId, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #nextId = 1;
  #closedWith: Error | undefined;

  constructor(input: Readable, output: Writable, handlers: PeerHandlers) {
    this.#out = output;
    this.#handlers = handlers;
    void readLines(input, MAX_LINE_BYTES, {
      onLine: (line) => this.#onLine(line),
      onOversize: (size, head) => this.#onOversize(size, head),
    });
    // A closed pipe after the child died is expected; the exit is reported through `exited`.
    output.on('error', () => undefined);
  }

  /** Sends a request and resolves with its result; rejects with an RpcError or when the peer closes. */
  request(method: string, params: unknown, onAnswer?: (result: unknown) => void): Promise<unknown> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      // `onAnswer` runs as the answer is read, before the lines after it (a promise would run later).
      this.#pending.set(id, {
        resolve: (v) => {
          onAnswer?.(v);
          resolve(v);
        },
        reject,
      });
      this.#write({ id, method, params });
    });
  }

  /** Sends a notification. */
  notify(method: string, params?: unknown): void {
    this.#write(params === undefined ? { method } : { method, params });
  }

  /** Fails every request in flight (the process is gone). */
  close(err: Error): void {
    this.#closedWith ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #write(message: Json): void {
    if (this.#closedWith || this.#out.destroyed || this.#out.writableEnded) return;
    this.#out.write(`${JSON.stringify(message)}\n`);
  }

  #onOversize(size: number, head: string): void {
    this.#handlers.onDropped(size);
    const id = /^\s*\{\s*"id"\s*:\s*(\d+)/.exec(head)?.[1];
    const pending = id !== undefined ? this.#pending.get(Number(id)) : undefined;
    if (pending && id !== undefined) {
      this.#pending.delete(Number(id));
      pending.reject(new RpcError(-32603, `codex's answer was larger than ${MAX_LINE_BYTES} bytes`));
    }
  }

  #onLine(raw: string): void {
    try {
      this.#handleLine(raw);
    } catch (err) {
      // A line of an unexpected shape is kept, never allowed to crash baton.
      this.#handlers.onNotification('baton/unreadable', { error: String(err), line: raw.slice(0, 2000) });
    }
  }

  #handleLine(raw: string): void {
    if (!raw.trim()) return;
    let msg: Json;
    try {
      msg = JSON.parse(raw) as Json;
    } catch {
      msg = undefined as unknown as Json;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      this.#handlers.onNotification('baton/unparsed', { line: raw.slice(0, 2000) });
      return;
    }
    const id = msg.id as RpcId | undefined;
    const method = typeof msg.method === 'string' ? msg.method : undefined;
    if (method !== undefined && id !== undefined) {
      this.#handlers.onRequest(method, asJson(msg.params), id).then(
        (result) => this.#write({ id, result }),
        (err: unknown) => {
          const e = err instanceof RpcError ? err : new RpcError(-32603, errorText(err));
          this.#write({ id, error: { code: e.code, message: e.message } });
        },
      );
    } else if (method !== undefined) {
      this.#handlers.onNotification(method, asJson(msg.params));
    } else if (id !== undefined) {
      const pending = this.#pending.get(id);
      if (!pending) return;
      this.#pending.delete(id);
      if (msg.error) {
        const e = asJson(msg.error);
        pending.reject(new RpcError(Number(e.code ?? -32603), String(e.message ?? 'error'), e.data));
      } else {
        pending.resolve(msg.result);
      }
    }
  }
}

/** Codex's approval policy and sandbox mode for one of baton's permission policies. */
export type CodexPolicy = {
  approvalPolicy: 'untrusted' | 'on-request';
  sandbox: 'read-only' | 'workspace-write';
};

/**
 * Maps a run's permission policy onto codex's own modes (see {@link CodexDriver}). Never
 * `danger-full-access` and never `never`: whatever codex wants beyond its sandbox reaches baton.
 */
export function codexPolicyFor(policy: PermissionPolicy): CodexPolicy {
  switch (policy) {
    case 'ask':
    case 'auto_edit':
      return { approvalPolicy: 'untrusted', sandbox: 'workspace-write' };
    case 'allow_all':
      return { approvalPolicy: 'on-request', sandbox: 'workspace-write' };
    case 'deny_all':
      return { approvalPolicy: 'untrusted', sandbox: 'read-only' };
    default: {
      const never: never = policy;
      return never;
    }
  }
}

/**
 * Drives the OpenAI Codex CLI natively through `codex app-server` (JSON-RPC over stdio JSONL,
 * protocol v2 of codex 0.169): `initialize` → `thread/start` (or `thread/resume` with the saved
 * thread id) → one `turn/start` per prompt, with `outputSchema` when the caller gave a JSON Schema.
 * One process keeps the thread across turns; `agentSessionId` is codex's thread id.
 *
 * Arguments: the agent's configured `args` are passed first; `app-server` is appended unless they
 * already contain it (so the catalog entry is just `command: codex`). The environment is
 * `{...process.env, ...agent.env}`: codex reads `CODEX_HOME` (default `~/.codex`) for its config,
 * auth and sessions; this driver never writes there itself.
 *
 * Policy mapping (codex `approvalPolicy` / `sandbox` at thread start):
 * - `ask`       → `untrusted` + `workspace-write`: codex asks before every command that is not on
 *                 its own read-only allow list (verified: even `echo` asks) and before every
 *                 `apply_patch`, so each write and command reaches baton as a permission request.
 * - `auto_edit` → the same; the engine then allows edits inside the cwd and asks for the rest.
 * - `allow_all` → `on-request` + `workspace-write`: codex acts inside the workspace sandbox
 *                 without asking; escalations beyond it still come to baton (which allows them).
 * - `deny_all`  → `untrusted` + `read-only`: nothing can be written even if a request were allowed,
 *                 and every attempt is still reported (and denied by the engine).
 *
 * Approval requests (`item/commandExecution/requestApproval`, `item/fileChange/requestApproval`,
 * `item/permissions/requestApproval`, `mcpServer/elicitation/request`) become permission requests
 * with the options `accept` (allow_once, "Allow"), `acceptForSession` (allow_always, "Allow for
 * this session") and `decline` (reject_once, "Deny"); a cancelled request answers `cancel`.
 */
export class CodexDriver implements Driver {
  readonly name = 'codex';
  readonly nativeStructuredOutput = true;
  readonly policyInProcess = true;

  async open(options: OpenOptions): Promise<AgentSession> {
    const args = options.agent.args.includes('app-server')
      ? options.agent.args
      : [...options.agent.args, 'app-server'];
    return startAgentProcess(options, args, (child) => new CodexSession(child, options));
  }
}

/** The running turn. */
type TurnState = {
  id: string | undefined;
  sink: TurnSink;
  outputSchema: Record<string, unknown> | undefined;
  resolve: (outcome: TurnOutcome) => void;
  reject: (err: unknown) => void;
  /** Items whose text arrived as deltas (their completed text is not emitted again). */
  streamed: Set<string>;
  lastMessage: string | undefined;
  usage: Usage;
  error: string | undefined;
  interruptWanted: boolean;
  /** Server requests (approvals) in flight, aborted when the turn ends. */
  asks: Set<AbortController>;
};

class CodexSession implements AgentSession {
  agentSessionId = '';
  readonly capabilities: SessionCapabilities = { load: false, resume: true };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly #child: ChildHandle;
  readonly #options: OpenOptions;
  readonly #peer: JsonLinePeer;
  #turn: TurnState | undefined;
  /** File changes announced by `item/started`, by item id: a file-change approval names only the item. */
  readonly #changes = new Map<string, Json[]>();
  /** Open approval requests by JSON-RPC id, so `serverRequest/resolved` can withdraw them. */
  readonly #asks = new Map<string, AbortController>();
  /** The thread's cumulative token total last seen, across turns. */
  #threadTotal: number | undefined;

  constructor(child: ChildHandle, options: OpenOptions) {
    this.#child = child;
    this.#options = options;
    this.exited = child.exited.then((end) => ({ end, stderrTail: child.stderrTail() }));
    let stdoutClosed!: () => void;
    const drained = new Promise<void>((r) => (stdoutClosed = r));
    child.stdout.once('close', () => stdoutClosed());
    this.#peer = new JsonLinePeer(child.stdout, child.stdin, {
      onRequest: (method, params, id) => this.#onRequest(method, params, id),
      onNotification: (method, params) => this.#onNotification(method, params),
      onDropped: (bytes) =>
        this.#emit({ type: 'raw', data: { codex: 'dropped_line', bytes, limit: MAX_LINE_BYTES } }),
    });
    void child.exited.then(async () => {
      // Read what it wrote before dying (a turn/completed, say) before calling it a crash.
      await settlesWithin(drained, DRAIN_MS);
      const err = this.explain(new Error('the codex process exited'), 'during the turn');
      this.#peer.close(err);
      this.#endTurn(undefined, err);
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  get pidStart(): string | undefined {
    return this.#child.startTime;
  }

  /** initialize / initialized, then thread/start or thread/resume. */
  async start(): Promise<void> {
    await this.#bounded(
      this.#peer.request('initialize', {
        clientInfo: { name: 'baton', title: 'baton', version: '0.1.0' },
        capabilities: { experimentalApi: false, requestAttestation: false },
      }),
      'initialize',
      START_TIMEOUT_MS,
    );
    this.#peer.notify('initialized');
    const { approvalPolicy, sandbox } = codexPolicyFor(this.#options.policy);
    const common: Json = { cwd: this.#options.cwd, approvalPolicy, sandbox };
    if (this.#options.model) common.model = this.#options.model;
    const resumeId = this.#options.resumeSessionId;
    let res: Json;
    if (resumeId) {
      try {
        res = asJson(
          await this.#bounded(
            this.#peer.request('thread/resume', { threadId: resumeId, excludeTurns: true, ...common }),
            'thread/resume',
            START_TIMEOUT_MS,
          ),
        );
      } catch (err) {
        if (err instanceof RpcError) {
          throw new BatonError(
            'SESSION_NOT_RESUMABLE',
            `codex cannot resume thread ${resumeId}: ${err.message}; its rollout may have been deleted from CODEX_HOME/sessions, start a new run instead`,
            { cause: err, details: { stderr_tail: this.#child.stderrTail() } },
          );
        }
        throw err;
      }
    } else {
      res = asJson(
        await this.#bounded(this.#peer.request('thread/start', common), 'thread/start', START_TIMEOUT_MS),
      );
    }
    const id = asJson(res.thread).id;
    if (typeof id !== 'string' || !id) {
      throw new BatonError('AGENT_PROTOCOL_ERROR', 'codex answered thread/start without a thread id', {
        details: { stderr_tail: this.#child.stderrTail() },
      });
    }
    this.agentSessionId = id;
    if (this.#options.model && typeof res.model === 'string' && res.model !== this.#options.model) {
      this.notes.push(`codex uses model "${res.model}" instead of "${this.#options.model}"`);
    }
  }

  prompt(text: string, sink: TurnSink, options: TurnOptions = {}): Promise<TurnOutcome> {
    if (this.#turn) {
      return Promise.reject(new BatonError('AGENT_ERROR', 'codex is already running a turn in this session'));
    }
    if (this.#child.end) {
      return Promise.reject(this.explain(new Error('the codex process exited'), 'before the turn'));
    }
    return new Promise<TurnOutcome>((resolve, reject) => {
      const turn: TurnState = {
        id: undefined,
        sink,
        outputSchema: options.outputSchema,
        resolve,
        reject,
        streamed: new Set(),
        lastMessage: undefined,
        usage: {},
        error: undefined,
        interruptWanted: false,
        asks: new Set(),
      };
      this.#turn = turn;
      const params: Json = {
        threadId: this.agentSessionId,
        input: [{ type: 'text', text, text_elements: [] }],
      };
      if (options.outputSchema) params.outputSchema = options.outputSchema;
      // The turn's id is taken as the answer is read: notifications of the turn may follow it in the
      // same chunk of output, before a promise callback would run.
      const started = this.#peer.request('turn/start', params, (res) => {
        const id = asJson(asJson(res).turn).id;
        if (typeof id === 'string' && turn.id === undefined) turn.id = id;
      });
      this.#bounded(started, 'turn/start', REQUEST_TIMEOUT_MS).then(
        () => {
          if (turn.interruptWanted) void this.cancel();
        },
        (err: unknown) => this.#endTurn(turn, this.explain(err, 'starting the turn')),
      );
    });
  }

  async cancel(): Promise<void> {
    const turn = this.#turn;
    if (!turn || this.#child.end) return;
    if (!turn.id) {
      // turn/start has not been answered yet: interrupt as soon as the turn has an id.
      turn.interruptWanted = true;
      return;
    }
    try {
      await this.#bounded(
        this.#peer.request('turn/interrupt', { threadId: this.agentSessionId, turnId: turn.id }),
        'turn/interrupt',
        REQUEST_TIMEOUT_MS,
      );
    } catch {
      // "no active turn to interrupt": it ended on its own meanwhile; the ladder goes on regardless.
    }
  }

  async close(graceMs = 2000): Promise<ChildEnd> {
    if (this.#child.end) return this.#child.end;
    // codex app-server exits on stdin EOF; SIGTERM starts its 45 s shutdown deadline instead.
    this.#child.stdin.end();
    if (graceMs > 0 && (await settlesWithin(this.#child.exited, Math.min(EOF_EXIT_MS, graceMs)))) {
      return this.#child.exited;
    }
    return this.#child.stop(graceMs);
  }

  /** Turns anything thrown into a BatonError carrying the stderr tail. */
  explain(err: unknown, when: string): BatonError {
    return agentFailure(err, when, `agent ${this.#options.agent.name} (codex app-server)`, this.#child);
  }

  #bounded<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
    return withDeadline(
      p,
      ms,
      () =>
        new BatonError(
          'AGENT_ERROR',
          `agent ${this.#options.agent.name} (codex app-server) did not answer ${what} within ${ms / 1000}s`,
          { details: { stderr_tail: this.#child.stderrTail() } },
        ),
    );
  }

  #emit(event: DriverEvent): void {
    this.#turn?.sink.emit(event);
  }

  /** Settles the turn (once): with an outcome, or rejected with `err`. */
  #endTurn(turn: TurnState | undefined, err?: unknown, outcome?: TurnOutcome): void {
    const t = turn ?? this.#turn;
    if (!t || this.#turn !== t) return;
    this.#turn = undefined;
    for (const ask of t.asks) ask.abort();
    t.asks.clear();
    this.#changes.clear();
    if (err !== undefined || !outcome) t.reject(err ?? new Error('turn ended without an outcome'));
    else t.resolve(outcome);
  }

  /** True when a notification belongs to this session's running turn (or its thread). */
  #forTurn(params: Json): TurnState | undefined {
    const turn = this.#turn;
    if (!turn) return undefined;
    if (typeof params.threadId === 'string' && params.threadId !== this.agentSessionId) return undefined;
    const turnId = typeof params.turnId === 'string' ? params.turnId : undefined;
    // The turn's id comes only from turn/start's answer or turn/started: after thread/resume codex
    // reports the restored turn (its token usage, say) under the old id before ours has begun.
    if (turnId && turnId !== turn.id) return undefined;
    return turn;
  }

  #onNotification(method: string, params: Json): void {
    switch (method) {
      case 'item/agentMessage/delta': {
        const turn = this.#forTurn(params);
        if (!turn || typeof params.delta !== 'string') return;
        turn.streamed.add(String(params.itemId));
        turn.sink.emit({ type: 'message_chunk', text: params.delta });
        return;
      }
      case 'item/reasoning/summaryTextDelta':
      case 'item/reasoning/textDelta': {
        const turn = this.#forTurn(params);
        if (!turn || typeof params.delta !== 'string') return;
        turn.streamed.add(String(params.itemId));
        turn.sink.emit({ type: 'thought_chunk', text: params.delta });
        return;
      }
      case 'item/started':
      case 'item/completed': {
        const turn = this.#forTurn(params);
        const item = asJson(params.item);
        // Remember proposed file changes even before a turn id is known: the approval names only the item.
        if (item.type === 'fileChange' && typeof item.id === 'string' && Array.isArray(item.changes)) {
          this.#changes.set(item.id, item.changes.map(asJson));
        }
        if (!turn) return;
        if (method === 'item/completed' && item.type === 'agentMessage' && typeof item.text === 'string') {
          turn.lastMessage = item.text;
        }
        for (const event of mapItem(
          item,
          method === 'item/started' ? 'started' : 'completed',
          turn.streamed,
        )) {
          turn.sink.emit(event);
        }
        return;
      }
      case 'turn/plan/updated': {
        const turn = this.#forTurn(params);
        if (!turn) return;
        const plan = Array.isArray(params.plan) ? params.plan.map(asJson) : [];
        turn.sink.emit({
          type: 'plan',
          data: {
            entries: plan.map((s) => ({
              content: String(s.step ?? ''),
              status: s.status === 'inProgress' ? 'in_progress' : String(s.status ?? 'pending'),
              priority: 'medium',
            })),
            ...(typeof params.explanation === 'string' ? { explanation: params.explanation } : {}),
          },
        });
        return;
      }
      case 'thread/tokenUsage/updated':
        this.#onUsage(params);
        return;
      case 'error': {
        const turn = this.#forTurn(params);
        const error = asJson(params.error);
        const message = turnErrorText(error);
        if (turn && params.willRetry !== true) turn.error = message;
        turn?.sink.emit({
          type: 'raw',
          data: { codex: 'error', message, will_retry: params.willRetry === true },
        });
        return;
      }
      case 'turn/completed':
        this.#onTurnCompleted(params);
        return;
      case 'turn/started': {
        const turn = this.#turn;
        const id = asJson(params.turn).id;
        const thread = params.threadId;
        if (
          turn &&
          !turn.id &&
          typeof id === 'string' &&
          (thread === undefined || thread === this.agentSessionId)
        )
          turn.id = id;
        return;
      }
      case 'serverRequest/resolved': {
        // codex withdrew an approval it had asked for (e.g. the turn was interrupted).
        const ask = this.#asks.get(String(params.requestId));
        ask?.abort();
        return;
      }
      case 'configWarning':
      case 'warning':
      case 'deprecationNotice': {
        const text = String(params.summary ?? params.message ?? JSON.stringify(params)).slice(0, 2000);
        if (this.#turn) this.#emit({ type: 'raw', data: { codex: method, message: text } });
        else if (this.notes.length < 20) this.notes.push(`codex ${method}: ${text}`);
        return;
      }
      // Known and of no interest to a run: status flips, echoes of our own requests, account state,
      // streamed command output (the completed item carries it all), repeated whole-turn diffs.
      case 'thread/started':
      case 'thread/status/changed':
      case 'turn/diff/updated':
      case 'item/commandExecution/outputDelta':
      case 'item/fileChange/outputDelta':
      case 'item/fileChange/patchUpdated':
      case 'item/reasoning/summaryPartAdded':
      case 'account/rateLimits/updated':
      case 'account/updated':
      case 'remoteControl/status/changed':
      case 'mcpServer/startupStatus/updated':
      case 'thread/settings/updated':
      case 'skills/changed':
        return;
      default: {
        const turn = this.#forTurn(params);
        turn?.sink.emit({ type: 'raw', data: { codex: method, params } });
      }
    }
  }

  /**
   * `thread/tokenUsage/updated` carries the thread's running total and the last model call's
   * figures. A turn's usage is the sum of the calls whose total moved during the turn.
   */
  #onUsage(params: Json): void {
    const usage = asJson(params.tokenUsage);
    const total = asJson(usage.total);
    const last = asJson(usage.last);
    const totalTokens = num(total.totalTokens);
    const previous = this.#threadTotal;
    this.#threadTotal = totalTokens;
    const turn = this.#forTurn(params);
    if (!turn || totalTokens === undefined || totalTokens === previous) return;
    const u = turn.usage;
    const add = (key: keyof Usage, value: unknown) => {
      const n = num(value);
      if (n !== undefined) u[key] = (u[key] ?? 0) + n;
    };
    add('input_tokens', last.inputTokens);
    add('output_tokens', last.outputTokens);
    add('total_tokens', last.totalTokens);
    add('cached_read_tokens', last.cachedInputTokens);
    add('thought_tokens', last.reasoningOutputTokens);
    const used = num(last.totalTokens);
    if (used !== undefined) u.context_used = used;
    const size = num(usage.modelContextWindow);
    if (size !== undefined) u.context_size = size;
    turn.sink.emit({ type: 'usage', usage: { ...u } });
  }

  #onTurnCompleted(params: Json): void {
    const turn = this.#forTurn(params);
    if (!turn) return;
    const t = asJson(params.turn);
    if (typeof t.id === 'string' && t.id !== turn.id) return; // another (an earlier) turn
    const status = t.status;
    if (status === 'failed') {
      const message = t.error ? turnErrorText(asJson(t.error)) : (turn.error ?? 'the turn failed');
      this.#endTurn(
        turn,
        new BatonError('AGENT_ERROR', `codex failed the turn: ${message}`, {
          details: {
            stderr_tail: this.#child.stderrTail(),
            ...(t.error ? { codex_error: asJson(t.error).codexErrorInfo ?? null } : {}),
          },
        }),
      );
      return;
    }
    const outcome: TurnOutcome = { stop_reason: status === 'interrupted' ? 'cancelled' : 'end_turn' };
    if (Object.keys(turn.usage).length > 0) outcome.usage = { ...turn.usage };
    if (turn.outputSchema && status === 'completed' && turn.lastMessage !== undefined) {
      try {
        outcome.structured = JSON.parse(turn.lastMessage);
      } catch {
        // Not JSON: the engine validates the text and reports why it does not match.
      }
    }
    this.#endTurn(turn, undefined, outcome);
  }

  // ------------------------------------------------------------------ requests from codex

  async #onRequest(method: string, params: Json, id: RpcId): Promise<unknown> {
    switch (method) {
      case 'item/commandExecution/requestApproval':
        return { decision: await this.#askDecision(id, commandAsk(params)) };
      case 'item/fileChange/requestApproval':
        return {
          decision: await this.#askDecision(id, this.#fileChangeAsk(params)),
        };
      case 'item/permissions/requestApproval':
        return this.#onPermissionsRequest(id, params);
      case 'mcpServer/elicitation/request':
        return this.#onElicitation(id, params);
      case 'item/tool/requestUserInput': {
        // HACK: codex's `request_user_input` tool (experimental) asks the person free-form questions;
        // baton's sink has no input requests yet. We answer with no answers, which codex reports to
        // the model as unanswered, and record the questions. Remove once the engine has input requests.
        this.#emit({ type: 'raw', data: { codex: method, questions: params.questions ?? null } });
        return { answers: {} };
      }
      case 'execCommandApproval':
      case 'applyPatchApproval': {
        // Protocol v1 approvals (only sent to v1 clients); answered the same way, in v1 words.
        const ask =
          method === 'execCommandApproval'
            ? commandAsk({
                itemId: params.callId,
                command: Array.isArray(params.command) ? params.command.join(' ') : params.command,
                cwd: params.cwd,
                reason: params.reason,
              })
            : fileAsk(
                String(params.callId ?? id),
                Object.entries(asJson(params.fileChanges)).map(([path, c]) => ({ path, kind: asJson(c) })),
                params,
              );
        const decision = await this.#askDecision(id, ask);
        const v1: Record<string, unknown> = {
          accept: 'approved',
          acceptForSession: 'approved_for_session',
          decline: { denied: { rejection: 'denied by the baton caller' } },
          cancel: 'abort',
        };
        return { decision: v1[decision] };
      }
      default:
        // Auth refresh, attestation, dynamic tools: nothing baton offers.
        throw new RpcError(-32601, `baton does not handle ${method}`);
    }
  }

  #fileChangeAsk(params: Json): PermissionAsk {
    const itemId = String(params.itemId ?? '');
    return fileAsk(itemId, this.#changes.get(itemId) ?? [], params);
  }

  /** Asks the engine and returns codex's v2 decision word. */
  async #askDecision(
    id: RpcId,
    ask: PermissionAsk,
  ): Promise<'accept' | 'acceptForSession' | 'decline' | 'cancel'> {
    const answer = await this.#ask(id, ask);
    if (answer.outcome !== 'selected') return 'cancel';
    if (answer.option_id === 'accept' || answer.option_id === 'acceptForSession') return answer.option_id;
    return 'decline';
  }

  /** Routes one approval to the running turn's sink; without a turn it is cancelled. */
  async #ask(id: RpcId, ask: PermissionAsk): Promise<PermissionAnswer> {
    const turn = this.#turn;
    if (!turn) return { outcome: 'cancelled' };
    const controller = new AbortController();
    const key = String(id);
    turn.asks.add(controller);
    this.#asks.set(key, controller);
    try {
      return await turn.sink.requestPermission(ask, controller.signal);
    } finally {
      turn.asks.delete(controller);
      this.#asks.delete(key);
    }
  }

  async #onPermissionsRequest(id: RpcId, params: Json): Promise<unknown> {
    const requested = asJson(params.permissions);
    const granted: Json = {};
    for (const [k, v] of Object.entries(requested)) if (v != null) granted[k] = v;
    const toolCall: ToolCallInfo = {
      tool_call_id: String(params.itemId ?? id),
      kind: 'other',
      title:
        typeof params.reason === 'string' && params.reason ? params.reason : 'Grant additional permissions',
      raw_input: { permissions: requested, cwd: params.cwd ?? null },
    };
    const answer = await this.#ask(id, {
      title: `codex asks for more permissions: ${toolCall.title}`,
      tool_call: toolCall,
      options: DECISION_OPTIONS,
    });
    if (answer.outcome === 'selected' && answer.option_id === 'accept')
      return { permissions: granted, scope: 'turn' };
    if (answer.outcome === 'selected' && answer.option_id === 'acceptForSession') {
      return { permissions: granted, scope: 'session' };
    }
    return { permissions: {}, scope: 'turn' };
  }

  async #onElicitation(id: RpcId, params: Json): Promise<unknown> {
    const server = String(params.serverName ?? 'mcp');
    const message = String(params.message ?? 'An MCP server asks for confirmation');
    const toolCall: ToolCallInfo = {
      tool_call_id: `elicitation-${String(id)}`,
      kind: 'other',
      title: `${server}: ${message}`,
      raw_input: {
        server,
        mode: params.mode ?? null,
        message,
        ...(params.requestedSchema !== undefined ? { requested_schema: params.requestedSchema } : {}),
        ...(params.url !== undefined ? { url: params.url } : {}),
        ...(params._meta != null ? { meta: params._meta } : {}),
      },
    };
    const answer = await this.#ask(id, {
      title: toolCall.title ?? message,
      tool_call: toolCall,
      options: ELICITATION_OPTIONS,
    });
    if (answer.outcome !== 'selected') return { action: 'cancel', content: null, _meta: null };
    // HACK: baton has no form answers yet; an accepted form is sent back with empty content, which
    // is what codex's own MCP tool-call approvals expect (an object schema with no properties).
    if (answer.option_id === 'accept') return { action: 'accept', content: {}, _meta: null };
    return { action: 'decline', content: null, _meta: null };
  }
}

/** The options of every approval codex asks for; the ids are codex's own decision words. */
const DECISION_OPTIONS: PermissionOption[] = [
  { option_id: 'accept', name: 'Allow', kind: 'allow_once' },
  { option_id: 'acceptForSession', name: 'Allow for this session', kind: 'allow_always' },
  { option_id: 'decline', name: 'Deny', kind: 'reject_once' },
];

const ELICITATION_OPTIONS: PermissionOption[] = [
  { option_id: 'accept', name: 'Allow', kind: 'allow_once' },
  { option_id: 'decline', name: 'Deny', kind: 'reject_once' },
];

function commandAsk(params: Json): PermissionAsk {
  const command = String(params.command ?? '');
  const title = commandTitle(command, params.commandActions);
  const raw: Json = { command, cwd: params.cwd ?? null };
  if (typeof params.reason === 'string' && params.reason) raw.reason = params.reason;
  if (typeof params.kind === 'string') raw.approval_kind = params.kind;
  if (params.networkApprovalContext != null) raw.network = params.networkApprovalContext;
  const toolCall: ToolCallInfo = {
    tool_call_id: String(params.itemId ?? params.approvalId ?? ''),
    kind: 'execute',
    title,
    raw_input: raw,
  };
  return {
    title: `Run ${title}${typeof params.reason === 'string' && params.reason ? ` (${params.reason})` : ''}`,
    tool_call: toolCall,
    options: DECISION_OPTIONS,
  };
}

function fileAsk(itemId: string, changes: Json[], params: Json): PermissionAsk {
  const paths = changes.map((c) => String(c.path ?? '')).filter(Boolean);
  const locations = [...paths];
  if (typeof params.grantRoot === 'string' && params.grantRoot) locations.push(params.grantRoot);
  const title = paths.length > 0 ? `Edit ${paths.join(', ')}` : 'Edit files';
  const raw: Json = { changes: changes.map((c) => ({ path: c.path, kind: asJson(c.kind).type ?? c.kind })) };
  if (typeof params.reason === 'string' && params.reason) raw.reason = params.reason;
  if (typeof params.grantRoot === 'string' && params.grantRoot) raw.grant_root = params.grantRoot;
  return {
    title,
    tool_call: { tool_call_id: itemId, kind: 'edit', title, locations, raw_input: raw },
    options: DECISION_OPTIONS,
  };
}

/** `cmd1 && cmd2` from codex's parsed actions, else the command line itself. */
function commandTitle(command: string, actions: unknown): string {
  if (Array.isArray(actions) && actions.length > 0) {
    const parts = actions.map((a) => asJson(a).command).filter((c): c is string => typeof c === 'string');
    if (parts.length === actions.length) return parts.join(' && ');
  }
  return command;
}

const TOOL_STATUS: Record<string, string> = {
  inProgress: 'in_progress',
  completed: 'completed',
  failed: 'failed',
  declined: 'failed',
};

function diffContent(change: Json): Json {
  const kind = asJson(change.kind);
  const diff = String(change.diff ?? '');
  switch (kind.type) {
    case 'add':
      return { type: 'diff', path: change.path, old_text: null, new_text: diff };
    case 'delete':
      return { type: 'diff', path: change.path, old_text: diff, new_text: '' };
    default:
      return {
        type: 'diff',
        path: change.path,
        unified_diff: diff,
        ...(typeof kind.move_path === 'string' ? { move_path: kind.move_path } : {}),
      };
  }
}

/**
 * Maps one codex thread item (v2 `ThreadItem`) at its start or completion to normalized events.
 * Messages and reasoning stream as deltas; their completed text is only emitted when no delta came.
 * Unknown item types are kept as `raw`.
 */
function mapItem(item: Json, phase: 'started' | 'completed', streamed: Set<string>): DriverEvent[] {
  const id = String(item.id ?? '');
  const type = String(item.type ?? 'unknown');
  const toolEvent = phase === 'started' ? 'tool_call' : 'tool_update';
  const status = TOOL_STATUS[String(item.status)] ?? (phase === 'started' ? 'in_progress' : 'completed');
  switch (type) {
    case 'userMessage':
    case 'hookPrompt':
      return []; // our own prompt, recorded by the engine
    case 'agentMessage':
      if (phase === 'completed' && !streamed.has(id) && typeof item.text === 'string' && item.text) {
        return [{ type: 'message_chunk', text: item.text }];
      }
      return [];
    case 'reasoning': {
      if (phase !== 'completed' || streamed.has(id)) return [];
      const parts = [...asArray(item.summary), ...asArray(item.content)].filter(
        (s): s is string => typeof s === 'string' && s.length > 0,
      );
      return parts.length > 0 ? [{ type: 'thought_chunk', text: parts.join('\n') }] : [];
    }
    case 'commandExecution': {
      const command = String(item.command ?? '');
      const data: Json = { tool_call_id: id, kind: 'execute', status };
      if (phase === 'started') {
        data.title = commandTitle(command, item.commandActions);
        data.raw_input = { command, cwd: item.cwd ?? null };
      } else {
        data.raw_output = {
          exit_code: item.exitCode ?? null,
          duration_ms: item.durationMs ?? null,
          ...(item.status === 'declined' ? { declined: true } : {}),
        };
        if (typeof item.aggregatedOutput === 'string' && item.aggregatedOutput) {
          data.content = [{ type: 'text', text: item.aggregatedOutput }];
        }
      }
      return [{ type: toolEvent, data }];
    }
    case 'fileChange': {
      const changes = asArray(item.changes).map(asJson);
      const paths = changes.map((c) => String(c.path ?? '')).filter(Boolean);
      const data: Json = { tool_call_id: id, kind: 'edit', status, locations: paths };
      if (phase === 'started') data.title = paths.length > 0 ? `Edit ${paths.join(', ')}` : 'Edit files';
      if (changes.length > 0) data.content = changes.map(diffContent);
      if (phase === 'completed' && item.status === 'declined') data.raw_output = { declined: true };
      return [{ type: toolEvent, data }];
    }
    case 'mcpToolCall':
    case 'dynamicToolCall': {
      const data: Json = { tool_call_id: id, kind: 'other', status };
      if (phase === 'started') {
        data.title =
          type === 'mcpToolCall' ? `${String(item.server)}.${String(item.tool)}` : String(item.tool);
        data.raw_input = item.arguments ?? null;
      } else {
        data.raw_output = {
          result: item.result ?? item.contentItems ?? null,
          error: item.error ?? null,
          ...(item.success != null ? { success: item.success } : {}),
        };
      }
      return [{ type: toolEvent, data }];
    }
    case 'webSearch':
    case 'imageView': {
      const data: Json = { tool_call_id: id, kind: type === 'webSearch' ? 'fetch' : 'read', status };
      if (phase === 'started') {
        data.title =
          type === 'webSearch' ? `Search ${String(item.query ?? '')}` : `View ${String(item.path ?? '')}`;
        data.raw_input = item;
      }
      return [{ type: toolEvent, data }];
    }
    default:
      return phase === 'completed' ? [{ type: 'raw', data: { codex: `item/${type}`, item } }] : [];
  }
}

function turnErrorText(error: Json): string {
  const message = typeof error.message === 'string' ? error.message : JSON.stringify(error);
  const more =
    typeof error.additionalDetails === 'string' && error.additionalDetails
      ? ` (${error.additionalDetails})`
      : '';
  return `${message}${more}`;
}

function asJson(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
