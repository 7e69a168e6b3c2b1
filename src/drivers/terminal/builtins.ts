import type { AgentCapabilities, AgentEntry } from '../../agents/catalog.js';
import { parseDuration } from '../../duration.js';
import { GEMINI_CREDENTIALS } from '../acp/builtins.js';
import { ANTHROPIC_CREDENTIALS } from '../claude-code/builtins.js';
import { OPENAI_CREDENTIALS } from '../codex/builtins.js';
import type { TerminalAgentConfig } from './options.js';

/** Interactive programs in tmux: no resume, yes/no prompts as permissions, the screen as output. */
export const TERMINAL_CAPABILITIES: AgentCapabilities = {
  resume: false,
  permissions: true,
  structured_output: false,
  cancel: true,
  terminal: true,
};

/** The built-in agents of the terminal driver: interactive CLIs and any program (`terminal`). */
export const TERMINAL_BUILTINS: readonly AgentEntry[] = [
  {
    name: 'claude-tui',
    driver: 'terminal',
    command: 'claude',
    args: [],
    env: {},
    description:
      "Claude Code's interactive UI in a terminal (tmux): watch or take over with baton attach. Its permission menus become permission requests.",
    source: 'builtin',
    install:
      'npm install -g @anthropic-ai/claude-code (then run claude once yourself to finish its first-run setup)',
    credentials: ANTHROPIC_CREDENTIALS,
    // Its hooks say its session id: a follow-up after it exited runs `claude --resume <id>`.
    capabilities: { ...TERMINAL_CAPABILITIES, resume: true },
    // The empty input box: `❯ ` alone on its line (the screen is stable: no spinner). Its own hooks
    // (a per-run --settings file) report turn ends, permission prompts and its session.
    terminal: {
      readyPattern: '^\\s*❯\\s*$',
      idlePattern: '^\\s*❯\\s*$',
      exitKeys: ['/exit'],
      hooks: 'claude',
    },
  },
  {
    name: 'codex-tui',
    driver: 'terminal',
    command: 'codex',
    // No background app-server daemon: it would outlive the run (its own session) and a sandboxed
    // write through it failed offline.
    args: ['--no-daemon'],
    env: {},
    description:
      "OpenAI Codex's interactive UI in a terminal (tmux): watch or take over with baton attach. Its approval menus become permission requests.",
    source: 'builtin',
    install:
      'npm install -g @openai/codex (then run codex once yourself: log in, trust the folder, dismiss the model notices)',
    credentials: OPENAI_CREDENTIALS,
    // Its hooks say its thread id: a follow-up after it exited runs `codex resume <id>`.
    capabilities: { ...TERMINAL_CAPABILITIES, resume: true },
    // Its own hooks (`-c hooks.…` overrides, trusted for this process only) report turn ends,
    // approvals with their tool and input, and its thread; the patterns serve until one arrives.
    terminal: {
      hooks: 'codex',
      readyPattern: '^› Ask Codex to do anything\\s*$',
      // The input box stays on screen while codex works (and streams text without a status line):
      // idle is the box under "Worked for …" or "■ …" (a finished or interrupted turn), or a fresh screen.
      idlePattern:
        '^\\s*(?:Worked for .*|■ .*)\\n\\s*\\n› Ask Codex to do anything\\s*$|(?<![\\s\\S])(?![\\s\\S]*^› (?!Ask Codex to do anything))[\\s\\S]*^› Ask Codex to do anything\\s*$',
      exitKeys: ['/quit'],
    },
  },
  {
    name: 'gemini-tui',
    driver: 'terminal',
    command: 'gemini',
    args: [],
    // Like the gemini ACP entry: the run's cwd is a folder the caller chose (within baton's roots).
    env: { GEMINI_CLI_TRUST_WORKSPACE: 'true' },
    description:
      "Gemini CLI's interactive UI in a terminal (tmux): watch or take over with baton attach. Its approval dialogs become permission requests.",
    source: 'builtin',
    install: 'npm install -g @google/gemini-cli (then run gemini once yourself to choose how it logs in)',
    credentials: GEMINI_CREDENTIALS,
    // Its hooks say its session id: a follow-up after it exited runs `gemini --resume <id>`.
    capabilities: { ...TERMINAL_CAPABILITIES, resume: true },
    terminal: {
      readyPattern: '^ >   Type your message or @path/to/file\\s*$',
      // Working, the line above the input box animates ("⠋ Thinking... (esc to cancel, 5s)");
      // idle, it holds only the shortcuts hint.
      idlePattern:
        '^\\s+\\? for shortcuts\\s*\\n─+\\s*\\n(?:.*\\n){0,3}? >   Type your message or @path/to/file\\s*$',
      exitKeys: ['C-c', 'C-c'],
      // Its own hooks (a per-run GEMINI_CLI_HOME whose settings.json adds them to the person's).
      hooks: 'gemini',
      // Gemini CLI takes an Enter within 40 ms of a paste as a newline.
      enterDelayMs: 300,
    },
  },
  {
    name: 'aider',
    driver: 'terminal',
    command: 'aider',
    args: [],
    env: {},
    description:
      'Aider, the AI pair programmer, in a terminal (tmux): its (Y)es/(N)o questions become permission requests. Patterns not yet tested against the real aider.',
    source: 'builtin',
    install:
      'python -m pip install aider-install && aider-install (then give it a model and key in ~/.aider.conf.yml)',
    capabilities: TERMINAL_CAPABILITIES,
    // Its input prompt: "> " (code mode) or "<mode>> " (architect, ask...).
    terminal: { readyPattern: '^(?:[a-z-]+)?> ?$', idlePattern: '^(?:[a-z-]+)?> ?$', exitKeys: ['/exit'] },
  },
  {
    name: 'terminal',
    driver: 'terminal',
    command: 'sh',
    args: [],
    env: {},
    description:
      'Any program in a terminal (tmux): spawn_run with command (argv). Off unless the config sets "terminal": { "allow_any_command": true }',
    source: 'builtin',
    install: 'install tmux',
    capabilities: TERMINAL_CAPABILITIES,
    terminal: {},
  },
];

/**
 * The terminal settings of a configured terminal agent: what it sets, else what the entry of the
 * same name it overrides had (`inherited`), so a config entry named like a built-in terminal agent
 * keeps the patterns it does not set.
 */
export function terminalSettings(
  a: TerminalAgentConfig,
  inherited: AgentEntry['terminal'],
): AgentEntry['terminal'] {
  return {
    readyPattern: a.ready_pattern ?? inherited?.readyPattern,
    idlePattern: a.idle_pattern ?? inherited?.idlePattern,
    exitKeys: a.exit_keys ?? inherited?.exitKeys,
    idleMs: a.idle_time === undefined ? inherited?.idleMs : parseDuration(a.idle_time, 'idle_time'),
    enterDelayMs:
      a.enter_delay === undefined ? inherited?.enterDelayMs : parseDuration(a.enter_delay, 'enter_delay'),
    ...(inherited?.hooks ? { hooks: inherited.hooks } : {}),
  };
}

/** Why a terminal agent cannot run without tmux, with the fix. */
export const TMUX_MISSING = {
  problem: 'tmux is not installed (terminal agents run inside tmux)',
  fix: 'install tmux: apt-get install tmux, dnf install tmux, or brew install tmux',
} as const;
