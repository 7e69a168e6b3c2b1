import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { BatonError } from '../errors.js';
import { CONTAINER_TERMINAL_WRAPPER, ContainerRunner, startFix } from './container.js';
import type { ContainerRunnerConfig } from './options.js';

const dir = mkdtempSync(join(tmpdir(), 'baton-container-'));
const home = join(dir, 'home');
mkdirSync(home);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (over: Partial<ContainerRunnerConfig> = {}): ContainerRunnerConfig => ({
  type: 'container',
  engine: 'podman',
  image: 'localhost/agents:1',
  ...over,
});

describe('container runner: what it asks the engine for', () => {
  it('confined by default: read-only image, no capabilities, no network, a process limit, only the run folder writable', () => {
    const args = new ContainerRunner(config(), home).runArgs({ cwd: '/srv/repo' }, 'baton-x', '/state/home');
    const line = args.join(' ');
    expect(args.slice(0, 4)).toEqual(['run', '--rm', '-i', '--init']);
    expect(line).toContain('--read-only');
    expect(line).toContain('--cap-drop all');
    expect(line).toContain('--security-opt no-new-privileges');
    expect(line).toContain('--network none');
    expect(line).toContain('--pids-limit 512');
    expect(line).toContain('--mount type=bind,source=/srv/repo,target=/srv/repo --');
    expect(line).toContain('--mount type=bind,source=/state/home,target=/home/baton --');
    expect(line).toContain('--workdir /srv/repo');
    expect(line).toContain(`--user ${process.getuid!()}:${process.getgid!()}`);
    expect(args.at(-1)).toBe('localhost/agents:1');
  });

  it("a terminal run's container: -it, tied to its terminal (not an owner), its private folder mounted; the shell empties the env file", () => {
    const args = new ContainerRunner(config(), home).runArgs({ cwd: '/srv/repo' }, 'baton-x', '/state/home', {
      terminal: true,
      extra: ['--mount', 'type=bind,source=/state/x,target=/run/baton'],
    });
    const line = args.join(' ');
    expect(args.slice(0, 4)).toEqual(['run', '--rm', '-it', '--init']);
    expect(line).toContain('--label io.baton.owner=terminal');
    expect(line).toContain('--read-only');
    expect(line).toContain('--mount type=bind,source=/state/x,target=/run/baton --workdir');
    const env = join(dir, 'env');
    writeFileSync(env, 'ONE=1 two\nTWO=$(touch pwned)\n\n', { mode: 0o600 });
    const out = execFileSync(
      'sh',
      ['-c', CONTAINER_TERMINAL_WRAPPER, 'baton-terminal', env, 'sh', '-c', 'printf "%s|%s" "$ONE" "$TWO"'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(out).toBe('1 two|$(touch pwned)');
    expect(readFileSync(env, 'utf8')).toBe('');
  });

  it('docker: the same confinement, with the private /tmp podman gives a read-only container', () => {
    const docker = new ContainerRunner(config({ engine: 'docker' }), home).runArgs(
      { cwd: '/srv/repo' },
      'baton-x',
      '/s',
    );
    const podman = new ContainerRunner(config(), home).runArgs({ cwd: '/srv/repo' }, 'baton-x', '/s');
    expect(docker.join(' ')).toContain('--read-only --tmpfs /tmp --tmpfs /var/tmp --tmpfs /run');
    expect(podman.join(' ')).not.toContain('--tmpfs');
    expect(docker.filter((a) => !['--tmpfs', '/tmp', '/var/tmp', '/run'].includes(a))).toEqual(podman);
  });

  it('limits, network, user and extra mounts (read-only unless writable) as configured', () => {
    const ro = join(dir, 'tools');
    mkdirSync(ro);
    const args = new ContainerRunner(
      config({
        network: 'private',
        memory: '2g',
        cpus: 1.5,
        pids_limit: 64,
        user: '1000:1000',
        mounts: [{ source: ro }, { source: ro, target: '/cache', writable: true }],
      }),
      home,
    ).runArgs({ cwd: '/srv/repo' }, 'baton-x', '/state/home');
    const line = args.join(' ');
    expect(line).not.toContain('--network');
    expect(line).toContain('--memory 2g --cpus 1.5');
    expect(line).toContain('--pids-limit 64');
    expect(line).toContain('--user 1000:1000');
    expect(line).not.toContain('keep-id');
    expect(line).toContain(`type=bind,source=${ro},target=${ro},readonly`);
    expect(line).toContain(`type=bind,source=${ro},target=/cache --`);
  });

  it("never mounts baton's home: not as the run folder, not through a mount, not through a symlink to it", () => {
    const runner = new ContainerRunner(config(), home);
    expect(() => runner.agentCwd(dir)).toThrow(/holds baton's home/);
    expect(runner.agentCwd(join(dir, 'work'))).toBe(join(dir, 'work'));
    const link = join(dir, 'link-to-home');
    symlinkSync(home, link);
    for (const source of [dir, home, join(home, 'db'), link]) {
      mkdirSync(source, { recursive: true });
      const r = new ContainerRunner(config({ mounts: [{ source }] }), home);
      expect(() => r.runArgs({ cwd: '/srv/repo' }, 'baton-x', '/s')).toThrow(BatonError);
    }
    expect(() => runner.runArgs({ cwd: '/srv/a,b' }, 'baton-x', '/s')).toThrow(/comma/);
    const missing = new ContainerRunner(config({ mounts: [{ source: join(dir, 'nope') }] }), home);
    expect(() => missing.runArgs({ cwd: '/srv/repo' }, 'baton-x', '/s')).toThrow(
      /does not exist on this machine/,
    );
  });

  it('the config takes a container runner and refuses what could smuggle engine options', () => {
    const file = join(dir, 'config.json');
    const load = (runner: Record<string, unknown>) => {
      writeFileSync(file, JSON.stringify({ agents: { r: { driver: 'acp', command: 'x', runner } } }));
      try {
        loadConfig({ BATON_HOME: join(dir, 'h2'), BATON_CONFIG: file });
      } catch (err) {
        expect(err).toBeInstanceOf(BatonError);
        return (err as BatonError).message;
      }
      return 'accepted';
    };
    expect(load(config())).toBe('accepted');
    expect(load({ type: 'container' })).toContain('agents.r.runner.image');
    expect(load(config({ image: '--privileged' }))).toContain('agents.r.runner.image');
    expect(load(config({ network: 'bridge' as 'none' }))).toContain('agents.r.runner.network');
    expect(load(config({ user: 'root' }))).toContain('agents.r.runner.user');
    expect(load(config({ mounts: [{ source: 'rel' }] }))).toContain('agents.r.runner.mounts');
    expect(load({ ...config(), privileged: true })).toContain('privileged');
  });

  it("doctor's fix for the engine errors seen on CI machines, from the engine's own words", () => {
    // As podman 4.3 (crun) printed them on this kind of machine before .ci/run's fixes.
    const rlimit = 'Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied';
    const hybrid =
      'Error: OCI runtime error: crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2';
    expect(startFix(rlimit, 'podman', 'img')).toContain('default_ulimits = ["nofile=N:N", "nproc=M:M"]');
    expect(startFix(hybrid, 'podman', 'img')).toContain('mount -t cgroup -o NAME cgroup /sys/fs/cgroup/NAME');
    expect(startFix('exec: "sh": executable file not found in $PATH', 'podman', 'img')).toBe(
      'check that img has /bin/sh',
    );
    expect(startFix('something else', 'docker', 'img')).toBe(
      'run `docker run --rm --entrypoint sh img -c true` and fix what it says',
    );
  });
});
