import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildCatalog,
  findCredentials,
  inspectAgent,
  launchEnv,
  readinessProblem,
  type AgentEntry,
} from './catalog.js';

let dir: string;
let bin: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-catalog-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  // Stand-ins for installed CLIs: executables that print a version.
  for (const name of ['claude', 'codex', 'gemini']) {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} 9.9.9"\n`);
    chmodSync(join(bin, name), 0o755);
  }
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function entry(name: string, home: string): AgentEntry {
  const e = buildCatalog({}, home).get(name);
  if (!e) throw new Error(`no ${name}`);
  return e;
}

describe('agent credentials and readiness', () => {
  it('finds an API key in the environment, never its value', async () => {
    const env = { PATH: bin, HOME: dir, ANTHROPIC_API_KEY: 'sk-secret-value' };
    const info = await inspectAgent(entry('claude-code', dir), env);
    expect(info).toMatchObject({ installed: true, ready: true, credentials: 'ANTHROPIC_API_KEY is set' });
    expect(info.version).toBe('claude 9.9.9');
    expect(JSON.stringify(info)).not.toContain('sk-secret-value');
  });

  it('finds a login file under the agent HOME or its config-folder variable', () => {
    const claudeDir = join(dir, '.claude');
    mkdirSync(claudeDir);
    writeFileSync(join(claudeDir, '.credentials.json'), '{"secret":"x"}');
    const claude = entry('claude-code', dir).credentials;
    expect(claude && findCredentials(claude, { HOME: dir })).toBe(
      `login file ${join(claudeDir, '.credentials.json')}`,
    );
    const codexHome = join(dir, 'elsewhere');
    mkdirSync(codexHome);
    writeFileSync(join(codexHome, 'auth.json'), '{}');
    const codex = entry('codex', dir).credentials;
    expect(codex && findCredentials(codex, { HOME: dir })).toBeUndefined();
    expect(codex && findCredentials(codex, { HOME: dir, CODEX_HOME: codexHome })).toBe(
      `login file ${join(codexHome, 'auth.json')}`,
    );
  });

  it("counts claude's apiKeyHelper setting, and on macOS the keychain it cannot look into", () => {
    const claude = entry('claude-code', dir).credentials;
    if (!claude) throw new Error('no spec');
    expect(findCredentials(claude, { HOME: dir }, 'linux')).toBeUndefined();
    expect(findCredentials(claude, { HOME: dir }, 'darwin')).toMatch(/^not checked: on darwin/);
    mkdirSync(join(dir, '.claude'));
    writeFileSync(join(dir, '.claude', 'settings.json'), '{"apiKeyHelper": "/usr/local/bin/get-key"}');
    expect(findCredentials(claude, { HOME: dir }, 'linux')).toBe(
      `apiKeyHelper in ${join(dir, '.claude', 'settings.json')}`,
    );
  });

  it('check_credentials: false starts an agent baton sees no credentials for, and says so', async () => {
    const e = buildCatalog(
      { codex: { driver: 'codex', command: 'codex', check_credentials: false } },
      dir,
    ).get('codex') as AgentEntry;
    const env = { PATH: bin, HOME: dir };
    expect(readinessProblem(e, env)).toBeUndefined();
    const info = await inspectAgent(e, env);
    expect(info).toMatchObject({ ready: true, credentials: 'not checked (check_credentials: false)' });
    // Without it, the fix names the switch.
    expect(readinessProblem(entry('codex', dir), env)?.fix).toMatch(
      /"check_credentials": false under agents\.codex/,
    );
  });

  it("counts a codex custom provider's env_key when that variable is set", () => {
    mkdirSync(join(dir, '.codex'));
    writeFileSync(
      join(dir, '.codex', 'config.toml'),
      'model_provider = "local"\n[model_providers.local]\nbase_url = "http://127.0.0.1:1/v1"\nenv_key = "LOCAL_KEY"\n',
    );
    const codex = entry('codex', dir).credentials;
    expect(codex && findCredentials(codex, { HOME: dir })).toBeUndefined();
    expect(codex && findCredentials(codex, { HOME: dir, LOCAL_KEY: 'k' })).toMatch(/^LOCAL_KEY is set/);
  });

  it('an installed agent without credentials is not ready, with the fix; a missing one says how to install', async () => {
    const env = { PATH: bin, HOME: dir };
    const gemini = await inspectAgent(entry('gemini', dir), env);
    expect(gemini).toMatchObject({ installed: true, ready: false, version: 'gemini 9.9.9' });
    expect(gemini.fix).toMatch(/GEMINI_API_KEY/);
    expect(readinessProblem(entry('gemini', dir), env)?.code).toBe('AGENT_NOT_READY');

    const acp = await inspectAgent(entry('claude-acp', dir), env);
    expect(acp).toMatchObject({ installed: false, ready: false });
    expect(acp.fix).toBe('npm install -g @zed-industries/claude-agent-acp');
    expect(readinessProblem(entry('claude-acp', dir), env)?.code).toBe('AGENT_NOT_INSTALLED');
  });

  it("the agent's own env counts (config env, PATH included)", async () => {
    const catalog = buildCatalog(
      { 'claude-code': { driver: 'claude-code', command: 'claude', env: { ANTHROPIC_API_KEY: 'x' } } },
      dir,
    );
    const e = catalog.get('claude-code') as AgentEntry;
    // A config override of a built-in keeps its install hint and credential check.
    expect(e.install).toBe('npm install -g @anthropic-ai/claude-code');
    expect(readinessProblem(e, { PATH: bin, HOME: dir })).toBeUndefined();
    expect(readinessProblem(e, { PATH: join(dir, 'none'), HOME: dir })?.fix).toBe(
      'npm install -g @anthropic-ai/claude-code',
    );
  });

  it('reports a helper program an adapter needs as a warning', async () => {
    writeFileSync(join(bin, 'codex-acp'), '#!/bin/sh\necho codex-acp 1\n');
    chmodSync(join(bin, 'codex-acp'), 0o755);
    const info = await inspectAgent(entry('codex-acp', dir), { PATH: bin, HOME: dir, OPENAI_API_KEY: 'k' });
    expect(info.ready).toBe(true);
    expect(info.warnings).toEqual([expect.stringMatching(/^bwrap not found: .*apt-get install bubblewrap/)]);
  });
});

describe('launch environment', () => {
  it("says IS_SANDBOX the way claude-agent-acp's Claude CLI accepts it, and changes nothing else", () => {
    const acp = entry('claude-acp', dir);
    expect(launchEnv(acp, { IS_SANDBOX: 'yes' })).toEqual({ IS_SANDBOX: '1' });
    expect(launchEnv(acp, { IS_SANDBOX: '1' })).toEqual({});
    expect(launchEnv(acp, {})).toEqual({});
    expect(launchEnv(entry('gemini', dir), { IS_SANDBOX: 'yes' })).toEqual({
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
    });
  });
});
