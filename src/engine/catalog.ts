import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig, DriverName } from '../config.js';
import { findExecutable, readVersion } from '../process/which.js';

/** A known agent: how to start it and how to tell whether it is installed. */
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
  demo?: boolean;
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
  problem?: string;
  fix?: string;
  capabilities: {
    resume: boolean;
    permissions: boolean;
    structured_output: boolean;
    cancel: boolean;
    terminal: boolean;
  };
};

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled scripted agent behind `demo`. */
export const SCRIPTED_AGENT_PATH = join(here, '..', 'agents', 'scripted-agent.js');

function builtin(
  name: string,
  command: string,
  args: string[],
  description: string,
  install: string,
): AgentEntry {
  return { name, driver: 'acp', command, args, env: {}, description, source: 'builtin', install };
}

/** Built-in agents. Proving each real one end to end is issue 3; here they are listed and detected. */
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
    demo: true,
  },
  builtin(
    'gemini',
    'gemini',
    ['--acp'],
    'Gemini CLI over ACP (gemini --acp)',
    'npm install -g @google/gemini-cli, then sign in with `gemini` once or set GEMINI_API_KEY',
  ),
  builtin(
    'claude-acp',
    'claude-agent-acp',
    [],
    'Claude Code through the ACP adapter (claude-agent-acp)',
    'npm install -g @agentclientprotocol/claude-agent-acp (needs Node >= 22), and set ANTHROPIC_API_KEY or log in with `claude`',
  ),
  builtin(
    'codex-acp',
    'codex-acp',
    [],
    'Codex through the ACP adapter (codex-acp)',
    'npm install -g @agentclientprotocol/codex-acp, and set OPENAI_API_KEY or log in with `codex login`',
  ),
  builtin(
    'goose',
    'goose',
    ['acp'],
    'Block goose over ACP (goose acp)',
    'install goose from https://block.github.io/goose/',
  ),
  builtin('opencode', 'opencode', ['acp'], 'OpenCode over ACP (opencode acp)', 'npm install -g opencode-ai'),
  builtin(
    'qwen',
    'qwen',
    ['--acp'],
    'Qwen Code over ACP (qwen --acp)',
    'npm install -g @qwen-code/qwen-code (needs Node >= 22)',
  ),
  builtin(
    'cursor',
    'cursor-agent',
    ['acp'],
    'Cursor agent CLI over ACP (cursor-agent acp)',
    'install the Cursor CLI: https://cursor.com/cli',
  ),
  builtin(
    'kimi',
    'kimi',
    ['acp'],
    'Kimi CLI over ACP (kimi acp)',
    'install Kimi CLI: uv tool install kimi-cli',
  ),
  builtin(
    'auggie',
    'auggie',
    ['--acp'],
    'Augment Code CLI over ACP (auggie --acp)',
    'npm install -g @augmentcode/auggie',
  ),
];

/** Built-in agents overlaid with the user's config (same name = override). */
export function buildCatalog(userAgents: Record<string, AgentConfig>, home: string): Map<string, AgentEntry> {
  const catalog = new Map<string, AgentEntry>();
  for (const a of BUILTIN_AGENTS) {
    // The demo keeps its sessions under $BATON_HOME so follow-ups work across restarts.
    catalog.set(a.name, a.demo ? { ...a, args: [...a.args, '--state', join(home, 'demo-sessions')] } : a);
  }
  for (const [name, a] of Object.entries(userAgents)) {
    catalog.set(name, {
      name,
      driver: a.driver,
      command: a.command,
      args: a.args ?? [],
      env: a.env ?? {},
      description: a.description ?? `${a.command} ${(a.args ?? []).join(' ')}`.trim(),
      source: 'config',
    });
  }
  return catalog;
}

const versionCache = new Map<string, Promise<string | undefined>>();

/** Checks one agent: is its command installed, which version. Versions are cached per process. */
export async function inspectAgent(entry: AgentEntry): Promise<AgentInfo> {
  const capabilities = {
    resume: true,
    permissions: true,
    structured_output: true,
    cancel: true,
    terminal: false,
  };
  const base = {
    name: entry.name,
    driver: entry.driver,
    description: entry.description,
    source: entry.source,
    command: [entry.command, ...entry.args].join(' '),
    capabilities,
  };
  const path = findExecutable(entry.command);
  if (!path) {
    return {
      ...base,
      installed: false,
      ready: false,
      problem: `${entry.command} is not on PATH`,
      fix: entry.install ?? `install ${entry.command} or fix agents.${entry.name}.command in the config`,
    };
  }
  if (entry.demo) return { ...base, installed: true, ready: true, version: 'built-in' };
  let version = versionCache.get(path);
  if (!version) {
    version = readVersion(path, entry.versionArgs ?? ['--version']);
    versionCache.set(path, version);
  }
  const v = await version;
  return { ...base, installed: true, ready: true, ...(v ? { version: v } : {}) };
}
