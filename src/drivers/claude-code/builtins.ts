import type { AgentEntry, CredentialSpec } from '../../agents/catalog.js';

/** Where Claude Code (and everything that runs it: claude-acp, claude-tui) finds its credentials. */
export const ANTHROPIC_CREDENTIALS: CredentialSpec = {
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

/** The built-in agents of the claude-code driver. */
export const CLAUDE_CODE_BUILTINS: readonly AgentEntry[] = [
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
];
