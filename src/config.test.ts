import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, resolveHome } from './config.js';
import { BatonError } from './errors.js';

let dir: string;
let home: string;
let configFile: string;

beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'baton-config-')));
  home = join(dir, 'home');
  configFile = join(dir, 'config.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({ BATON_HOME: home, BATON_CONFIG: configFile });

function writeConfig(value: unknown): void {
  writeFileSync(configFile, typeof value === 'string' ? value : JSON.stringify(value));
}

function configError(value: unknown): BatonError {
  writeConfig(value);
  try {
    loadConfig(env());
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    return err as BatonError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('uses defaults when the file is missing and creates the home', () => {
    const config = loadConfig(env());
    expect(config).toEqual({
      home,
      configPath: configFile,
      roots: [realpathSync(homedir())],
      maxConcurrentRuns: 8,
      defaultTimeoutMs: 30 * 60_000,
      permissionTimeoutMs: 30 * 60_000,
      sessionIdleTimeoutMs: 5 * 60_000,
      agents: {},
      webhooks: [],
      terminal: { width: 200, height: 50, allowAnyCommand: false, external: false },
      wake: { text: 'continue' },
      worktrees: { include: [] },
      profiles: {},
      roles: {},
      delegation: { offerToAgents: false, maxDepth: 2 },
      daemon: { idleStopMs: 15 * 60_000 },
      approvals: { elicitationIsHuman: false },
    });
    expect(statSync(home).isDirectory()).toBe(true);
  });

  it('reads $BATON_HOME/config.json when BATON_CONFIG is not set', () => {
    mkdirSync(home);
    writeFileSync(join(home, 'config.json'), JSON.stringify({ max_concurrent_runs: 3 }));
    const config = loadConfig({ BATON_HOME: home });
    expect(config.configPath).toBe(join(home, 'config.json'));
    expect(config.maxConcurrentRuns).toBe(3);
  });

  it('reads every setting and parses durations to milliseconds', () => {
    const work = join(dir, 'work');
    mkdirSync(work);
    symlinkSync(work, join(dir, 'work-link'));
    writeConfig({
      roots: [work, join(dir, 'work-link'), `${dir}/./work/../work`],
      max_concurrent_runs: 2,
      default_timeout: '1h30m',
      permission_timeout: 90,
      session_idle_timeout: '250ms',
      agents: {
        'my-agent': {
          driver: 'acp',
          command: 'my-agent-bin',
          args: ['--acp'],
          env: { TOKEN_FILE: '/x' },
          description: 'a test agent',
        },
        minimal: { driver: 'acp', command: 'm' },
      },
      webhooks: [{ url: 'https://hooks.example/baton', events: ['waiting'], headers: { 'x-k': 'v' } }],
      terminal: { width: 100, height: 30, allow_any_command: true },
      worktrees: { setup: 'npm ci', include: ['.env'] },
      profiles: { reviewer: { policy: 'deny_all', deny_tools: ['Bash*'] } },
      roles: { reviewer: { profile: 'reviewer' } },
      delegation: { offer_to_agents: true, max_depth: 1 },
      daemon: { idle_stop: '0' },
    });
    expect(loadConfig(env())).toEqual({
      home,
      configPath: configFile,
      roots: [work, work, work],
      maxConcurrentRuns: 2,
      defaultTimeoutMs: 5_400_000,
      permissionTimeoutMs: 90_000,
      sessionIdleTimeoutMs: 250,
      agents: {
        'my-agent': {
          driver: 'acp',
          command: 'my-agent-bin',
          args: ['--acp'],
          env: { TOKEN_FILE: '/x' },
          description: 'a test agent',
        },
        minimal: { driver: 'acp', command: 'm' },
      },
      webhooks: [{ url: 'https://hooks.example/baton', events: ['waiting'], headers: { 'x-k': 'v' } }],
      terminal: { width: 100, height: 30, allowAnyCommand: true, external: false },
      wake: { text: 'continue' },
      worktrees: { setup: 'npm ci', include: ['.env'] },
      profiles: { reviewer: { policy: 'deny_all', deny_tools: ['Bash*'] } },
      roles: { reviewer: { profile: 'reviewer' } },
      delegation: { offerToAgents: true, maxDepth: 1 },
      daemon: { idleStopMs: 0 },
      approvals: { elicitationIsHuman: false },
    });
  });

  it('rejects a role mapped to a profile that does not exist, naming both', () => {
    const err = configError({ roles: { reviewer: { profile: 'careful' } } });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toBe(
      `invalid config ${configFile}: roles.reviewer.profile: no profile "careful" under "profiles"`,
    );
  });

  it('rejects an unknown top-level key, naming it', () => {
    const err = configError({ max_concurrent_runs: 2, max_runs: 4 });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toBe(`invalid config ${configFile}: max_runs: unknown key`);
  });

  it('rejects an unknown key inside an agent, naming its path', () => {
    const err = configError({ agents: { claude: { driver: 'acp', command: 'claude', cmd_args: [] } } });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toBe(`invalid config ${configFile}: agents.claude.cmd_args: unknown key`);
  });

  it.each([
    [{ max_concurrent_runs: 'four' }, 'max_concurrent_runs: '],
    [{ max_concurrent_runs: 0 }, 'max_concurrent_runs: '],
    [{ max_concurrent_runs: 2.5 }, 'max_concurrent_runs: '],
    [{ roots: '/tmp' }, 'roots: '],
    [{ roots: [] }, 'roots: '],
    [{ roots: ['/tmp', 5] }, 'roots.1: '],
    [{ default_timeout: true }, 'default_timeout: '],
    [{ agents: { a: { driver: 'acp', command: 'x', args: 'one' } } }, 'agents.a.args: '],
    [{ agents: { a: { driver: 'acp', command: 'x', args: ['ok', 3] } } }, 'agents.a.args.1: '],
    [{ agents: { a: { driver: 'acp', command: 'x', env: { K: 1 } } } }, 'agents.a.env.K: '],
    [{ agents: { a: { driver: 'smoke', command: 'x' } } }, 'agents.a.driver: '],
    [{ agents: { a: { driver: 'acp' } } }, 'agents.a.command: '],
    [{ agents: { a: { driver: 'acp', command: '' } } }, 'agents.a.command: '],
    [{ agents: { a: { driver: 'terminal', command: 'x', idle_pattern: '(' } } }, 'agents.a.idle_pattern: '],
    [{ agents: { a: { driver: 'terminal', command: 'x', idle_time: 'soon' } } }, 'agents.a.idle_time'],
    [{ terminal: { width: 5 } }, 'terminal.width: '],
    [{ terminal: { allow_any_command: 'yes' } }, 'terminal.allow_any_command: '],
  ])('rejects %j naming the path', (value, path) => {
    const err = configError(value);
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message.startsWith(`invalid config ${configFile}: ${path}`)).toBe(true);
  });

  it('checks each agent against its own driver: a key of another driver is unknown, every problem is named', () => {
    const err = configError({
      agents: {
        a: { driver: 'acp', command: 'x', ready_pattern: '> $' },
        b: { driver: 'a2a' },
        c: { driver: 'terminal', command: 'y', idle_time: 'soon' },
      },
    });
    expect(err.message).toBe(
      `invalid config ${configFile}: agents.a.ready_pattern: unknown key; ` +
        `agents.b.url: an a2a agent needs the remote agent's URL (e.g. "http://host:7420/a2a/claude-code/"); ` +
        `agents.c.idle_time must be a positive duration of at most 24 days: a number of seconds or a string such as "90s", "5m", "1h" (got "soon")`,
    );
  });

  it('rejects a bad agent name', () => {
    const err = configError({ agents: { 'bad name!': { driver: 'acp', command: 'x' } } });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toContain('agents');
    expect(err.message).toContain('bad name!');
  });

  it('rejects a config that is not an object', () => {
    for (const value of ['[]', '"text"', 'null']) {
      const err = configError(value);
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.message).toMatch(
        new RegExp(`^invalid config ${configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\(root\\): `),
      );
    }
  });

  it('rejects a relative root', () => {
    const err = configError({ roots: ['projects/app'] });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toBe(`invalid config ${configFile}: roots: "projects/app" must be an absolute path`);
  });

  it('rejects a root that does not exist', () => {
    const missing = join(dir, 'missing');
    const err = configError({ roots: [missing] });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toBe(`invalid config ${configFile}: roots: "${missing}" does not exist`);
  });

  it('rejects a bad duration with the key name', () => {
    const err = configError({ permission_timeout: '5 minutes' });
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toContain(
      `invalid config ${configFile}: permission_timeout must be a positive duration`,
    );
    expect(configError({ session_idle_timeout: 0 }).message).toContain(
      'session_idle_timeout must be a positive duration',
    );
    expect(configError({ default_timeout: '-1s' }).message).toContain(
      'default_timeout must be a positive duration',
    );
  });

  it('rejects a file that is not JSON', () => {
    const err = configError('{ "roots": [ }');
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message.startsWith(`${configFile} is not valid JSON: `)).toBe(true);
  });
});

describe('resolveHome', () => {
  it('uses BATON_HOME, else ~/.baton', () => {
    expect(resolveHome({ BATON_HOME: home })).toBe(home);
    expect(resolveHome({ BATON_HOME: '' })).toBe(join(homedir(), '.baton'));
    expect(resolveHome({})).toBe(join(homedir(), '.baton'));
  });
});
