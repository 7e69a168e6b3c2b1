import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HookReceiver, TurnSink } from '../driver.js';
import { ClaudeTranscript } from './transcript.js';

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

/**
 * Writes the per-run Claude Code settings (hooks only) into the run's private folder (0700, the
 * files 0600, never an existing file) and returns its path, the token and the env the program
 * needs. The user's own settings (~/.claude) are never read or written: `claude --settings <file>`
 * adds these hooks to theirs for this process only.
 */
export function prepareClaudeHooks(
  dir: string,
  name: string,
  cmd: HookCommand,
  configDir: string,
  cwd: string,
): { settings: string; token: string; env: Record<string, string> } {
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  const token = randomBytes(32).toString('hex');
  const base = [cmd.command, ...cmd.args].map(shellQuote).join(' ');
  const hook = (event: string) => ({ type: 'command', command: `${base} ${event}`, timeout: 3 });
  const hooks: Record<string, unknown[]> = {};
  for (const event of CLAUDE_HOOK_EVENTS) {
    const tools = event === 'PreToolUse' || event === 'PostToolUse' || event === 'PermissionRequest';
    hooks[event] = [{ ...(tools ? { matcher: '*' } : {}), hooks: [hook(event)] }];
  }
  const settings = join(dir, 'settings.json');
  writeFileSync(settings, JSON.stringify({ hooks }, null, 2), { flag: 'wx', mode: 0o600 });
  // For a new owner that takes the program over (adopt): the token and where the transcript may be.
  writeFileSync(join(dir, 'hook.json'), JSON.stringify({ token, configDir, cwd }), {
    flag: 'wx',
    mode: 0o600,
  });
  return { settings, token, env: { BATON_HOOK_ID: name, BATON_HOOK_TOKEN: token } };
}

/** The token and config dir a run's folder keeps, for {@link ClaudeHooks} after an adopt; undefined without. */
export function readHookState(dir: string): { token: string; configDir: string; cwd: string } | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, 'hook.json'), 'utf8')) as Record<string, unknown>;
    if (typeof v.token === 'string' && typeof v.configDir === 'string' && typeof v.cwd === 'string') {
      return { token: v.token, configDir: v.configDir, cwd: v.cwd };
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

/**
 * The state Claude Code's hooks report for one terminal program: whether hooks work for it (the
 * first one arrived: from then on the screen no longer decides when a turn is over), the turn
 * finished (waiting for input), the tool a permission prompt is about, its session id; and its
 * transcript, read into events at each hook.
 */
export class ClaudeHooks implements HookReceiver {
  readonly id: string;
  /** The program's working folder (relative tool paths are inside it). */
  readonly cwd: string;
  readonly #token: Buffer;
  readonly #transcript: ClaudeTranscript;
  /** A hook arrived: the hooks decide the status. */
  active = false;
  /** The turn ended (Stop): the program waits for input until a prompt or tool starts. */
  waitingInput = false;
  /** The tool of the permission prompt on screen (PermissionRequest), until the tool runs. */
  permission: HookTool | undefined;
  /** claude's own session id (SessionStart). */
  agentSessionId: string | undefined;
  /** The current turn's sink (set by the session). */
  sink: TurnSink | undefined;
  /** The prompt line to report with waiting for input. */
  promptLine: () => string = () => '';
  /** When the last Stop hook arrived (ms since epoch): the latency figure starts there. */
  lastStopAt = 0;
  #lastTool: HookTool | undefined;

  constructor(id: string, token: string, configDir: string, cwd: string, resumed?: string) {
    this.id = id;
    this.cwd = cwd;
    this.#token = digest(token);
    this.#transcript = new ClaudeTranscript(configDir, cwd);
    this.agentSessionId = resumed;
  }

  deliver(token: string, event: string, payload: Record<string, unknown>): boolean {
    if (!timingSafeEqual(digest(token), this.#token)) return false;
    this.active = true;
    const sink = this.sink;
    sink?.emit({ type: 'info', data: { hook: event } });
    if (typeof payload.transcript_path === 'string') this.#transcript.setPath(payload.transcript_path);
    const str = (k: string) => (typeof payload[k] === 'string' ? (payload[k] as string) : undefined);
    switch (event) {
      case 'SessionStart': {
        const id = str('session_id');
        if (id && AGENT_SESSION_ID.test(id)) {
          this.agentSessionId = id;
          sink?.setAgentSessionId?.(`${this.id}/${id}`);
        }
        break;
      }
      case 'UserPromptSubmit':
      case 'PreToolUse':
      case 'PostToolUse':
        this.permission = undefined;
        if (event === 'PreToolUse' && str('tool_name')) {
          this.#lastTool = { name: str('tool_name') as string, input: payload.tool_input, ...idOf(payload) };
        }
        this.#drain();
        this.#running();
        break;
      case 'PermissionRequest':
        this.permission = str('tool_name')
          ? { name: str('tool_name') as string, input: payload.tool_input, ...idOf(payload) }
          : this.#lastTool;
        break;
      case 'Notification':
        if (str('notification_type') === 'permission_prompt') this.permission ??= this.#lastTool;
        else if (str('notification_type') === 'idle_prompt') this.#waiting();
        break;
      case 'Stop':
      case 'StopFailure':
        this.lastStopAt = Date.now();
        this.#drain();
        this.#waiting();
        break;
    }
    return true;
  }

  /** Reads the transcript's new lines into the turn's events. */
  #drain(): void {
    const sink = this.sink;
    if (sink) this.#transcript.drain((e) => sink.emit(e));
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
