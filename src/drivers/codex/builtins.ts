import type { AgentEntry, CredentialSpec } from '../../agents/catalog.js';

/** Where the Codex CLI (and codex-acp, codex-tui) finds its credentials. */
export const OPENAI_CREDENTIALS: CredentialSpec = {
  env: ['OPENAI_API_KEY', 'CODEX_API_KEY'],
  files: [['CODEX_HOME', '~/.codex', 'auth.json']],
  envKeyFiles: [['CODEX_HOME', '~/.codex', 'config.toml']],
  fix: 'set OPENAI_API_KEY (in your environment, or under "env" of this agent in the baton config), or run `codex login`',
};

/** The built-in agents of the codex driver. */
export const CODEX_BUILTINS: readonly AgentEntry[] = [
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
];
