import type { ChildEnd } from '../process/child.js';
import type { Runner } from '../runners/runner.js';
import type { InputPart, PermissionOption, PermissionPolicy, ToolCallInfo, Usage } from '../engine/types.js';

/**
 * What a driver reports during a turn, normalized across agent protocols. Message and thought
 * text arrive as chunks; the engine coalesces them into `message` / `thought` events.
 */
export type DriverEvent =
  | { type: 'message_chunk'; text: string }
  | { type: 'thought_chunk'; text: string }
  | { type: 'user_chunk'; text: string }
  | { type: 'tool_call'; data: Record<string, unknown> }
  | { type: 'tool_update'; data: Record<string, unknown> }
  | { type: 'plan'; data: Record<string, unknown> }
  | { type: 'usage'; usage: Usage }
  | { type: 'raw'; data: Record<string, unknown> }
  /** Session metadata (commands, modes, titles): kept as `raw`, but not part of the conversation. */
  | { type: 'info'; data: Record<string, unknown> }
  /** A terminal program's screen snapshot (`kind: screen`) or what was typed (`kind: input`). */
  | { type: 'terminal'; data: Record<string, unknown> };

/** A permission question from the agent. */
export type PermissionAsk = {
  title: string;
  tool_call: ToolCallInfo;
  options: PermissionOption[];
  /**
   * The tool's whole description (e.g. `Bash: <the full command>`) when `title` and
   * `tool_call.title` are clipped for display: the profile's tool rules judge this one. Not stored.
   */
  full_title?: string;
};

/** The answer to a {@link PermissionAsk}. */
export type PermissionAnswer = { outcome: 'selected'; option_id: string } | { outcome: 'cancelled' };

/** Where a turn's output goes. One sink per run. */
export interface TurnSink {
  /** Records one normalized event. */
  emit(event: DriverEvent): void;
  /** Asks the engine (policy, caller, person) and resolves with the answer; never rejects. */
  requestPermission(ask: PermissionAsk, signal: AbortSignal): Promise<PermissionAnswer>;
  /** False when the run's policy forbids the agent to write files through the client. */
  readonly allowWrites: boolean;
  /**
   * A terminal program waits for input at a prompt (`undefined`: it took input and runs again).
   * The run shows `waiting` with `waiting_for.kind = "input"`.
   */
  setInputWaiting?(waiting: { prompt: string } | undefined): void;
  /** A remote agent's task id for this run (A2A), kept so the run can follow the task after a restart. */
  setRemoteTask?(taskId: string): void;
  /**
   * The agent's own session id learnt during the turn (a terminal program's hook): the session's
   * `agent_session_id` becomes `id` (a follow-up reopens it).
   */
  setAgentSessionId?(id: string): void;
}

/**
 * What a program started with baton's hooks (claude-tui) reports through `baton hook`: delivered
 * by the owner to the session whose {@link id} the hook names, refused unless `token` is the one
 * the session gave its program (compared in constant time).
 */
export interface HookReceiver {
  /** The id the program's hook command names (`BATON_HOOK_ID`). */
  readonly id: string;
  /** Takes one hook event; false (and nothing changes) when the token is not this session's. */
  deliver(token: string, event: string, payload: Record<string, unknown>): boolean;
}

/** The screen and keyboard of a terminal run (the `terminal` driver). */
export interface TerminalControl {
  /** The last `lines` lines of the screen and its history; ANSI kept when `raw`. */
  read(lines: number, raw: boolean): Promise<string>;
  /** Types `text` (pasted whole), then named keys, then Enter when asked; says what was delivered. */
  send(input: { text?: string; keys?: string[]; enter?: boolean }): Promise<{ delivered: string }>;
}

/** How a turn ended, from the agent's point of view. */
export type TurnOutcome = {
  stop_reason: string;
  usage?: Usage;
  /**
   * The structured answer when the agent produced one natively for {@link TurnOptions.outputSchema}
   * (Codex `outputSchema`, Claude's `--json-schema`). The engine still validates it.
   */
  structured?: unknown;
};

/** Per-turn options of {@link AgentSession.prompt}. */
export type TurnOptions = {
  /** The caller's JSON Schema for the final answer; only passed when the driver handles it natively. */
  outputSchema?: Record<string, unknown>;
  /**
   * The turn's input as parts (spawn_run `input_message`), for drivers whose protocol takes parts
   * (A2A parts, ACP content blocks); the prompt text is these parts flattened, for the others.
   */
  parts?: InputPart[];
  /** The run's role (spawn_run `role`), for drivers that can pass it on (A2A metadata, ACP `_meta`). */
  role?: string;
};

/** What the agent can do, as far as the engine cares. */
export type SessionCapabilities = { load: boolean; resume: boolean };

/** A live agent process holding one agent-side session. Turns run one at a time. */
export interface AgentSession {
  /** The agent's own id for the session (what `session/load` takes). */
  readonly agentSessionId: string;
  readonly pid: number;
  readonly pidStart: string | undefined;
  readonly capabilities: SessionCapabilities;
  /** Notes about the session start worth recording (e.g. model option not offered). */
  readonly notes: string[];
  /** Runs one turn. Rejects with a BatonError when the agent fails or exits mid-turn. */
  prompt(text: string, sink: TurnSink, options?: TurnOptions): Promise<TurnOutcome>;
  /** The protocol's cancel for the current turn (first rung of the kill ladder). */
  cancel(): Promise<void>;
  /** Ends the process: close stdin, SIGTERM the group, SIGKILL after `graceMs`. */
  close(graceMs?: number): Promise<ChildEnd>;
  /** Resolves when the process has exited, however that happened. */
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  /** Present for terminal programs: read the screen, type into it. */
  readonly terminal?: TerminalControl;
  /** Present for programs that report their state through baton's hooks (claude-tui). */
  readonly hooks?: HookReceiver;
  /**
   * Answers the input request the current turn waits on (the run shows `waiting_for.kind =
   * "input"`): a remote agent's question. follow_up delivers its message here.
   */
  reply?(text: string): Promise<void>;
  /**
   * Follows a task the agent still runs remotely, started by a baton process that is gone (A2A
   * resubscribe), as the rest of that run's turn.
   */
  followTask?(taskId: string, sink: TurnSink): Promise<TurnOutcome>;
  /**
   * Goes on with the turn a session adopted from a dead owner ({@link Driver.adopt}) was in,
   * typing nothing: resolves as {@link prompt} does when the turn ends.
   */
  continueTurn?(sink: TurnSink): Promise<TurnOutcome>;
}

/** How to start an agent: resolved from the catalog or the config file. */
export type AgentLaunch = {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** A remote agent (driver a2a): its base URL and the headers to send (auth included). */
  remote?: { url: string; headers: Record<string, string> };
  /** Where its process runs (config `runner`); undefined: here. `OpenOptions.cwd` is then the agent's side of the run's folder. */
  runner?: Runner;
};

/** Options of {@link Driver.open}. */
export type OpenOptions = {
  agent: AgentLaunch;
  cwd: string;
  /**
   * Folders the files baton serves the agent never include, even inside `cwd` (baton's own state
   * folder, `$BATON_HOME`), unless the folder also holds `cwd` (a run in one of baton's work trees).
   */
  excluded?: string[];
  /** Continue this agent-side session (`session/load` or `session/resume`) instead of a new one. */
  resumeSessionId?: string;
  /**
   * True when {@link resumeSessionId} came from the caller (spawn_run `resume`: a session started
   * outside baton), not from baton's own store; a driver that cannot reopen it says
   * RESUME_NOT_SUPPORTED rather than SESSION_NOT_RESUMABLE.
   */
  resumeForeign?: boolean;
  model?: string;
  /**
   * The run's permission policy. Drivers whose agent has its own permission or sandbox modes map it
   * onto them (e.g. `deny_all` → read-only sandbox); the engine still answers every request by it.
   */
  policy: PermissionPolicy;
  /**
   * Called when the driver replaces the agent process of a live session (e.g. claude restarted for
   * another output schema), so the run records the pid it must kill after a crash.
   */
  onProcess?: (pid: number, pidStart: string | undefined) => void;
  /** Called with the agent's stderr as it arrives. */
  onStderr?: (text: string) => void;
  /** Terminal settings (the `terminal` driver). */
  terminal?: TerminalOptions;
  /** The most agent turns per prompt (profile max_turns), for drivers whose agent takes a limit. */
  maxTurns?: number;
  /** MCP servers to offer the agent's session (ACP `mcpServers`): baton itself, for delegation. */
  mcpServers?: { name: string; command: string; args: string[]; env: Record<string, string> }[];
};

/** Options of {@link Driver.adopt}: what the store recorded of a run's agent when its owner died. */
export type AdoptOptions = {
  /** The agent-side session id recorded for the run (a terminal run: its tmux session). */
  agentSessionId: string;
  /** The agent process recorded for the run; a session whose process is another is not taken over. */
  pid: number;
  /** The recorded start time of {@link pid} (tells a reused pid apart), when known. */
  pidStart: string | undefined;
  /** Terminal settings (the `terminal` driver), as {@link OpenOptions.terminal}. */
  terminal?: TerminalOptions;
};

/** Settings of a terminal agent: patterns, exit keys, window size. */
export type TerminalOptions = {
  readyPattern?: string;
  idlePattern?: string;
  exitKeys?: string[];
  idleMs?: number;
  /** Milliseconds between a paste and its Enter (default 60). */
  enterDelayMs?: number;
  /**
   * The program's own hooks report its state (`claude`: Claude Code's hooks, through a per-run
   * `--settings` file); the screen decides only until the first hook arrives.
   */
  hooks?: 'claude' | 'codex' | 'gemini';
  width: number;
  height: number;
};

/**
 * What the engine needs to know about a protocol, declared by each driver (and where drivers are
 * registered, for the lazily loaded ones) so the engine never branches on a driver's name.
 */
export type DriverTraits = {
  /** True when the agent takes a JSON Schema for its final answer natively (else the engine instructs it). */
  readonly nativeStructuredOutput: boolean;
  /**
   * True when the run's policy is built into the agent process (a permission mode, a sandbox), so a
   * live process opened for one policy must not serve a run with another.
   */
  readonly policyInProcess: boolean;
  /** True when its sessions can follow a remote task again after a restart ({@link AgentSession.followTask}). */
  readonly followsRemoteTasks?: boolean;
  /**
   * True when its agent processes outlive the baton process that started them (a terminal program
   * in tmux), so a new owner can take them over with {@link adopt}.
   */
  readonly adoptsSessions?: boolean;
  /**
   * True when its sessions are terminal programs ({@link AgentSession.terminal}): it takes
   * {@link OpenOptions.terminal}, and its runs answer read_terminal, send_keys and attach.
   */
  readonly terminal?: boolean;
  /**
   * True when it can run any program given as spawn_run `command` (argv): its built-in agent of
   * the same name does (when the config allows any command); other agents run their configured one.
   */
  readonly takesCommand?: boolean;
  /** True when it applies a profile's `max_turns` ({@link OpenOptions.maxTurns}); otherwise a note says it is not. */
  readonly takesMaxTurns?: boolean;
  /** True when a run may start without a prompt (a terminal program that asks its own questions). */
  readonly promptOptional?: boolean;
  /**
   * True when spawn_run `resume` may hand it a session started outside baton, by the agent's own id
   * ({@link OpenOptions.resumeSessionId}): claude's session id, codex's thread id, an ACP session
   * id (the agent must offer `session/load` or `session/resume`, known once it is initialized).
   */
  readonly resumesForeign?: boolean;
};

/** One agent protocol. */
export interface Driver extends DriverTraits {
  readonly name: string;
  /** Starts the agent and opens (or reopens) a session. Throws a BatonError with a fix on failure. */
  open(options: OpenOptions): Promise<AgentSession>;
  /**
   * Takes over a live session a dead owner left (the new owner's recovery), to go on with its turn
   * ({@link AgentSession.continueTurn}). Undefined when it is gone or is not the recorded one (a
   * reused name or pid); never throws.
   */
  adopt?(options: AdoptOptions): Promise<AgentSession | undefined>;
  /** The user's own live tmux sessions (the terminal driver, config `terminal.external`). */
  listExternal?(): Promise<ExternalTerminal[]>;
  /** Checks that the user's tmux session exists; where its active pane works. */
  describeExternal?(name: string): Promise<{ cwd: string }>;
}

/** One of the user's own tmux sessions (list_terminals). */
export type ExternalTerminal = { name: string; attached: boolean; windows: number };

/** The agent session id of an adopted external tmux session is this prefix and the session's name. */
export const EXTERNAL_PREFIX = 'ext:';

/**
 * The tmux session of a terminal run's agent session id: `b_<hex>`, or `b_<hex>/<the program's
 * own session id>` once its hooks said it (claude's session UUID, for `claude --resume`).
 */
export function tmuxSessionOf(agentSessionId: string): string {
  const slash = agentSessionId.indexOf('/');
  return slash < 0 || agentSessionId.startsWith(EXTERNAL_PREFIX)
    ? agentSessionId
    : agentSessionId.slice(0, slash);
}

/** A tool the agent announced, as the run's `tool_call` event (status `pending`). */
export function toolCallEvent(
  id: string,
  info: { kind: string; title: string; locations: string[] },
  input: unknown,
  extra: Record<string, unknown> = {},
): DriverEvent {
  return {
    type: 'tool_call',
    data: {
      tool_call_id: id,
      title: info.title,
      kind: info.kind,
      status: 'pending',
      ...(info.locations.length ? { locations: info.locations } : {}),
      raw_input: input,
      ...extra,
    },
  };
}
