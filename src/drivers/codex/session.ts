import { BatonError } from '../../errors.js';
import { agentFailure, bounded } from '../agent-process.js';
import { ChildHandle, settlesWithin, type ChildEnd } from '../../process/child.js';
import type { Usage } from '../../engine/types.js';
import type {
  AgentSession,
  DriverEvent,
  OpenOptions,
  PermissionAnswer,
  PermissionAsk,
  SessionCapabilities,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from '../driver.js';
import { answerServerRequest, type ApprovalHost } from './approvals.js';
import { mapItem, num, turnErrorText } from './items.js';
import { JsonLinePeer, RpcError, asJson, type Json, type RpcId } from './peer.js';
import { codexPolicyFor } from './policy.js';

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

/** One `codex app-server` process and its thread (see `CodexDriver` in index.ts). */
export class CodexSession implements AgentSession {
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
    const host: ApprovalHost = {
      ask: (id, ask) => this.#ask(id, ask),
      changesOf: (itemId) => this.#changes.get(itemId) ?? [],
      emit: (event) => this.#emit(event),
    };
    this.#peer = new JsonLinePeer(child.stdout, child.stdin, MAX_LINE_BYTES, {
      onRequest: (method, params, id) => answerServerRequest(host, method, params, id),
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

  get #who(): string {
    return `agent ${this.#options.agent.name} (codex app-server)`;
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
            this.#options.resumeForeign
              ? `codex cannot resume thread ${resumeId}: ${err.message}; check the id (codex resume lists them; the rollouts are in CODEX_HOME/sessions) and that the agent's CODEX_HOME is the one the thread was started with`
              : `codex cannot resume thread ${resumeId}: ${err.message}; its rollout may have been deleted from CODEX_HOME/sessions, start a new run instead`,
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
    return agentFailure(err, when, this.#who, this.#child);
  }

  #bounded<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
    return bounded(p, { what, ms, who: this.#who, stderrTail: () => this.#child.stderrTail() });
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
}
