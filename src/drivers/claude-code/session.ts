import { randomUUID } from 'node:crypto';
import { BatonError, type ErrorCode } from '../../errors.js';
import { PendingRequests, readJsonLines } from '../../process/jsonl.js';
import { agentFailure, bounded, spawnAgentProcess } from '../agent-process.js';
import { settlesWithin, type ChildEnd, type ChildHandle } from '../../process/child.js';
import {
  toolCallEvent,
  type AgentSession,
  type DriverEvent,
  type OpenOptions,
  type SessionCapabilities,
  type TurnOptions,
  type TurnOutcome,
  type TurnSink,
} from '../driver.js';
import {
  describeTool,
  diffOf,
  lastLine,
  resultText,
  toolPermission,
  toolPermissionResponse,
} from './tools.js';
import {
  LINE_TYPES,
  turnUsage,
  type AssistantLine,
  type ClaudeLine,
  type ControlRequestLine,
  type ControlResponseLine,
  type ResultLine,
  type SystemLine,
  type UserLine,
} from './wire.js';

/** How long claude may take to answer `initialize` (its start-up). */
const START_TIMEOUT_MS = 60_000;
/** Longest stdout line kept; claude's lines carry whole messages and tool results. */
const MAX_LINE_BYTES = 32 * 1024 * 1024;
/** After the process exits, how long its last stdout lines may take to be read. */
const DRAIN_MS = 1000;

/** The turn in progress. */
type Turn = {
  sink: TurnSink;
  resolve: (outcome: TurnOutcome) => void;
  reject: (err: BatonError) => void;
  /** `cancel()` sent an interrupt: the turn ends as `cancelled`, whatever the result says. */
  interrupted: boolean;
  /** Whether any assistant text was emitted (else the result text is). */
  sawText: boolean;
  hasSchema: boolean;
  /** tool_use id → what was announced, for the matching tool_update. */
  tools: Map<string, { kind: string; title: string; path?: string }>;
};

/** One Claude Code conversation: its claude process, replaced when a turn needs another JSON schema. */
export class ClaudeCodeSession implements AgentSession {
  agentSessionId: string;
  readonly capabilities: SessionCapabilities = { load: false, resume: true };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly #options: OpenOptions;
  #child: ChildHandle | undefined;
  #resolveExited!: (value: { end: ChildEnd; stderrTail: string }) => void;
  /** prompt() is between its start and sending the turn (a schema restart may be under way). */
  #starting = false;
  /** cancel() came while #starting: the turn is not sent. */
  #cancelBeforeStart = false;
  /** close() was called: no process may be started any more, a late one is stopped at once. */
  #closed = false;
  /** True once the first process was replaced (the run must learn the new pid). */
  #replaced = false;
  /** True once claude has (or may have) saved the conversation, so a restart must `--resume` it. */
  #persisted: boolean;
  /** The current process got its `initialize` (which fixes its JSON schema for its lifetime). */
  #initialized = false;
  /** The JSON schema the current process was initialized with ('' for none). */
  #schemaKey = '';
  #turn: Turn | undefined;
  #nextRequest = 0;
  /** Control requests awaiting claude's `control_response`, by request id. */
  readonly #pending = new PendingRequests<string>();
  readonly #permissionAborts = new Map<string, AbortController>();
  /** The last cumulative `total_cost_usd` seen from the current process (fallback for per-turn cost). */
  #lastTotalCost: number | undefined;

  constructor(options: OpenOptions) {
    this.#options = options;
    this.agentSessionId = options.resumeSessionId ?? randomUUID();
    this.#persisted = options.resumeSessionId !== undefined;
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  get pidStart(): string | undefined {
    return this.#child?.startTime;
  }

  /** Starts a claude process for this session (a new one, or `--resume` once it was persisted). */
  async spawn(): Promise<void> {
    const o = this.#options;
    const args = [
      ...o.agent.args,
      '-p',
      '--input-format',
      'stream-json',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-prompt-tool',
      'stdio',
      ...(this.#persisted ? ['--resume', this.agentSessionId] : ['--session-id', this.agentSessionId]),
      ...(o.model ? ['--model', o.model] : []),
      ...(o.maxTurns ? ['--max-turns', String(o.maxTurns)] : []),
      ...(o.policy === 'auto_edit' ? ['--permission-mode', 'acceptEdits'] : []),
    ];
    const child = await spawnAgentProcess(o, args);
    if (this.#closed) {
      // close() ran while this process was starting (a cancel during a schema restart).
      await child.stop(0);
      throw this.#explain(new Error('the session was closed while claude was starting'), 'while starting');
    }
    const replacing = this.#child !== undefined || this.#replaced;
    this.#child = child;
    if (replacing) o.onProcess?.(child.pid, child.startTime);
    this.#initialized = false;
    // #lastTotalCost is kept: claude's total_cost_usd carries over a --resume.
    const stdoutClosed = this.#readLines(child);
    void child.exited.then(async (end) => {
      // Read what it wrote before dying (a result line, say) before calling it a crash.
      await settlesWithin(stdoutClosed, DRAIN_MS);
      if (this.#child !== child) return; // replaced on purpose (schema change)
      const gone = this.#explain(new Error('the claude process exited'), 'during the turn');
      this.#pending.failAll(gone);
      this.#failTurn(gone);
      this.#resolveExited({ end, stderrTail: child.stderrTail() });
    });
  }

  async prompt(text: string, sink: TurnSink, options: TurnOptions = {}): Promise<TurnOutcome> {
    if (this.#turn) {
      throw new BatonError('AGENT_ERROR', 'claude is already running a turn in this session');
    }
    const schema = options.outputSchema;
    const schemaKey = schema ? JSON.stringify(schema) : '';
    // HACK: claude 2.1.330 fixes the JSON schema (`--json-schema`, or `initialize.jsonSchema`) for
    // a process's lifetime; a second `initialize` is answered but its schema ignored (verified). So a
    // turn with another schema than the process's (or none after one) gets a fresh process on the
    // same conversation (`--resume`, ~0.4 s); the pid changes. Remove when claude takes a schema per
    // user message.
    this.#starting = true;
    this.#cancelBeforeStart = false;
    try {
      if (this.#initialized && schemaKey !== this.#schemaKey) await this.#restart();
    } finally {
      this.#starting = false;
    }
    if (this.#closed) throw this.#explain(new Error('the session was closed'), 'before the turn');
    if (this.#cancelBeforeStart) return { stop_reason: 'cancelled' };
    let turn!: Turn;
    const outcome = new Promise<TurnOutcome>((resolve, reject) => {
      turn = {
        sink,
        resolve,
        reject,
        interrupted: false,
        sawText: false,
        hasSchema: schema !== undefined,
        tools: new Map(),
      };
    });
    // The turn can end (claude exits, or writes a failed `result`) before anyone awaits it.
    outcome.catch(() => undefined);
    this.#turn = turn;
    try {
      if (!this.#initialized) {
        // The schema goes in `initialize` (same effect as `--json-schema`), sent lazily at the first
        // turn, so the process started by open() serves the first turn's schema without a restart.
        // Raced with the turn: a claude that dies or fails (e.g. "No conversation found" for a
        // --resume) while starting ends the turn, not a wait for an answer that never comes.
        await Promise.race([
          this.#bounded(this.#request('initialize', schema ? { jsonSchema: schema } : {}), 'initialize'),
          outcome.then(() => {
            throw new BatonError('AGENT_ERROR', 'claude ended the turn before it started');
          }),
        ]);
        this.#initialized = true;
        this.#schemaKey = schemaKey;
      }
    } catch (err) {
      if (this.#turn === turn) this.#turn = undefined;
      // When the turn ended first, `err` is its reason (the exit, the failed result).
      throw this.#explain(err, 'while starting');
    }
    if (turn.interrupted) {
      this.#turn = undefined;
      return { stop_reason: 'cancelled' };
    }
    this.#persisted = true;
    this.#send({ type: 'user', message: { role: 'user', content: [{ type: 'text', text }] } });
    return outcome;
  }

  async cancel(): Promise<void> {
    const turn = this.#turn;
    if (!turn && this.#starting) {
      // prompt() is still replacing the process (schema change): the turn is cancelled before it is sent.
      this.#cancelBeforeStart = true;
      return;
    }
    if (!turn || !this.#child || this.#child.end) return;
    turn.interrupted = true;
    // Not awaited: claude answers with a control_response, then ends the turn with a result.
    this.#request('interrupt', {}).catch(() => undefined);
  }

  async close(graceMs = 2000): Promise<ChildEnd> {
    this.#closed = true;
    const child = this.#child;
    if (!child) return { code: null, signal: null };
    child.stdin.end();
    return child.stop(graceMs);
  }

  // ---------------------------------------------------------------------------------------------

  /** Replaces the process (same conversation) because the next turn needs another JSON schema. */
  async #restart(): Promise<void> {
    const old = this.#child;
    this.#child = undefined; // its exit is now expected
    this.#replaced = true;
    const end = old ? (old.stdin.end(), await old.stop(2000)) : { code: null, signal: null };
    try {
      await this.spawn();
    } catch (err) {
      // No process any more: the session is over.
      this.#resolveExited({ end, stderrTail: old?.stderrTail() ?? '' });
      throw err;
    }
  }

  /** Handles claude's stdout line by line (bounded); resolves when stdout closes. */
  #readLines(child: ChildHandle): Promise<void> {
    return readJsonLines(child.stdout, MAX_LINE_BYTES, {
      onValue: (value) => {
        if (child === this.#child) this.#onMessage(value as ClaudeLine);
      },
      onUnparsed: (line) => {
        if (child === this.#child) this.#raw({ non_json: line.slice(0, 2000) });
      },
      // A line of an unexpected shape is kept, never allowed to crash baton.
      onHandlerError: (err, line) =>
        this.#raw({ claude: 'unreadable_line', error: String(err), line: line.slice(0, 2000) }),
      onOversize: (bytes) =>
        this.#raw({
          note: `claude wrote a stdout line of ${bytes} bytes, over ${MAX_LINE_BYTES}; it was dropped`,
        }),
    });
  }

  #onMessage(msg: ClaudeLine): void {
    if (!msg || typeof msg !== 'object' || !LINE_TYPES.includes(msg.type)) {
      this.#raw({ claude: msg as unknown });
      return;
    }
    switch (msg.type) {
      case 'system':
        return this.#onSystem(msg);
      case 'assistant':
        return this.#onAssistant(msg);
      case 'user':
        return this.#onUser(msg);
      case 'result':
        return this.#onResult(msg);
      case 'control_request': {
        // Answered on the process that asked (a restart may replace #child meanwhile).
        const child = this.#child;
        this.#onControlRequest(msg, child).catch((err: unknown) => {
          this.#raw({ claude: 'control_request_failed', error: String(err) });
          this.#send(
            {
              type: 'control_response',
              response: {
                subtype: 'error',
                request_id: msg.request_id,
                error: 'baton could not handle this request',
              },
            },
            child,
          );
        });
        return;
      }
      case 'control_response':
        return this.#onControlResponse(msg);
      case 'control_cancel_request':
        this.#permissionAborts.get(msg.request_id)?.abort();
        return;
      case 'stream_event':
        // Partial messages are not enabled (--include-partial-messages); kept if they come anyway.
        return this.#raw({ claude: 'stream_event', event: msg.event });
      default: {
        const unknownLine: never = msg;
        return this.#raw({ claude: unknownLine as unknown });
      }
    }
  }

  #emit(event: DriverEvent): void {
    this.#turn?.sink.emit(event);
  }

  #raw(data: Record<string, unknown>): void {
    this.#emit({ type: 'raw', data });
  }

  #onSystem(msg: SystemLine): void {
    if (msg.subtype === 'init') {
      // claude keeps the id it was given (--session-id / --resume); follow it if it ever does not.
      if (msg.session_id && msg.session_id !== this.agentSessionId) this.agentSessionId = msg.session_id;
      this.#raw({
        claude: 'system/init',
        session_id: msg.session_id,
        model: msg.model,
        permission_mode: msg.permissionMode,
        version: msg.claude_code_version,
      });
      return;
    }
    this.#raw({ ...msg, claude: `system/${msg.subtype ?? ''}` });
    if (msg.subtype === 'api_retry' && (msg.error_status === 401 || msg.error_status === 403)) {
      // HACK: claude 2.1.330 retries even 401/403 answers ten times with exponential backoff
      // (minutes) before giving up, so a bad key would leave the run hanging. Credentials do not
      // fix themselves: fail the turn at the first such retry and stop the process (its turn is
      // still in flight, so it cannot serve another). Remove if claude stops retrying auth errors.
      const err = new BatonError(
        'AGENT_ERROR',
        `claude cannot use the model API: HTTP ${msg.error_status} (${msg.error ?? 'authentication failed'}); check ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN or log in with claude`,
        { details: { stderr_tail: this.#child?.stderrTail() ?? '' } },
      );
      this.#failTurn(err);
      void this.close(500);
    }
  }

  #onAssistant(msg: AssistantLine): void {
    const turn = this.#turn;
    if (!turn) return;
    const blocks = msg.message?.content ?? [];
    // Sub-agent (Task) output is kept, but not as the run's own message text.
    const nested = msg.parent_tool_use_id != null;
    for (const block of blocks) {
      switch (block.type) {
        case 'text':
          if (nested)
            this.#raw({ claude: 'subagent_text', parent: msg.parent_tool_use_id, text: block.text });
          else {
            turn.sawText = turn.sawText || block.text.length > 0;
            this.#emit({ type: 'message_chunk', text: block.text });
          }
          break;
        case 'thinking':
          if (!nested) this.#emit({ type: 'thought_chunk', text: block.thinking });
          break;
        case 'tool_use': {
          const info = describeTool(block.name, block.input, this.#options.cwd);
          turn.tools.set(block.id, {
            kind: info.kind,
            title: info.title,
            ...(info.locations[0] ? { path: info.locations[0] } : {}),
          });
          this.#emit(
            toolCallEvent(
              block.id,
              info,
              block.input,
              nested ? { parent_tool_call_id: msg.parent_tool_use_id } : {},
            ),
          );
          break;
        }
        default:
          this.#raw({ claude: 'assistant_block', block: block as unknown });
      }
    }
  }

  #onUser(msg: UserLine): void {
    const turn = this.#turn;
    if (!turn) return;
    const content = msg.message?.content;
    const blocks = typeof content === 'string' ? [{ type: 'text' as const, text: content }] : (content ?? []);
    for (const block of blocks) {
      if (block.type !== 'tool_result') {
        // e.g. "[Request interrupted by user]" after an interrupt
        this.#raw({ claude: 'user', block: block as unknown });
        continue;
      }
      const known = turn.tools.get(block.tool_use_id);
      const text = resultText(block.content);
      const data: Record<string, unknown> = {
        tool_call_id: block.tool_use_id,
        status: block.is_error ? 'failed' : 'completed',
        ...(known ? { kind: known.kind, title: known.title } : {}),
        content: [{ type: 'text', text }],
      };
      const diff = diffOf(msg.tool_use_result, this.#options.cwd);
      if (diff) (data.content as unknown[]).push(diff);
      if (msg.tool_use_result !== undefined) data.raw_output = msg.tool_use_result;
      this.#emit({ type: 'tool_update', data });
    }
  }

  #onResult(msg: ResultLine): void {
    const turn = this.#turn;
    if (!turn) {
      this.#raw({ claude: 'result', subtype: msg.subtype });
      return;
    }
    this.#turn = undefined;
    const usage = turnUsage(msg, this.#lastTotalCost);
    if (msg.total_cost_usd != null) this.#lastTotalCost = msg.total_cost_usd;
    if (turn.interrupted) {
      turn.resolve({ stop_reason: 'cancelled', ...(usage ? { usage } : {}) });
      return;
    }
    if (msg.subtype === 'success' && !msg.is_error) {
      // A structured answer has no assistant text (it is the StructuredOutput tool's input); the
      // result text (its JSON) then stands for the message.
      if (!turn.sawText && typeof msg.result === 'string' && msg.result) {
        turn.sink.emit({ type: 'message_chunk', text: msg.result });
      }
      const outcome: TurnOutcome = {
        stop_reason: msg.stop_reason === 'max_tokens' ? 'max_tokens' : 'end_turn',
      };
      if (usage) outcome.usage = usage;
      if (turn.hasSchema && msg.structured_output !== undefined) outcome.structured = msg.structured_output;
      turn.resolve(outcome);
      return;
    }
    // The profile's turn budget ran out: the run ends, not failed, with what it did so far.
    if (msg.subtype === 'error_max_turns') {
      turn.resolve({ stop_reason: 'max_turns', ...(usage ? { usage } : {}) });
      return;
    }
    const why = [...(msg.errors ?? []), ...(msg.is_error && msg.result ? [msg.result] : [])].join('; ');
    const gone = /No conversation found/i.test(why);
    const code: ErrorCode = gone ? 'SESSION_NOT_RESUMABLE' : 'AGENT_ERROR';
    turn.reject(
      new BatonError(
        code,
        gone
          ? this.#options.resumeForeign
            ? this.#foreignGone(why)
            : `claude has no saved conversation ${this.agentSessionId} any more (${why}); start a new run instead`
          : `claude failed the turn (${msg.subtype ?? 'error'}${msg.api_error_status ? `, HTTP ${msg.api_error_status}` : ''}): ${why || 'no reason given'}`,
        { details: { stderr_tail: this.#child?.stderrTail() ?? '', result: msg.subtype } },
      ),
    );
  }

  async #onControlRequest(msg: ControlRequestLine, child: ChildHandle | undefined): Promise<void> {
    const req = msg.request ?? {};
    if (req.subtype !== 'can_use_tool') {
      this.#raw({ claude: 'control_request', subtype: req.subtype });
      this.#send(
        {
          type: 'control_response',
          response: {
            subtype: 'error',
            request_id: msg.request_id,
            error: `baton does not handle control request ${String(req.subtype ?? '(none)')}`,
          },
        },
        child,
      );
      return;
    }
    const answer = (response: Record<string, unknown>) =>
      this.#send(
        {
          type: 'control_response',
          response: { subtype: 'success', request_id: msg.request_id, response },
        },
        child,
      );
    const turn = this.#turn;
    if (!turn) {
      answer({ behavior: 'deny', message: 'No turn is running: baton refuses tool use outside a run.' });
      return;
    }
    const permission = toolPermission(req, this.#options.cwd);
    const abort = new AbortController();
    this.#permissionAborts.set(msg.request_id, abort);
    const picked = await turn.sink.requestPermission(permission.ask, abort.signal);
    this.#permissionAborts.delete(msg.request_id);
    if (abort.signal.aborted) return; // claude withdrew the request (control_cancel_request)
    answer(toolPermissionResponse(picked, permission));
  }

  #onControlResponse(msg: ControlResponseLine): void {
    const r = msg.response ?? {};
    const id = r.request_id;
    if (!id) return;
    if (r.subtype === 'success') this.#pending.resolve(id, r.response);
    else
      this.#pending.reject(
        id,
        new BatonError('AGENT_PROTOCOL_ERROR', `claude refused ${id}: ${r.error ?? 'error'}`),
      );
  }

  /** Sends a control request and resolves with claude's response payload. */
  #request(subtype: string, fields: Record<string, unknown>): Promise<unknown> {
    const child = this.#child;
    if (!child || child.end)
      return Promise.reject(this.#explain(new Error('claude is not running'), 'before the turn'));
    const requestId = `baton-${++this.#nextRequest}-${subtype}`;
    const answered = this.#pending.add(requestId);
    this.#send({ type: 'control_request', request_id: requestId, request: { subtype, ...fields } });
    return answered;
  }

  /** Writes one line to claude's stdin (of `child`, default the current process). */
  #send(message: Record<string, unknown>, child: ChildHandle | undefined = this.#child): void {
    const stdin = child?.stdin;
    if (stdin?.writable) stdin.write(`${JSON.stringify(message)}\n`);
  }

  #failTurn(err: BatonError): void {
    const turn = this.#turn;
    this.#turn = undefined;
    turn?.reject(err);
  }

  #bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return bounded(p, {
      what,
      ms: START_TIMEOUT_MS,
      who: 'claude',
      stderrTail: () => this.#child?.stderrTail() ?? '',
    });
  }

  /** Why claude found no session to `--resume` for spawn_run `resume` (a session started outside baton). */
  #foreignGone(why: string): string {
    return `claude found no session ${this.agentSessionId} to resume (${why}): claude keeps a session under ~/.claude/projects/ of the folder it was started in, so pass that folder as cwd (with the same HOME / CLAUDE_CONFIG_DIR), or check the id (claude --resume lists them)`;
  }

  /** Turns anything into a BatonError carrying the stderr tail (and the exit, when claude died). */
  #explain(err: unknown, when: string): BatonError {
    if (err instanceof BatonError) return err;
    const child = this.#child;
    const stderrTail = child?.stderrTail() ?? '';
    if (/No conversation found/i.test(stderrTail)) {
      return new BatonError(
        'SESSION_NOT_RESUMABLE',
        this.#options.resumeForeign
          ? this.#foreignGone(lastLine(stderrTail))
          : `claude has no saved conversation ${this.agentSessionId} (its HOME or project folder changed?): ${lastLine(stderrTail)}; start a new run instead`,
        { cause: err, details: { stderr_tail: stderrTail } },
      );
    }
    return agentFailure(err, when, `claude (${this.#options.agent.name})`, child, true);
  }
}
