import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig, DriverName } from '../config.js';
import { parseDuration } from '../duration.js';
import { findExecutable, packageVersion, readVersion } from '../process/which.js';

/** What an agent can do, as `list_agents` reports it (filled from what the contract suite proves). */
export type AgentCapabilities = {
  resume: boolean;
  permissions: boolean;
  structured_output: boolean;
  cancel: boolean;
  terminal: boolean;
};

/**
 * Where an agent finds its credentials. Any one found makes it ready. Values are never read out,
 * only whether they are set.
 */
export type CredentialSpec = {
  /** Environment variables, any of which (non-empty) is enough. */
  env: string[];
  /** Login files: [variable naming the folder, default folder (`~` = the agent's HOME), file name]. */
  files: CredentialFile[];
  /** Config files whose `env_key = "NAME"` lines name further variables (codex custom providers). */
  envKeyFiles?: CredentialFile[];
  /** Settings files that configure credentials when they contain this key (e.g. claude's apiKeyHelper). */
  settingKeys?: [CredentialFile, string][];
  /** Platforms where the CLI keeps its login in the system keychain, which baton cannot look into. */
  keychainOn?: NodeJS.Platform[];
  /** What to do when none is found. */
  fix: string;
};

/** A file in an agent's config folder: [env var naming the folder, default folder, file name]. */
export type CredentialFile = [string | undefined, string, string];

/** A known agent: how to start it and how to tell whether it is installed and ready. */
export type AgentEntry = {
  name: string;
  driver: DriverName;
  command: string;
  args: string[];
  env: Record<string, string>;
  description: string;
  /** Where the entry comes from. */
  source: 'builtin' | 'config';
  /** Arguments that print the version (default `--version`). */
  versionArgs?: string[];
  /** What to do when it is not installed. */
  install?: string;
  credentials?: CredentialSpec;
  /** false (config `check_credentials`): never refuse to start it for want of credentials. */
  checkCredentials?: boolean;
  /** Other programs it needs to work fully: [command, what fails without it, fix]. */
  needs?: [string, string, string][];
  capabilities?: AgentCapabilities;
  demo?: boolean;
  /** Terminal agents: screen patterns, exit keys, stable-screen time. */
  terminal?: {
    readyPattern?: string;
    idlePattern?: string;
    exitKeys?: string[];
    idleMs?: number;
    enterDelayMs?: number;
  };
  /** Remote (a2a) agents: where they are and how to authenticate. */
  remote?: RemoteAgent;
};

/** A remote agent (driver a2a) as configured. */
export type RemoteAgent = {
  url: string;
  token?: string;
  tokenEnv?: string;
  headers: Record<string, string>;
};

/** The HTTP headers for a remote agent: its own, plus `Authorization: Bearer` from token or token_env. */
export function remoteHeaders(
  remote: RemoteAgent,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const token = remote.token ?? (remote.tokenEnv ? env[remote.tokenEnv] : undefined);
  return { ...remote.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
}

/** What `list_agents` / `baton doctor` report about one agent. */
export type AgentInfo = {
  name: string;
  driver: DriverName;
  description: string;
  source: 'builtin' | 'config';
  command: string;
  installed: boolean;
  ready: boolean;
  version?: string;
  /** Which credential was found (`ANTHROPIC_API_KEY is set`, `login in ~/.codex/auth.json`), never its value. */
  credentials?: string;
  problem?: string;
  fix?: string;
  /** Things that work only partly, with their fix (e.g. a missing helper program). */
  warnings?: string[];
  capabilities: AgentCapabilities;
};

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled scripted agent behind `demo`. */
export const SCRIPTED_AGENT_PATH = join(here, '..', 'agents', 'scripted-agent.js');

const ACP_CAPABILITIES: AgentCapabilities = {
  resume: true,
  permissions: true,
  structured_output: true,
  cancel: true,
  terminal: false,
};

/** Remote A2A agents: tasks continue by context id; permissions come back as input-required. */
const A2A_CAPABILITIES: AgentCapabilities = {
  resume: true,
  permissions: true,
  structured_output: true,
  cancel: true,
  terminal: false,
};

/** Interactive programs in tmux: no resume, yes/no prompts as permissions, the screen as output. */
const TERMINAL_CAPABILITIES: AgentCapabilities = {
  resume: false,
  permissions: true,
  structured_output: false,
  cancel: true,
  terminal: true,
};

const ANTHROPIC_CREDENTIALS: CredentialSpec = {
  env: [
    'ANTHROPIC_API_KEY',
    'ANTHROPIC_AUTH_TOKEN',
    'CLAUDE_CODE_OAUTH_TOKEN',
    'CLAUDE_CODE_USE_BEDROCK',
    'CLAUDE_CODE_USE_VERTEX',
  ],
  files: [['CLAUDE_CONFIG_DIR', '~/.claude', '.credentials.json']],
  settingKeys: [[['CLAUDE_CONFIG_DIR', '~/.claude', 'settings.json'], 'apiKeyHelper']],
  keychainOn: ['darwin'],
  fix: 'set ANTHROPIC_API_KEY (in your environment, or under "env" of this agent in the baton config), or run `claude` once and log in (`/login`)',
};

const OPENAI_CREDENTIALS: CredentialSpec = {
  env: ['OPENAI_API_KEY', 'CODEX_API_KEY'],
  files: [['CODEX_HOME', '~/.codex', 'auth.json']],
  envKeyFiles: [['CODEX_HOME', '~/.codex', 'config.toml']],
  fix: 'set OPENAI_API_KEY (in your environment, or under "env" of this agent in the baton config), or run `codex login`',
};

const GEMINI_CREDENTIALS: CredentialSpec = {
  env: [
    'GEMINI_API_KEY',
    'GOOGLE_API_KEY',
    'GOOGLE_GENAI_USE_VERTEXAI',
    'GOOGLE_GENAI_USE_GCA',
    'GOOGLE_APPLICATION_CREDENTIALS',
  ],
  files: [
    [undefined, '~/.gemini', 'oauth_creds.json'],
    ['CLOUDSDK_CONFIG', '~/.config/gcloud', 'application_default_credentials.json'],
  ],
  fix: 'set GEMINI_API_KEY (in your environment, or under "env" of this agent in the baton config), or run `gemini` once and sign in with Google',
};

function acp(
  name: string,
  command: string,
  args: string[],
  description: string,
  install: string,
  extra: Partial<AgentEntry> = {},
): AgentEntry {
  return {
    name,
    driver: 'acp',
    command,
    args,
    env: {},
    description,
    source: 'builtin',
    install,
    capabilities: ACP_CAPABILITIES,
    ...extra,
  };
}

/** Built-in agents: the real CLIs (proven offline by the contract suite) and other ACP agents. */
export const BUILTIN_AGENTS: readonly AgentEntry[] = [
  {
    name: 'demo',
    driver: 'acp',
    command: process.execPath,
    args: [SCRIPTED_AGENT_PATH],
    env: {},
    description:
      "Demo: baton's scripted ACP agent. No model and no API key: it echoes, plans, and asks before writing a file. For trying baton.",
    source: 'builtin',
    capabilities: ACP_CAPABILITIES,
    demo: true,
  },
  {
    name: 'claude-code',
    driver: 'claude-code',
    command: 'claude',
    args: [],
    env: {},
    description: 'Claude Code, driven natively (claude -p, stream-json, permission prompts over stdio)',
    source: 'builtin',
    install: 'npm install -g @anthropic-ai/claude-code',
    credentials: ANTHROPIC_CREDENTIALS,
    capabilities: { resume: true, permissions: true, structured_output: true, cancel: true, terminal: false },
  },
  {
    name: 'codex',
    driver: 'codex',
    command: 'codex',
    args: [],
    env: {},
    description: 'OpenAI Codex, driven natively over codex app-server (JSON-RPC)',
    source: 'builtin',
    install: 'npm install -g @openai/codex',
    credentials: OPENAI_CREDENTIALS,
    capabilities: { resume: true, permissions: true, structured_output: true, cancel: true, terminal: false },
  },
  acp(
    'gemini',
    'gemini',
    ['--acp'],
    'Gemini CLI over ACP (gemini --acp)',
    'npm install -g @google/gemini-cli',
    {
      credentials: GEMINI_CREDENTIALS,
      // baton confines runs to its roots and asks for every tool call, so the run's folder is trusted
      // for this process only (no edit of the user's ~/.gemini); without it gemini refuses
      // "allow always" answers in folders the user never trusted.
      env: { GEMINI_CLI_TRUST_WORKSPACE: 'true' },
    },
  ),
  acp(
    'claude-acp',
    'claude-agent-acp',
    [],
    'Claude Code through the ACP adapter (claude-agent-acp)',
    'npm install -g @zed-industries/claude-agent-acp',
    { credentials: ANTHROPIC_CREDENTIALS },
  ),
  acp(
    'codex-acp',
    'codex-acp',
    [],
    'Codex through the ACP adapter (codex-acp)',
    'npm install -g @zed-industries/codex-acp',
    {
      credentials: OPENAI_CREDENTIALS,
      needs: [
        [
          'bwrap',
          'shell commands fail in its read-only and auto modes (codex-acp ships no bubblewrap)',
          'apt-get install bubblewrap (or put a bwrap on PATH)',
        ],
      ],
    },
  ),
  acp(
    'goose',
    'goose',
    ['acp'],
    'Block goose over ACP (goose acp)',
    'install goose from https://block.github.io/goose/',
  ),
  acp('opencode', 'opencode', ['acp'], 'OpenCode over ACP (opencode acp)', 'npm install -g opencode-ai'),
  acp(
    'qwen',
    'qwen',
    ['--acp'],
    'Qwen Code over ACP (qwen --acp)',
    'npm install -g @qwen-code/qwen-code (needs Node >= 22)',
  ),
  acp(
    'cursor',
    'cursor-agent',
    ['acp'],
    'Cursor agent CLI over ACP (cursor-agent acp)',
    'install the Cursor CLI: https://cursor.com/cli',
  ),
  acp('kimi', 'kimi', ['acp'], 'Kimi CLI over ACP (kimi acp)', 'install Kimi CLI: uv tool install kimi-cli'),
  acp(
    'auggie',
    'auggie',
    ['--acp'],
    'Augment Code CLI over ACP (auggie --acp)',
    'npm install -g @augmentcode/auggie',
  ),
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
    capabilities: TERMINAL_CAPABILITIES,
    // The empty input box: `❯ ` alone on its line (the screen is stable: no spinner).
    terminal: { readyPattern: '^\\s*❯\\s*$', idlePattern: '^\\s*❯\\s*$', exitKeys: ['/exit'] },
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
    capabilities: TERMINAL_CAPABILITIES,
    terminal: {
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
    capabilities: TERMINAL_CAPABILITIES,
    terminal: {
      readyPattern: '^ >   Type your message or @path/to/file\\s*$',
      // Working, the line above the input box animates ("⠋ Thinking... (esc to cancel, 5s)");
      // idle, it holds only the shortcuts hint.
      idlePattern:
        '^\\s+\\? for shortcuts\\s*\\n─+\\s*\\n(?:.*\\n){0,3}? >   Type your message or @path/to/file\\s*$',
      exitKeys: ['C-c', 'C-c'],
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
 * Built-in agents overlaid with the user's config (same name = override). An override with the
 * same driver keeps the built-in's install hint, credential check and capabilities, so `doctor`
 * still says how to fix it.
 */
export function buildCatalog(userAgents: Record<string, AgentConfig>, home: string): Map<string, AgentEntry> {
  const catalog = new Map<string, AgentEntry>();
  for (const a of BUILTIN_AGENTS) {
    // The demo keeps its sessions under $BATON_HOME so follow-ups work across restarts.
    catalog.set(a.name, a.demo ? { ...a, args: [...a.args, '--state', join(home, 'demo-sessions')] } : a);
  }
  for (const [name, a] of Object.entries(userAgents)) {
    const base = catalog.get(name);
    const inheritedTerminal = base?.driver === a.driver ? base.terminal : undefined;
    const inherited =
      base && base.driver === a.driver && !base.demo
        ? {
            install: base.install,
            credentials: base.credentials,
            needs: base.needs,
            capabilities: base.capabilities,
          }
        : {};
    catalog.set(name, {
      ...inherited,
      name,
      driver: a.driver,
      command: a.command ?? a.url ?? '',
      args: a.args ?? [],
      env: a.env ?? {},
      description:
        a.description ??
        (a.driver === 'a2a' ? `A2A agent at ${a.url}` : `${a.command} ${(a.args ?? []).join(' ')}`.trim()),
      source: 'config',
      ...(a.driver === 'a2a' && a.url
        ? {
            capabilities: A2A_CAPABILITIES,
            remote: {
              url: a.url,
              ...(a.token ? { token: a.token } : {}),
              ...(a.token_env ? { tokenEnv: a.token_env } : {}),
              headers: a.headers ?? {},
            },
          }
        : {}),
      ...(a.check_credentials === false ? { checkCredentials: false } : {}),
      ...(a.driver === 'terminal'
        ? {
            capabilities: TERMINAL_CAPABILITIES,
            // A config entry named like a built-in terminal agent keeps the patterns it does not set.
            terminal: {
              readyPattern: a.ready_pattern ?? inheritedTerminal?.readyPattern,
              idlePattern: a.idle_pattern ?? inheritedTerminal?.idlePattern,
              exitKeys: a.exit_keys ?? inheritedTerminal?.exitKeys,
              idleMs:
                a.idle_time === undefined
                  ? inheritedTerminal?.idleMs
                  : parseDuration(a.idle_time, 'idle_time'),
              enterDelayMs:
                a.enter_delay === undefined
                  ? inheritedTerminal?.enterDelayMs
                  : parseDuration(a.enter_delay, 'enter_delay'),
            },
          }
        : {}),
    });
  }
  return catalog;
}

/**
 * The variables baton sets for an agent's process on top of its own environment: the agent's
 * `env`, plus fixes for known quirks.
 */
export function launchEnv(entry: AgentEntry, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env = { ...entry.env };
  const sandbox = env.IS_SANDBOX ?? base.IS_SANDBOX;
  // HACK: claude-agent-acp (0.23.1) takes any non-empty IS_SANDBOX as leave to start its Claude CLI
  // with --dangerously-skip-permissions allowed, but the CLI run as root accepts only IS_SANDBOX=1
  // and exits ("cannot be used with root/sudo privileges"), so every session/new fails with "Query
  // closed before response received". The person said they are in a sandbox: say it the CLI's way.
  // Remove when the adapter checks the value as the CLI does.
  if (entry.name === 'claude-acp' && sandbox && sandbox !== '1') env.IS_SANDBOX = '1';
  return env;
}

/** The environment an agent process gets: baton's own, overlaid with {@link launchEnv}. */
function agentEnv(entry: AgentEntry, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, ...launchEnv(entry, base) };
}

/** The path of a credential file for the agent's environment. */
function credentialPath([dirVar, dir, file]: CredentialFile, env: NodeJS.ProcessEnv): string {
  const folder = (dirVar && env[dirVar]) || dir.replace(/^~(?=$|\/)/, env.HOME || homedir());
  return join(folder, file);
}

/**
 * Looks for an agent's credentials in its environment and login files. Returns where they were
 * found (never the value), or undefined when none was.
 */
export function findCredentials(
  spec: CredentialSpec,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  for (const name of spec.env) if (env[name]) return `${name} is set`;
  for (const f of spec.files) {
    const path = credentialPath(f, env);
    if (existsSync(path)) return `login file ${path}`;
  }
  for (const [f, key] of spec.settingKeys ?? []) {
    const path = credentialPath(f, env);
    try {
      if (readFileSync(path, 'utf8').includes(`"${key}"`)) return `${key} in ${path}`;
    } catch {
      // no such settings file
    }
  }
  for (const f of spec.envKeyFiles ?? []) {
    const path = credentialPath(f, env);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*env_key\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"/gm)) {
      const name = m[1] as string;
      if (env[name]) return `${name} is set (env_key of a model provider in ${path})`;
    }
  }
  if (spec.keychainOn?.includes(platform))
    return `not checked: on ${platform} the login may be in the system keychain`;
  return undefined;
}

/**
 * Why an agent cannot run now, with the fix, or undefined when it can: checks that its command is
 * installed and that its credentials are configured. Synchronous and cheap (no process started).
 */
export function readinessProblem(
  entry: AgentEntry,
  env: NodeJS.ProcessEnv = process.env,
): { code: 'AGENT_NOT_INSTALLED' | 'AGENT_NOT_READY'; problem: string; fix: string } | undefined {
  if (entry.remote) {
    const { tokenEnv, token } = entry.remote;
    if (!token && tokenEnv && !env[tokenEnv]) {
      return {
        code: 'AGENT_NOT_READY',
        problem: `${tokenEnv} is not set (the bearer token of the remote agent at ${entry.remote.url})`,
        fix: `set ${tokenEnv} in baton's environment to the remote baton's token`,
      };
    }
    return undefined;
  }
  if (!findExecutable(entry.command, agentEnv(entry, env).PATH)) {
    return {
      code: 'AGENT_NOT_INSTALLED',
      problem: `${entry.command} is not installed or not on PATH`,
      fix: entry.install ?? `install ${entry.command} or fix agents.${entry.name}.command in the config`,
    };
  }
  if (entry.driver === 'terminal' && !findExecutable('tmux', agentEnv(entry, env).PATH)) {
    return {
      code: 'AGENT_NOT_INSTALLED',
      problem: 'tmux is not installed (terminal agents run inside tmux)',
      fix: 'install tmux: apt-get install tmux, dnf install tmux, or brew install tmux',
    };
  }
  if (
    entry.credentials &&
    entry.checkCredentials !== false &&
    !findCredentials(entry.credentials, agentEnv(entry, env))
  ) {
    return {
      code: 'AGENT_NOT_READY',
      problem: `no credentials found for ${entry.name} (looked for ${entry.credentials.env.join(', ')} and its login file)`,
      fix: `${entry.credentials.fix}; or, if it authenticates in a way baton cannot see, set "check_credentials": false under agents.${entry.name} in the baton config`,
    };
  }
  return undefined;
}

const versionCache = new Map<string, Promise<string | undefined>>();

/** Checks one agent: installed, version, credentials. Versions are cached per process. */
export async function inspectAgent(
  entry: AgentEntry,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentInfo> {
  const base = {
    name: entry.name,
    driver: entry.driver,
    description: entry.description,
    source: entry.source,
    command: [entry.command, ...entry.args].join(' '),
    capabilities: entry.capabilities ?? ACP_CAPABILITIES,
  };
  if (entry.remote) return inspectRemote(entry, entry.remote, base, env);
  const full = agentEnv(entry, env);
  const path = findExecutable(entry.command, full.PATH);
  const problem = readinessProblem(entry, env);
  if (!path) {
    return { ...base, installed: false, ready: false, problem: problem?.problem, fix: problem?.fix };
  }
  if (entry.demo) return { ...base, installed: true, ready: true, version: 'built-in' };
  let version = versionCache.get(path);
  if (!version) {
    version = readVersion(path, entry.versionArgs ?? ['--version']).then((v) => v ?? packageVersion(path));
    versionCache.set(path, version);
  }
  const v = await version;
  const credentials = entry.credentials
    ? (findCredentials(entry.credentials, full) ??
      (entry.checkCredentials === false ? 'not checked (check_credentials: false)' : undefined))
    : undefined;
  const warnings = (entry.needs ?? [])
    .filter(([cmd]) => !findExecutable(cmd, full.PATH))
    .map(([cmd, what, fix]) => `${cmd} not found: ${what}. Fix: ${fix}`);
  return {
    ...base,
    installed: true,
    ready: !problem,
    ...(v ? { version: v } : {}),
    ...(credentials ? { credentials } : {}),
    ...(problem ? { problem: problem.problem, fix: problem.fix } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * A remote agent is ready when its agent card can be fetched with its headers (5 s at most): the
 * card's version is reported; a refused token or an unreachable host is the problem, with the fix.
 */
async function inspectRemote(
  entry: AgentEntry,
  remote: RemoteAgent,
  base: Omit<AgentInfo, 'installed' | 'ready'>,
  env: NodeJS.ProcessEnv,
): Promise<AgentInfo> {
  const problem = readinessProblem(entry, env);
  if (problem) return { ...base, installed: true, ready: false, problem: problem.problem, fix: problem.fix };
  const cardUrl = new URL(
    '.well-known/agent-card.json',
    remote.url.endsWith('/') ? remote.url : `${remote.url}/`,
  );
  try {
    const res = await fetch(cardUrl, {
      headers: { ...remoteHeaders(remote, env), 'A2A-Version': '1.0' },
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 401 || res.status === 403) {
      return {
        ...base,
        installed: true,
        ready: false,
        problem: `${cardUrl.origin} refused the token (HTTP ${res.status})`,
        fix: `set agents.${entry.name}.token or token_env to the remote baton's token`,
      };
    }
    if (!res.ok) {
      return {
        ...base,
        installed: true,
        ready: false,
        problem: `no agent card at ${cardUrl.href} (HTTP ${res.status})`,
        fix: `check agents.${entry.name}.url (a baton serves its agents at http://host:port/a2a/<agent>/ with --a2a)`,
      };
    }
    const card = (await res.json()) as { version?: unknown };
    return {
      ...base,
      installed: true,
      ready: true,
      ...(typeof card.version === 'string' ? { version: card.version } : {}),
    };
  } catch (err) {
    return {
      ...base,
      installed: true,
      ready: false,
      problem: `cannot reach ${cardUrl.origin}: ${err instanceof Error ? err.message : String(err)}`,
      fix: `start the remote baton (baton serve --a2a) or fix agents.${entry.name}.url`,
    };
  }
}
