import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { BatonError } from '../errors.js';
import { REMOTE_TERMINAL_WRAPPER, shellQuote, SshRunner } from './ssh.js';

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'baton-ssh-')));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const config = (over: Record<string, unknown> = {}) => ({
  type: 'ssh' as const,
  host: 'build-1',
  user: 'agent',
  identity_file: '/keys/id',
  remote_cwd: { '/home/me/src': '/srv/src', '/home/me/src/big': '/data/big' },
  ...over,
});

const NASTY = [
  `it's`,
  '$(touch pwned)',
  '`touch pwned`',
  '"; touch pwned; "',
  'a\nb',
  '*',
  '-x',
  '',
  ' lead',
];

describe('ssh runner', () => {
  it('quotes every word for the remote shell: the wrapper gets the folder and argv unchanged', () => {
    const folder = join(dir, `it's $(touch pwned) dir`);
    mkdirSync(folder);
    const runner = new SshRunner(config(), dir);
    const line = runner.remoteCommand({ cwd: folder, command: 'printf', args: ['[%s]\\n', ...NASTY] });
    // What sshd does with it: the login shell runs the line; the wrapper reads the variables first.
    const out = execFileSync('sh', ['-c', line], { cwd: dir, input: 'ONE=1\n\n', encoding: 'utf8' });
    expect(out).toBe(NASTY.map((w) => `[${w}]\n`).join(''));
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(existsSync(join(folder, 'pwned'))).toBe(false);
    for (const w of NASTY)
      expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(w)}`], { encoding: 'utf8' })).toBe(w);
  });

  it('maps the run folder by the longest local prefix; a folder outside the mapping is refused', () => {
    const runner = new SshRunner(config(), dir);
    expect(runner.agentCwd('/home/me/src')).toBe('/srv/src');
    expect(runner.agentCwd('/home/me/src/app/lib')).toBe('/srv/src/app/lib');
    expect(runner.agentCwd('/home/me/src/big/x')).toBe('/data/big/x');
    for (const outside of ['/home/me/srcx', '/home/me', '/etc']) {
      expect(() => runner.agentCwd(outside)).toThrow(/remote_cwd/);
    }
  });

  it('host key checking, batch mode and the multiplexed socket in the state folder are always on', () => {
    const opts = new SshRunner(config({ known_hosts: '/keys/known', port: 2200 }), dir).options().join(' ');
    expect(opts).toContain('-o BatchMode=yes');
    expect(opts).toContain('-o StrictHostKeyChecking=yes');
    expect(opts).toContain('-o UserKnownHostsFile="/keys/known"');
    expect(opts).toMatch(new RegExp(`-o ControlPath="${join(dir, 'ssh')}/[0-9a-f]{24}"`));
    // Another key to the same login: another connection (never one the first key opened).
    const other = new SshRunner(
      config({ known_hosts: '/keys/known', port: 2200, identity_file: '/keys/other' }),
      dir,
    );
    const path = (o: string) => /ControlPath="([^"]+)"/.exec(o)?.[1];
    expect(path(other.options().join(' '))).not.toBe(path(opts));
    expect(opts).toContain('-p 2200 -l agent');
    // The user's ssh config may forward their agent elsewhere: never to an agent's host.
    expect(opts).toContain('-a -x -o ClearAllForwardings=yes');
  });

  it('the config refuses a runner that could smuggle ssh options or relative paths', () => {
    const file = join(dir, 'config.json');
    const load = (runner: Record<string, unknown>) => {
      writeFileSync(file, JSON.stringify({ agents: { r: { driver: 'acp', command: 'x', runner } } }));
      try {
        loadConfig({ BATON_HOME: join(dir, 'home'), BATON_CONFIG: file });
      } catch (err) {
        expect(err).toBeInstanceOf(BatonError);
        return (err as BatonError).message;
      }
      return 'accepted';
    };
    expect(load(config())).toBe('accepted');
    expect(load(config({ host: '-oProxyCommand=touch /tmp/x' }))).toContain('agents.r.runner.host');
    expect(load(config({ user: 'a b' }))).toContain('agents.r.runner.user');
    expect(load(config({ identity_file: 'keys/id' }))).toContain('agents.r.runner.identity_file');
    expect(load(config({ remote_cwd: { '/a': 'rel' } }))).toContain('agents.r.runner.remote_cwd');
    expect(load(config({ type: 'nomad' }))).toContain('agents.r.runner.type');
  });

  it('a terminal session: -tt on a connection of its own (not the shared one it would outlive), no closing banner', () => {
    const runner = new SshRunner(config(), dir);
    const term = runner.options(true).join(' ');
    expect(term).toContain('-tt');
    expect(term).toContain('ControlMaster=no');
    expect(term).toContain('ControlPath=none');
    expect(term).toContain('LogLevel=ERROR');
    expect(term).not.toContain('ControlPersist');
    expect(term).toContain('StrictHostKeyChecking=yes');
    expect(term).toContain('-e none');
    const shared = runner.options().join(' ');
    expect(shared).toContain('ControlMaster=auto');
    expect(shared).toMatch(/ -T /);
  });

  it("a terminal session's remote side: its variables from the env file, which it removes; its folder; a missing folder said", () => {
    const env = join(dir, 'env');
    writeFileSync(env, 'ONE=1 two\nTWO=$(touch pwned)\n\n', { mode: 0o600 });
    const folder = join(dir, `it's dir`);
    mkdirSync(folder);
    // In a group of its own (as under sshd): its watcher ends that group, never the test's.
    const side = (at: string, file: string) =>
      execFileSync(
        'setsid',
        [
          'sh',
          '-c',
          REMOTE_TERMINAL_WRAPPER,
          'baton-terminal',
          file,
          at,
          'sh',
          '-c',
          'printf "%s|%s|%s" "$ONE" "$TWO" "$PWD"',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    expect(side(folder, env)).toBe(`1 two|$(touch pwned)|${folder}`);
    expect(existsSync(env)).toBe(false);
    expect(existsSync(join(folder, 'pwned'))).toBe(false);
    writeFileSync(env, '\n');
    expect(() => side(join(dir, 'missing'), env)).toThrow(/no folder .*missing on the remote host/);
  });
});
