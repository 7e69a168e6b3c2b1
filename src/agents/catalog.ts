import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig, DriverName } from '../config.js';
import { ACP_BUILTINS, ACP_CAPABILITIES, fixLaunchEnv } from '../drivers/acp/builtins.js';
import {
  A2A_CAPABILITIES,
  inspectRemote,
  remoteOf,
  remoteProblem,
  type RemoteAgent,
} from '../drivers/a2a/card.js';
import { CLAUDE_CODE_BUILTINS } from '../drivers/claude-code/builtins.js';
import { CODEX_BUILTINS } from '../drivers/codex/builtins.js';
import {
  TERMINAL_BUILTINS,
  TERMINAL_CAPABILITIES,
  TMUX_MISSING,
  terminalSettings,
} from '../drivers/terminal/builtins.js';
import { findExecutable, packageVersion, readVersion } from '../process/which.js';
import type { RunnerConfig } from '../runners/options.js';
import { runnerFor } from '../runners/runner.js';

// The engine reaches remote agents' headers through the catalog.
export { remoteHeaders } from '../drivers/a2a/card.js';
export type { RemoteAgent } from '../drivers/a2a/card.js';

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
    /** The program reports its state through its own hooks (see TerminalOptions.hooks). */
    hooks?: 'claude' | 'codex' | 'gemini';
  };
  /** Remote (a2a) agents: where they are and how to authenticate. */
  remote?: RemoteAgent;
  /** Where its process runs (config `runner`) and baton's state folder (its connection sockets); undefined: here. */
  runner?: { config: Exclude<RunnerConfig, { type: 'local' }>; stateDir: string };
};

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
export const SCRIPTED_AGENT_PATH = join(here, 'scripted-agent.js');

/** baton's own scripted ACP agent, for trying baton without a model or a key. */
const DEMO_AGENT: AgentEntry = {
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
};

/**
 * Built-in agents: the real CLIs (proven offline by the contract suite) and other ACP agents, each
 * driver's entries next to the driver (`drivers/<driver>/builtins.ts`).
 */
export const BUILTIN_AGENTS: readonly AgentEntry[] = [
  DEMO_AGENT,
  ...CLAUDE_CODE_BUILTINS,
  ...CODEX_BUILTINS,
  ...ACP_BUILTINS,
  ...TERMINAL_BUILTINS,
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
      command: a.driver === 'a2a' ? (a.command ?? a.url) : a.command,
      args: a.args ?? [],
      env: a.env ?? {},
      description:
        a.description ??
        (a.driver === 'a2a' ? `A2A agent at ${a.url}` : `${a.command} ${(a.args ?? []).join(' ')}`.trim()),
      source: 'config',
      ...(a.driver === 'a2a' ? { capabilities: A2A_CAPABILITIES, remote: remoteOf(a) } : {}),
      ...(a.check_credentials === false ? { checkCredentials: false } : {}),
      ...('runner' in a && a.runner && a.runner.type !== 'local'
        ? { runner: { config: a.runner, stateDir: home } }
        : {}),
      ...(a.driver === 'terminal'
        ? {
            capabilities: inheritedTerminal
              ? (base?.capabilities ?? TERMINAL_CAPABILITIES)
              : TERMINAL_CAPABILITIES,
            terminal: terminalSettings(a, inheritedTerminal),
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
  return fixLaunchEnv(entry.name, { ...entry.env }, base);
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
  if (entry.remote) return remoteProblem(entry.remote, env);
  // Its command and credentials are on the runner's host: checked there (baton doctor), not here.
  if (entry.runner) return undefined;
  const full = agentEnv(entry, env);
  if (!findExecutable(entry.command, full.PATH)) {
    return {
      code: 'AGENT_NOT_INSTALLED',
      problem: `${entry.command} is not installed or not on PATH`,
      fix: entry.install ?? `install ${entry.command} or fix agents.${entry.name}.command in the config`,
    };
  }
  if (entry.driver === 'terminal' && !findExecutable('tmux', full.PATH)) {
    return { code: 'AGENT_NOT_INSTALLED', ...TMUX_MISSING };
  }
  if (entry.credentials && entry.checkCredentials !== false && !findCredentials(entry.credentials, full)) {
    return {
      code: 'AGENT_NOT_READY',
      problem: `no credentials found for ${entry.name} (looked for ${entry.credentials.env.join(', ')} and its login file)`,
      fix: `${entry.credentials.fix}; or, if it authenticates in a way baton cannot see, set "check_credentials": false under agents.${entry.name} in the baton config`,
    };
  }
  return undefined;
}

const versionCache = new Map<string, Promise<string | undefined>>();

/** How `baton doctor` says where an agent of each runner runs (before the runner's `where`). */
const RUNS_ON: Record<RunnerConfig['type'], string> = {
  local: 'on',
  ssh: 'over ssh on',
  container: 'in a container:',
  kubernetes: 'in a sandbox on',
};

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
  if (entry.runner) {
    const runner = runnerFor(entry.runner.config, entry.runner.stateDir);
    const problem = await runner.check();
    return {
      ...base,
      command: `${base.command} (${RUNS_ON[runner.type]} ${runner.where})`,
      installed: !problem,
      ready: !problem,
      ...(problem ? problem : {}),
    };
  }
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
