import { randomUUID } from 'node:crypto';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { BatonError, type ErrorCode } from '../../errors.js';
import { readLines } from '../../process/lines.js';
import { agentFailure, withDeadline } from '../agent-process.js';
import { ChildHandle, settlesWithin, type ChildEnd } from '../../process/child.js';
import type { PermissionOption, ToolCallInfo, Usage } from '../../engine/types.js';
import type {
  AgentSession,
  Driver,
  DriverEvent,
  OpenOptions,
  SessionCapabilities,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from '../driver.js';

/** How long claude may take to answer `initialize` (its start-up). */
const START_TIMEOUT_MS = 60_000;
/** Longest stdout line kept; claude's lines carry whole messages and tool results. */
const MAX_LINE_BYTES = 32 * 1024 * 1024;
/** After the process exits, how long its last stdout lines may take to be read. */
const DRAIN_MS = 1000;
/** Longest text kept in a tool title. */
const TITLE_MAX = 200;

// ------------------------------------------------------------------------------------------------
// Wire types: the parts of claude's stream-json protocol this driver reads (claude-code 2.1.330).

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string }
  | { type: 'redacted_thinking' }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | {
      type: 'tool_result';
      tool_use_id: string;
      content?: string | { type: string; text?: string }[];
      is_error?: boolean;
    };

type AssistantLine = {
  type: 'assistant';
  message?: { content?: ContentBlock[] };
  parent_tool_use_id?: string | null;
};
type UserLine = {
  type: 'user';
  message?: { content?: string | ContentBlock[] };
  parent_tool_use_id?: string | null;
  tool_use_result?: unknown;
};
type SystemLine = {
  type: 'system';
  subtype?: string;
  session_id?: string;
  model?: string;
  permissionMode?: string;
  claude_code_version?: string;
  error_status?: number | null;
  error?: string;
  attempt?: number;
};
type ResultLine = {
  type: 'result';
  subtype?: string;
  is_error?: boolean;
  result?: string;
  errors?: string[];
  api_error_status?: number | null;
  stop_reason?: string | null;
  terminal_reason?: string;
  structured_output?: unknown;
  total_cost_usd?: number;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cache_read_input_tokens?: number;
    cache_creation_input_tokens?: number;
  };
  model_usage_since_last_result?: Record<string, { costUSD?: number }>;
};
type ControlRequestLine = {
  type: 'control_request';
  request_id: string;
  request?: {
    subtype?: string;
    tool_name?: string;
    display_name?: string;
    title?: string;
    description?: string;
    input?: Record<string, unknown>;
    permission_suggestions?: unknown[];
    tool_use_id?: string;
  };
};
type ControlResponseLine = {
  type: 'control_response';
  response?: { subtype?: string; request_id?: string; response?: unknown; error?: string };
};
type ControlCancelLine = { type: 'control_cancel_request'; request_id: string };
type StreamEventLine = { type: 'stream_event'; event?: unknown };

/** One stdout line of claude, by `type`. */
type ClaudeLine =
  | AssistantLine
  | UserLine
  | SystemLine
  | ResultLine
  | ControlRequestLine
  | ControlResponseLine
  | ControlCancelLine
  | StreamEventLine;

const LINE_TYPES: readonly ClaudeLine['type'][] = [
  'assistant',
  'user',
  'system',
  'result',
  'control_request',
  'control_response',
  'control_cancel_request',
  'stream_event',
];

// ------------------------------------------------------------------------------------------------

/**
 * Drives Claude Code natively: `claude -p --input-format stream-json --output-format stream-json
 * --verbose --permission-prompt-tool stdio`, one long-lived process per session (each turn is one
 * user line on stdin), permission prompts answered over stdio (`control_request` `can_use_tool`),
 * cancel by the `interrupt` control request, structured output through claude's own JSON-schema
 * mechanism (`initialize.jsonSchema`, the `StructuredOutput` tool). New sessions get their id from
 * us (`--session-id`), so it is known at open; reopened sessions use `--resume <id>`.
 *
 * Policy: `auto_edit` starts claude in `--permission-mode acceptEdits`; every other policy uses the
 * default mode, so each tool permission reaches baton's engine, which answers by policy.
 * `bypassPermissions` is never used (claude refuses it as root, and baton's policies decide).
 */
export class ClaudeCodeDriver implements Driver {
  readonly name = 'claude-code';
  readonly nativeStructuredOutput = true;
  readonly policyInProcess = true;

  /** Starts claude in `options.cwd`. Throws AGENT_NOT_INSTALLED / CWD_NOT_FOUND from the spawn. */
  async open(options: OpenOptions): Promise<AgentSession> {
    const session = new ClaudeCodeSession(options);
    await session.spawn();
    return session;
  }
}

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

type Pending = { resolve: (value: unknown) => void; reject: (err: BatonError) => void };

class ClaudeCodeSession implements AgentSession {
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
  readonly #pending = new Map<string, Pending>();
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
    const child = await ChildHandle.start({
      command: o.agent.command,
      args,
      cwd: o.cwd,
      env: { ...process.env, ...o.agent.env },
      onStderr: o.onStderr,
    });
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
    // A closed pipe after the child died is expected; the exit is reported through `exited`.
    child.stdin.on('error', () => undefined);
    const stdoutClosed = this.#readLines(child);
    void child.exited.then(async (end) => {
      // Read what it wrote before dying (a result line, say) before calling it a crash.
      await settlesWithin(stdoutClosed, DRAIN_MS);
      if (this.#child !== child) return; // replaced on purpose (schema change)
      const gone = this.#explain(new Error('the claude process exited'), 'during the turn');
      for (const p of this.#pending.values()) p.reject(gone);
      this.#pending.clear();
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
    return readLines(child.stdout, MAX_LINE_BYTES, {
      onLine: (line) => {
        if (child === this.#child) this.#onLine(line);
      },
      onOversize: (bytes) =>
        this.#raw({
          note: `claude wrote a stdout line of ${bytes} bytes, over ${MAX_LINE_BYTES}; it was dropped`,
        }),
    });
  }

  #onLine(line: string): void {
    try {
      this.#handleLine(line);
    } catch (err) {
      // A line of an unexpected shape is kept, never allowed to crash baton.
      this.#raw({ claude: 'unreadable_line', error: String(err), line: line.slice(0, 2000) });
    }
  }

  #handleLine(line: string): void {
    if (!line.trim()) return;
    let msg: ClaudeLine;
    try {
      msg = JSON.parse(line) as ClaudeLine;
    } catch {
      this.#raw({ non_json: line.slice(0, 2000) });
      return;
    }
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
          this.#emit({
            type: 'tool_call',
            data: {
              tool_call_id: block.id,
              title: info.title,
              kind: info.kind,
              status: 'pending',
              ...(info.locations.length ? { locations: info.locations } : {}),
              raw_input: block.input,
              ...(nested ? { parent_tool_call_id: msg.parent_tool_use_id } : {}),
            },
          });
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
    const usage = this.#usageOf(msg);
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
          ? `claude has no saved conversation ${this.agentSessionId} any more (${why}); start a new run instead`
          : `claude failed the turn (${msg.subtype ?? 'error'}${msg.api_error_status ? `, HTTP ${msg.api_error_status}` : ''}): ${why || 'no reason given'}`,
        { details: { stderr_tail: this.#child?.stderrTail() ?? '', result: msg.subtype } },
      ),
    );
  }

  /** Per-turn usage from a result line. */
  #usageOf(msg: ResultLine): Usage | undefined {
    const usage: Usage = {};
    const u = msg.usage;
    if (u?.input_tokens != null) usage.input_tokens = u.input_tokens;
    if (u?.output_tokens != null) usage.output_tokens = u.output_tokens;
    if (u?.cache_read_input_tokens != null) usage.cached_read_tokens = u.cache_read_input_tokens;
    // `total_cost_usd` is cumulative over the whole conversation (it even carries over a --resume);
    // `model_usage_since_last_result[model].costUSD` is this turn's.
    const since = msg.model_usage_since_last_result;
    if (since && Object.keys(since).length > 0) {
      usage.cost_usd = Object.values(since).reduce((sum, m) => sum + (m.costUSD ?? 0), 0);
    } else if (msg.total_cost_usd != null) {
      usage.cost_usd = msg.total_cost_usd - (this.#lastTotalCost ?? 0);
    }
    if (msg.total_cost_usd != null) this.#lastTotalCost = msg.total_cost_usd;
    return Object.keys(usage).length > 0 ? usage : undefined;
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
    const input = req.input && typeof req.input === 'object' ? req.input : {};
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
    const name = typeof req.tool_name === 'string' ? req.tool_name : 'tool';
    const info = describeTool(name, input, this.#options.cwd);
    const toolCall: ToolCallInfo = { kind: info.kind, title: info.title, raw_input: input };
    if (req.tool_use_id) toolCall.tool_call_id = req.tool_use_id;
    if (info.locations.length) toolCall.locations = info.locations;
    const suggestions = Array.isArray(req.permission_suggestions) ? req.permission_suggestions : [];
    const options: PermissionOption[] = [
      { option_id: 'allow', name: 'Allow', kind: 'allow_once' },
      ...(suggestions.length > 0
        ? [{ option_id: 'allow_always', name: 'Always allow', kind: 'allow_always' as const }]
        : []),
      { option_id: 'deny', name: 'Deny', kind: 'reject_once' },
    ];
    const abort = new AbortController();
    this.#permissionAborts.set(msg.request_id, abort);
    // Known tools get baton's title (the file or command); others claude's own wording.
    const title =
      info.kind !== 'other'
        ? info.title
        : (req.title ?? (req.description ? `${name}: ${req.description}` : name));
    const picked = await turn.sink.requestPermission(
      { title: clip(title), tool_call: toolCall, options, full_title: info.full },
      abort.signal,
    );
    this.#permissionAborts.delete(msg.request_id);
    if (abort.signal.aborted) return; // claude withdrew the request (control_cancel_request)
    if (picked.outcome === 'selected' && picked.option_id === 'allow') {
      answer({ behavior: 'allow', updatedInput: input });
    } else if (picked.outcome === 'selected' && picked.option_id === 'allow_always') {
      answer({ behavior: 'allow', updatedInput: input, updatedPermissions: suggestions });
    } else {
      answer({
        behavior: 'deny',
        message:
          picked.outcome === 'selected'
            ? 'The user denied permission for this tool use.'
            : 'The permission request was cancelled (the run is stopping or its policy forbids it); the tool was not run.',
      });
    }
  }

  #onControlResponse(msg: ControlResponseLine): void {
    const r = msg.response ?? {};
    const id = r.request_id;
    const pending = id ? this.#pending.get(id) : undefined;
    if (!id || !pending) return;
    this.#pending.delete(id);
    if (r.subtype === 'success') pending.resolve(r.response);
    else
      pending.reject(new BatonError('AGENT_PROTOCOL_ERROR', `claude refused ${id}: ${r.error ?? 'error'}`));
  }

  /** Sends a control request and resolves with claude's response payload. */
  #request(subtype: string, fields: Record<string, unknown>): Promise<unknown> {
    const child = this.#child;
    if (!child || child.end)
      return Promise.reject(this.#explain(new Error('claude is not running'), 'before the turn'));
    const requestId = `baton-${++this.#nextRequest}-${subtype}`;
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      this.#send({ type: 'control_request', request_id: requestId, request: { subtype, ...fields } });
    });
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
    return withDeadline(
      p,
      START_TIMEOUT_MS,
      () =>
        new BatonError('AGENT_ERROR', `claude did not answer ${what} within ${START_TIMEOUT_MS / 1000}s`, {
          details: { stderr_tail: this.#child?.stderrTail() ?? '' },
        }),
    );
  }

  /** Turns anything into a BatonError carrying the stderr tail (and the exit, when claude died). */
  #explain(err: unknown, when: string): BatonError {
    if (err instanceof BatonError) return err;
    const child = this.#child;
    const stderrTail = child?.stderrTail() ?? '';
    if (/No conversation found/i.test(stderrTail)) {
      return new BatonError(
        'SESSION_NOT_RESUMABLE',
        `claude has no saved conversation ${this.agentSessionId} (its HOME or project folder changed?): ${lastLine(stderrTail)}; start a new run instead`,
        { cause: err, details: { stderr_tail: stderrTail } },
      );
    }
    return agentFailure(err, when, `claude (${this.#options.agent.name})`, child, true);
  }
}

// ------------------------------------------------------------------------------------------------

/** How a claude tool shows in baton: kind (ACP's tool kinds), title and the files it touches. */
function describeTool(
  name: string,
  input: unknown,
  cwd: string,
): { kind: string; title: string; full: string; locations: string[] } {
  const i = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof i[k] === 'string' ? (i[k] as string) : undefined);
  const abs = (p: string) => (isAbsolute(p) ? p : resolvePath(cwd, p));
  const file = str('file_path') ?? str('notebook_path');
  const locations = file ? [abs(file)] : [];
  // The title is clipped for display; the full text goes to the profile's tool rules.
  const tool = (kind: string, full: string, where = locations) => ({
    kind,
    title: clip(full),
    full,
    locations: where,
  });
  switch (name) {
    case 'Write':
    case 'Edit':
    case 'MultiEdit':
    case 'NotebookEdit':
      return tool('edit', `${name} ${file ?? ''}`.trim());
    case 'Read':
      return tool('read', `Read ${file ?? ''}`.trim());
    case 'Bash':
      return tool('execute', `Bash: ${str('command') ?? ''}`);
    case 'Grep':
    case 'Glob': {
      const path = str('path');
      return tool('search', `${name} ${str('pattern') ?? ''}`.trim(), path ? [abs(path)] : []);
    }
    case 'WebFetch':
      return tool('fetch', `WebFetch ${str('url') ?? ''}`.trim());
    case 'WebSearch':
      return tool('fetch', `WebSearch ${str('query') ?? ''}`.trim());
    default:
      return { kind: 'other', title: name, full: name, locations };
  }
}

/** A Write/Edit tool result (`tool_use_result`) as a diff entry, when it carries one. */
function diffOf(result: unknown, cwd: string): Record<string, unknown> | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const r = result as Record<string, unknown>;
  if ((r.type !== 'create' && r.type !== 'update') || typeof r.filePath !== 'string') return undefined;
  if (typeof r.content !== 'string') return undefined;
  return {
    type: 'diff',
    path: isAbsolute(r.filePath) ? r.filePath : resolvePath(cwd, r.filePath),
    old_text: typeof r.originalFile === 'string' ? r.originalFile : null,
    new_text: r.content,
  };
}

function resultText(content: string | { type: string; text?: string }[] | undefined): string {
  if (typeof content === 'string') return content;
  return (content ?? []).map((b) => (typeof b.text === 'string' ? b.text : `[${b.type}]`)).join('\n');
}

function clip(text: unknown): string {
  const one = String(text).replace(/\s+/g, ' ').trim();
  return one.length > TITLE_MAX ? `${one.slice(0, TITLE_MAX - 1)}…` : one;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}
