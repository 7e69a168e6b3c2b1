import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { toolCallEvent, type HookReceiver, type TurnSink } from '../driver.js';
import { describeTool } from '../claude-code/tools.js';
import { CodexRollout, describeCodexTool, findCodexRollout } from './codex-rollout.js';
import { ClaudeTranscript, type JsonlTranscript } from './transcript.js';

/**
 * Whose hooks a terminal program has: Claude Code's (`--settings`), Codex's (`-c hooks.…`
 * overrides, trusted for that process only), Gemini CLI's (a per-run system settings file).
 */
export type HookDialect = 'claude' | 'codex' | 'gemini';
export const HOOK_DIALECTS: readonly HookDialect[] = ['claude', 'codex', 'gemini'];

/** How baton's CLI is started for a hook: `<node> <baton cli> hook` (the event is appended). */
export type HookCommand = { command: string; args: string[] };

/** The Claude Code hook events baton listens to. */
export const CLAUDE_HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'PreToolUse',
  'PostToolUse',
  'PermissionRequest',
  'Notification',
  'Stop',
  'StopFailure',
] as const;

/** What a session id a hook reports may look like (claude's UUIDs; also what `--resume` takes). */
export const AGENT_SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The tool a permission prompt is about, from the hooks. */
export type HookTool = { name: string; input: unknown; id?: string };

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The private folder of a terminal run's hook settings: `$BATON_HOME/terminal/<name>.d`. */
export function hookDir(exitDir: string, name: string): string {
  return join(exitDir, `${name}.d`);
}

/** What a run's private hook folder keeps for a new owner that takes the program over (adopt). */
export type HookState = { token: string; dialect: HookDialect; root: string; cwd: string };

/**
 * Makes a terminal run's private hook folder (0700, its files 0600, never an existing file) with a
 * new token, and records what a new owner needs (`hook.json`). `root` is the agent's own folder its
 * transcript must lie in. Returns the token and the env the program's hooks need.
 */
export function prepareHookDir(
  dir: string,
  name: string,
  dialect: HookDialect,
  root: string,
  cwd: string,
): { token: string; env: Record<string, string> } {
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  const token = randomBytes(32).toString('hex');
  const state: HookState = { token, dialect, root, cwd };
  writeFileSync(join(dir, 'hook.json'), JSON.stringify(state), { flag: 'wx', mode: 0o600 });
  return { token, env: { BATON_HOOK_ID: name, BATON_HOOK_TOKEN: token } };
}

/** The shell command one hook runs: baton's hook entry and the event. */
export function hookShellCommand(cmd: HookCommand, event: string): string {
  return [cmd.command, ...cmd.args, event].map(shellQuote).join(' ');
}

/**
 * Writes the per-run Claude Code settings (hooks only) into the run's folder and returns its path.
 * The user's own settings (~/.claude) are never read or written: `claude --settings <file>` adds
 * these hooks to theirs for this process only.
 */
export function writeClaudeSettings(dir: string, cmd: HookCommand): string {
  const hooks: Record<string, unknown[]> = {};
  for (const event of CLAUDE_HOOK_EVENTS) {
    const tools = event === 'PreToolUse' || event === 'PostToolUse' || event === 'PermissionRequest';
    const hook = { type: 'command', command: hookShellCommand(cmd, event), timeout: 3 };
    hooks[event] = [{ ...(tools ? { matcher: '*' } : {}), hooks: [hook] }];
  }
  const settings = join(dir, 'settings.json');
  writeFileSync(settings, JSON.stringify({ hooks }, null, 2), { flag: 'wx', mode: 0o600 });
  return settings;
}

/** The token and folders a run's folder keeps, for {@link ProgramHooks} after an adopt; undefined without. */
export function readHookState(dir: string): HookState | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, 'hook.json'), 'utf8')) as Record<string, unknown>;
    const dialect = (HOOK_DIALECTS as readonly unknown[]).includes(v.dialect ?? 'claude')
      ? ((v.dialect ?? 'claude') as HookDialect)
      : undefined;
    const root = typeof v.root === 'string' ? v.root : v.configDir;
    if (typeof v.token === 'string' && typeof root === 'string' && typeof v.cwd === 'string' && dialect) {
      return { token: v.token, dialect, root, cwd: v.cwd };
    }
  } catch {
    // no hooks for this run
  }
  return undefined;
}

export function removeHookDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Claude Code's config dir for an agent's env: CLAUDE_CONFIG_DIR, else `$HOME/.claude`. */
export function claudeConfigDir(env: Record<string, string>): string {
  return env.CLAUDE_CONFIG_DIR ?? process.env.CLAUDE_CONFIG_DIR ?? join(env.HOME ?? homedir(), '.claude');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The most of a hook's text (an answer, a tool's output) kept in one event. */
const TEXT_MAX = 100_000;

/** Gemini CLI's hook events as Claude Code's (the same meanings under other names). */
const GEMINI_EVENTS: Record<string, string> = {
  BeforeAgent: 'UserPromptSubmit',
  BeforeTool: 'PreToolUse',
  AfterTool: 'PostToolUse',
  AfterAgent: 'Stop',
};

/** Gemini CLI's tool names as Claude Code's (for the tool's kind, title and files). */
const GEMINI_TOOLS: Record<string, string> = {
  write_file: 'Write',
  replace: 'Edit',
  read_file: 'Read',
  run_shell_command: 'Bash',
  glob: 'Glob',
  grep_search: 'Grep',
  web_fetch: 'WebFetch',
  google_web_search: 'WebSearch',
};

/** The transcript reader of a dialect (Gemini CLI keeps no JSONL transcript: none). */
function transcriptOf(dialect: HookDialect, root: string, cwd: string): JsonlTranscript | undefined {
  if (dialect === 'claude') return new ClaudeTranscript(root, cwd);
  if (dialect === 'codex') return new CodexRollout(root, cwd);
  return undefined;
}

/**
 * The state a terminal program's own hooks report (Claude Code's, Codex's, Gemini CLI's): whether
 * hooks work for it (the first one arrived: from then on the screen no longer decides when a turn
 * is over), the turn finished (waiting for input), the tool a permission prompt is about, its
 * session id; and its transcript, read into events at each hook.
 */
export class ProgramHooks implements HookReceiver {
  readonly id: string;
  readonly dialect: HookDialect;
  /** The program's working folder (relative tool paths are inside it). */
  readonly cwd: string;
  readonly #token: Buffer;
  readonly #root: string;
  readonly #transcript: JsonlTranscript | undefined;
  /** A hook arrived: the hooks decide the status. */
  active = false;
  /** The turn ended (Stop): the program waits for input until a prompt or tool starts. */
  waitingInput = false;
  /** The tool of the permission prompt on screen (PermissionRequest), until the tool runs. */
  permission: HookTool | undefined;
  /** The program's own session id (SessionStart). */
  agentSessionId: string | undefined;
  /** The current turn's sink (set by the session). */
  sink: TurnSink | undefined;
  /** The prompt line to report with waiting for input. */
  promptLine: () => string = () => '';
  /** When the last Stop hook arrived (ms since epoch): the latency figure starts there. */
  lastStopAt = 0;
  #lastTool: HookTool | undefined;
  #geminiCall: string | undefined;
  #geminiCalls = 0;

  constructor(id: string, token: string, state: Omit<HookState, 'token'>, resumed?: string) {
    this.id = id;
    this.dialect = state.dialect;
    this.cwd = state.cwd;
    this.#root = state.root;
    this.#token = digest(token);
    this.#transcript = transcriptOf(state.dialect, state.root, state.cwd);
    this.agentSessionId = resumed;
  }

  deliver(token: string, event: string, payload: Record<string, unknown>): boolean {
    if (!timingSafeEqual(digest(token), this.#token)) return false;
    const str = (k: string) => (typeof payload[k] === 'string' ? (payload[k] as string) : undefined);
    // Another thread's hook (Codex's title helper, a sub-agent of its own) is not the run's turn.
    const session = str('session_id');
    if (event !== 'SessionStart' && session && this.agentSessionId && session !== this.agentSessionId) {
      return true;
    }
    this.active = true;
    const sink = this.sink;
    sink?.emit({ type: 'info', data: { hook: event } });
    const meaning = this.dialect === 'gemini' ? (GEMINI_EVENTS[event] ?? event) : event;
    const tool = (): HookTool | undefined => {
      const name = str('tool_name');
      if (!name) return undefined;
      const known = this.dialect === 'gemini' ? (GEMINI_TOOLS[name] ?? name) : name;
      return { name: known, input: payload.tool_input, ...idOf(payload) };
    };
    switch (meaning) {
      case 'SessionStart':
        this.#session(session, str('transcript_path'));
        break;
      case 'UserPromptSubmit':
      case 'PreToolUse':
      case 'PostToolUse':
        this.#transcriptFrom(str('transcript_path'));
        this.permission = undefined;
        if (meaning === 'PreToolUse') this.#lastTool = tool() ?? this.#lastTool;
        if (this.dialect === 'gemini') this.#geminiTool(meaning, payload);
        this.#drain();
        this.#running();
        break;
      case 'PermissionRequest':
        this.permission = tool() ?? this.#lastTool;
        break;
      case 'Notification': {
        const kind = str('notification_type');
        if (kind === 'permission_prompt') this.permission ??= this.#lastTool;
        // Gemini: the approval dialog of the tool its BeforeTool named.
        else if (kind === 'ToolPermission') this.permission = tool() ?? this.#lastTool;
        else if (kind === 'idle_prompt') this.#waiting();
        break;
      }
      case 'Stop':
      case 'StopFailure':
        this.#transcriptFrom(str('transcript_path'));
        this.lastStopAt = Date.now();
        // Gemini CLI keeps no JSONL transcript: its answer comes with AfterAgent.
        if (this.dialect === 'gemini' && str('prompt_response')) {
          sink?.emit({ type: 'message_chunk', text: (str('prompt_response') as string).slice(0, TEXT_MAX) });
        }
        this.#drain();
        this.#waiting();
        break;
    }
    return true;
  }

  /** Gemini CLI's tool calls from its hooks (BeforeTool, AfterTool), as it keeps no transcript. */
  #geminiTool(meaning: string, payload: Record<string, unknown>): void {
    const name = typeof payload.tool_name === 'string' ? payload.tool_name : undefined;
    if (!name || !this.sink) return;
    const tool = { name: GEMINI_TOOLS[name] ?? name, input: payload.tool_input };
    if (meaning === 'PreToolUse') {
      this.#geminiCall = `gemini_${++this.#geminiCalls}`;
      this.sink.emit(toolCallEvent(this.#geminiCall, this.describe(tool), payload.tool_input));
    } else if (meaning === 'PostToolUse' && this.#geminiCall) {
      const response = payload.tool_response;
      const text = typeof response === 'string' ? response : JSON.stringify(response ?? '');
      this.sink.emit({
        type: 'tool_update',
        data: {
          tool_call_id: this.#geminiCall,
          status: 'completed',
          content: [{ type: 'text', text: text.slice(0, TEXT_MAX) }],
        },
      });
      this.#geminiCall = undefined;
    }
  }

  /** The program's session started (or restarted: claude's /clear): its id and transcript. */
  #session(id: string | undefined, transcript: string | undefined): void {
    if (!id || !AGENT_SESSION_ID.test(id)) return;
    // Codex: a thread it keeps no rollout for (its title helper) is not the conversation.
    if (this.dialect === 'codex' && this.agentSessionId && !this.#rolloutOf(id, transcript)) return;
    this.agentSessionId = id;
    this.sink?.setAgentSessionId?.(`${this.id}/${id}`);
    this.#transcriptFrom(transcript ?? (this.dialect === 'codex' ? this.#rolloutOf(id) : undefined));
  }

  #rolloutOf(id: string, named?: string): string | undefined {
    if (named) return named;
    return findCodexRollout(this.#root, id);
  }

  #transcriptFrom(path: string | undefined): void {
    if (path) this.#transcript?.setPath(path);
    else if (this.dialect === 'codex' && this.agentSessionId && !this.#transcript?.path) {
      const found = findCodexRollout(this.#root, this.agentSessionId);
      if (found) this.#transcript?.setPath(found);
    }
  }

  /** Reads the transcript's new lines into the turn's events. */
  #drain(): void {
    const sink = this.sink;
    if (sink) this.#transcript?.drain((e) => sink.emit(e));
  }

  #waiting(): void {
    this.permission = undefined;
    this.waitingInput = true;
    this.sink?.setInputWaiting?.({ prompt: this.promptLine() });
  }

  #running(): void {
    if (!this.waitingInput) return;
    this.waitingInput = false;
    this.sink?.setInputWaiting?.(undefined);
  }

  /** A tool as the run shows it: its kind, title and the files it touches. */
  describe(tool: HookTool): { kind: string; title: string; locations: string[] } {
    return this.dialect === 'codex'
      ? describeCodexTool(tool.name, tool.input, this.cwd)
      : describeTool(tool.name, tool.input, this.cwd);
  }

  /** baton typed a message: the program runs (its UserPromptSubmit hook follows). */
  typed(): void {
    this.#running();
  }

  /** The last of the transcript (the program exited). */
  finish(): void {
    this.#drain();
  }
}

function idOf(payload: Record<string, unknown>): { id?: string } {
  return typeof payload.tool_use_id === 'string' ? { id: payload.tool_use_id } : {};
}
