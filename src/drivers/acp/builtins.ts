import type { AgentCapabilities, AgentEntry, CredentialSpec } from '../../agents/catalog.js';
import { ANTHROPIC_CREDENTIALS } from '../claude-code/builtins.js';
import { OPENAI_CREDENTIALS } from '../codex/builtins.js';

/** What an ACP agent can do through the acp driver. */
export const ACP_CAPABILITIES: AgentCapabilities = {
  resume: true,
  permissions: true,
  structured_output: true,
  cancel: true,
  terminal: false,
};

/** Where the Gemini CLI (gemini, gemini-tui) finds its credentials. */
export const GEMINI_CREDENTIALS: CredentialSpec = {
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

function acpAgent(
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

/** The built-in agents of the acp driver (other than baton's own demo): ACP agents and adapters. */
export const ACP_BUILTINS: readonly AgentEntry[] = [
  acpAgent(
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
  acpAgent(
    'claude-acp',
    'claude-agent-acp',
    [],
    'Claude Code through the ACP adapter (claude-agent-acp)',
    'npm install -g @zed-industries/claude-agent-acp',
    { credentials: ANTHROPIC_CREDENTIALS },
  ),
  acpAgent(
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
  acpAgent(
    'goose',
    'goose',
    ['acp'],
    'Block goose over ACP (goose acp)',
    'install goose from https://block.github.io/goose/',
  ),
  acpAgent('opencode', 'opencode', ['acp'], 'OpenCode over ACP (opencode acp)', 'npm install -g opencode-ai'),
  acpAgent(
    'qwen',
    'qwen',
    ['--acp'],
    'Qwen Code over ACP (qwen --acp)',
    'npm install -g @qwen-code/qwen-code (needs Node >= 22)',
  ),
  acpAgent(
    'cursor',
    'cursor-agent',
    ['acp'],
    'Cursor agent CLI over ACP (cursor-agent acp)',
    'install the Cursor CLI: https://cursor.com/cli',
  ),
  acpAgent(
    'kimi',
    'kimi',
    ['acp'],
    'Kimi CLI over ACP (kimi acp)',
    'install Kimi CLI: uv tool install kimi-cli',
  ),
  acpAgent(
    'auggie',
    'auggie',
    ['--acp'],
    'Augment Code CLI over ACP (auggie --acp)',
    'npm install -g @augmentcode/auggie',
  ),
];

/**
 * An agent's launch variables (`env`, a copy of its configured ones) with fixes for quirks of the
 * built-in ACP agents, by name; `base` is the environment its process starts from.
 */
export function fixLaunchEnv(
  name: string,
  env: Record<string, string>,
  base: NodeJS.ProcessEnv,
): Record<string, string> {
  const sandbox = env.IS_SANDBOX ?? base.IS_SANDBOX;
  // HACK: claude-agent-acp (0.23.1) takes any non-empty IS_SANDBOX as leave to start its Claude CLI
  // with --dangerously-skip-permissions allowed, but the CLI run as root accepts only IS_SANDBOX=1
  // and exits ("cannot be used with root/sudo privileges"), so every session/new fails with "Query
  // closed before response received". The person said they are in a sandbox: say it the CLI's way.
  // Remove when the adapter checks the value as the CLI does.
  if (name === 'claude-acp' && sandbox && sandbox !== '1') return { ...env, IS_SANDBOX: '1' };
  return env;
}
