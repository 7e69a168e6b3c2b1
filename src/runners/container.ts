import { createHash, randomBytes } from 'node:crypto';
import { chownSync, closeSync, mkdirSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { BatonError } from '../errors.js';
import { ChildHandle, spawnWatcher } from '../process/child.js';
import { ExecFailure, execBounded } from '../process/exec.js';
import { findExecutable } from '../process/which.js';
import { envLines, READ_ENV, sessionFileName, type ContainerRunnerConfig } from './options.js';
import type { Runner, RunnerSpawn, TerminalLaunch } from './runner.js';

/**
 * What the container runs (as `sh -c`, the agent's argv its arguments): the agent's variables from
 * stdin ({@link envLines}: never in a command line, nor in the container's config), then the agent
 * itself. The engine's init (`--init`) is process 1: when the agent exits, the container ends and
 * every process left in it with it.
 */
export const CONTAINER_WRAPPER = `${READ_ENV}; exec "$@"`;

/**
 * The reaper of one container (sh, detached in its own session, its stdin a pipe from baton): when
 * that pipe ends without a "done" line (baton died, even by SIGKILL), the container is killed and
 * removed. `$0` is the engine's path, `$1` the container's name.
 */
const REAPER =
  'read -r l; [ "$l" = done ] && exit 0; "$0" kill "$1" >/dev/null 2>&1; exec "$0" rm -f "$1" >/dev/null';

/**
 * The shell of a terminal run's container: exports the variables of the env file `$1` (in the
 * mounted private folder), empties it (the image may have no `rm`; the folder goes with the
 * container), then becomes the agent.
 */
export const CONTAINER_TERMINAL_WRAPPER = `f=$1; shift; ${READ_ENV} <"$f"; : >"$f"; exec "$@"`;

/** Where a terminal run's private folder (its env file) is mounted in its container. */
const TERMINAL_ENV_DIR = '/run/baton';

/**
 * What the terminal here runs for a container (`sh -c`, then the engine, the container's name, its
 * private folder and the engine's arguments): a reaper in its own session that waits for this
 * shell's pid (the engine's client once exec'd) to be gone, then removes the container and the
 * folder — when the client exits, is killed with its terminal, or its terminal server dies.
 */
const TERMINAL_LAUNCHER = [
  'e=$1; n=$2; d=$3; shift 3',
  `setsid sh -c 'while kill -0 "$0" 2>/dev/null; do sleep 1; done; "$1" kill "$2" >/dev/null 2>&1; "$1" rm -f "$2" >/dev/null 2>&1; rm -rf -- "$3"' "$$" "$e" "$n" "$d" </dev/null >/dev/null 2>&1 &`,
  'exec "$e" "$@"',
].join('\n'); // (run by sh here, never a login shell)

/** The label every container of one baton home carries (its value: {@link homeLabel}). */
export const HOME_LABEL = 'io.baton.home';
/** The label naming the owner process that started a container ({@link OWNER}). */
const OWNER_LABEL = 'io.baton.owner';
/**
 * The owner label of a terminal run's container: tied to its terminal (its own reaper), not to an
 * owner process; the startup sweep removes one only when it is no longer running.
 */
const TERMINAL_OWNER = 'terminal';
/** This process, as the containers it starts name it (a random id: pids are reused). */
const OWNER = randomBytes(8).toString('hex');

/** The sweeps started by this process, by engine and home ({@link ContainerRunner.sweep}). */
const swept = new Map<string, Promise<void>>();

/** The value of {@link HOME_LABEL} for baton's home `home`. */
export function homeLabel(home: string): string {
  return createHash('sha256').update(home).digest('hex').slice(0, 16);
}

/**
 * Removes the containers of baton's home `home` that an earlier owner started and left (its
 * reaper died with it: a reboot, a killed session). Only one owner runs per home, so those are
 * orphans; containers this process started are kept. Resolves with the names removed.
 */
async function removeLeftContainers(home: string, engine: 'podman' | 'docker'): Promise<string[]> {
  const path = findExecutable(engine);
  if (!path) return [];
  // podman's ps knows the labels as a map, docker's as a string with a Label method.
  const owner = engine === 'docker' ? `{{.Label "${OWNER_LABEL}"}}` : `{{index .Labels "${OWNER_LABEL}"}}`;
  const list = (...filters: string[]) =>
    execBounded(
      path,
      [
        'ps',
        '-a',
        '--filter',
        `label=${HOME_LABEL}=${homeLabel(home)}`,
        ...filters.flatMap((f) => ['--filter', f]),
        '--format',
        `{{.Names}} ${owner}`,
      ],
      { timeoutMs: 30_000 },
    ).then((out) =>
      out
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter(([name]) => name),
    );
  // A terminal run's container is tied to its terminal (its reaper lives beside the tmux pane):
  // taken only once it has stopped, never while it is being made or runs.
  const [all, stopped] = await Promise.all([list(), list('status=exited')]);
  const ended = new Set(stopped.map(([name]) => name));
  const left = all
    .filter(([name, owner]) => (owner === TERMINAL_OWNER ? ended.has(name) : owner !== OWNER))
    .map(([name]) => name!);
  if (left.length) await removeContainers(path, left);
  return left;
}

/**
 * Kills (SIGKILL: the agent had its grace from the kill ladder already) and removes containers;
 * `rm -f` alone would give each podman's 10 s stop timeout first.
 */
async function removeContainers(engine: string, names: string[]): Promise<void> {
  await execBounded(engine, ['kill', ...names], { timeoutMs: 30_000 }).catch(() => undefined);
  await execBounded(engine, ['rm', '-f', ...names], { timeoutMs: 60_000 });
}

/** A path podman/docker can take in `--mount` (its fields are split on commas). */
function mountable(
  path: string,
  what: string,
  code: 'INVALID_CONFIG' | 'CWD_NOT_ALLOWED' = 'INVALID_CONFIG',
): string {
  if (/[,\n\0]/.test(path)) {
    throw new BatonError(
      code,
      `container runner: ${what} ${JSON.stringify(path)} may not hold a comma or a newline`,
    );
  }
  return path;
}

/** True when `inner` is `outer` or below it. */
function within(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Runs agents in a container on this machine through podman or docker: one container per agent
 * process, `--rm`, the engine's init as process 1, the image's file system read-only, every
 * capability dropped, no new privileges, no network unless configured, a process limit, the
 * run's folder (its real path) mounted read-write at the same path and nothing else of this
 * machine but a per-session home folder and the configured `mounts`. The kill ladder stops the
 * engine's client (a signal it passes on to the agent; then SIGKILL), after which the container is
 * removed; a reaper removes it when baton itself dies.
 */
export class ContainerRunner implements Runner {
  readonly type = 'container';
  readonly local = false;
  readonly sharesFolder = true;
  readonly #config: ContainerRunnerConfig;
  /** baton's home (the state folder): never mounted into a container. */
  readonly #home: string;
  readonly #stateDir: string;
  readonly #sessionId: string | undefined;

  constructor(config: ContainerRunnerConfig, home: string, sessionId?: string) {
    this.#config = config;
    this.#home = home;
    this.#stateDir = join(home, 'containers');
    this.#sessionId = sessionId;
  }

  get where(): string {
    return `${this.engine} image ${this.#config.image}`;
  }

  /** The engine: the configured one, else podman when on PATH, else docker. */
  get engine(): 'podman' | 'docker' {
    return this.#config.engine ?? (findExecutable('podman') ? 'podman' : 'docker');
  }

  /** The same runner for one run's session: the session's home folder is kept across its containers. */
  forRun(_localCwd: string, sessionId: string): Runner {
    return new ContainerRunner(this.#config, this.#home, sessionId);
  }

  /**
   * The run's folder is mounted at its own (real) path. A folder that holds baton's home is
   * refused: the agent would see baton's database and tokens.
   */
  agentCwd(localCwd: string): string {
    if (within(this.#home, localCwd)) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `${localCwd} holds baton's home (${this.#home}), which a container may not see: run in a folder below it that does not hold it`,
      );
    }
    return localCwd;
  }

  /** The engine's arguments for one agent process (before the image's command). */
  runArgs(
    spawn: Pick<RunnerSpawn, 'cwd'>,
    name: string,
    sessionHome: string,
    opts: { terminal?: boolean; extra?: string[] } = {},
  ): string[] {
    const c = this.#config;
    const cwd = mountable(spawn.cwd, 'the run folder', 'CWD_NOT_ALLOWED');
    const home = c.home ?? '/home/baton';
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const user = !c.user || c.user === 'self' ? `${uid}:${gid}` : c.user;
    const network = c.network === 'private' ? [] : ['--network', c.network ?? 'none'];
    const rootlessKeepId = this.engine === 'podman' && uid !== 0 && (!c.user || c.user === 'self');
    const bind = (source: string, target: string, writable: boolean) => [
      '--mount',
      `type=bind,source=${mountable(source, 'the mount')},target=${mountable(target, 'the mount target')}${writable ? '' : ',readonly'}`,
    ];
    const mounts = (c.mounts ?? []).flatMap((m) => {
      let source: string;
      try {
        source = realpathSync(m.source);
      } catch {
        throw new BatonError(
          'INVALID_CONFIG',
          `container runner: the mount ${m.source} does not exist on this machine: create it or drop it from "mounts"`,
        );
      }
      if (within(this.#home, source) || within(source, this.#home)) {
        throw new BatonError(
          'INVALID_CONFIG',
          `container runner: the mount ${m.source} holds or is inside baton's home (${this.#home}), which a container may not see`,
        );
      }
      return bind(source, m.target ?? source, m.writable === true);
    });
    return [
      'run',
      '--rm',
      opts.terminal ? '-it' : '-i',
      '--init',
      '--name',
      name,
      '--label',
      `${HOME_LABEL}=${homeLabel(this.#home)}`,
      '--label',
      `${OWNER_LABEL}=${opts.terminal ? TERMINAL_OWNER : OWNER}`,
      '--read-only',
      // podman gives a read-only container a private /tmp, /var/tmp and /run; docker does not.
      ...(this.engine === 'docker' ? ['--tmpfs', '/tmp', '--tmpfs', '/var/tmp', '--tmpfs', '/run'] : []),
      '--cap-drop',
      'all',
      '--security-opt',
      'no-new-privileges',
      ...network,
      '--pids-limit',
      String(c.pids_limit ?? 512),
      ...(c.memory ? ['--memory', c.memory] : []),
      ...(c.cpus ? ['--cpus', String(c.cpus)] : []),
      '--user',
      user,
      ...(rootlessKeepId ? ['--userns', 'keep-id'] : []),
      ...bind(cwd, cwd, true),
      ...bind(sessionHome, home, true),
      ...mounts,
      ...(opts.extra ?? []),
      '--workdir',
      cwd,
      '--entrypoint',
      'sh',
      c.image,
    ];
  }

  /**
   * What every container of an agent process needs, checked right before it starts: the run's
   * folder (as checked is as mounted), the engine, the session's home, a fresh name.
   */
  #prepare(spawn: Pick<RunnerSpawn, 'cwd' | 'env'>): {
    engine: string;
    real: string;
    /** The session's own folder here (its home, a terminal run's private folders). */
    sessionDir: string;
    sessionHome: string;
    name: string;
    /** The agent's variables as lines for the container's shell (HOME its session home unless set). */
    vars: string;
  } {
    const vars = envLines({ HOME: this.#config.home ?? '/home/baton', ...spawn.env }, 'into a container');
    // The folder as checked is the folder mounted: a path that resolves elsewhere now is refused.
    let real: string;
    try {
      real = realpathSync(spawn.cwd);
    } catch (err) {
      throw new BatonError('CWD_NOT_ALLOWED', `${spawn.cwd} cannot be mounted: ${String(err)}`);
    }
    if (real !== spawn.cwd) {
      throw new BatonError('CWD_NOT_ALLOWED', `${spawn.cwd} now resolves to ${real}: not mounted`);
    }
    this.agentCwd(real);
    const engine = findExecutable(this.engine);
    if (!engine) {
      throw new BatonError(
        'AGENT_NOT_INSTALLED',
        `container runner: ${this.engine} is not installed (apt-get install ${this.engine === 'podman' ? 'podman' : 'docker.io'})`,
      );
    }
    const sessionDir = join(this.#stateDir, sessionFileName(this.#sessionId ?? 'no-session'));
    const sessionHome = join(sessionDir, 'home');
    this.#ownFolder(sessionHome);
    return { engine, real, sessionDir, sessionHome, name: `baton-${randomBytes(6).toString('hex')}`, vars };
  }

  /**
   * Makes a private folder for the container's user: an agent run as another user owns it (baton
   * as root can give it; else that user's writes there fail, as in a folder of someone else's).
   */
  #ownFolder(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#giveToUser(dir);
  }

  /** A file or folder of baton's, given to the configured UID:GID when baton can (as root). */
  #giveToUser(path: string): void {
    const as = /^([0-9]+):([0-9]+)$/.exec(this.#config.user ?? '');
    if (as && process.getuid?.() === 0) chownSync(path, Number(as[1]), Number(as[2]));
  }

  async start(spawn: RunnerSpawn): Promise<ChildHandle> {
    const { engine, real, sessionHome, name, vars } = this.#prepare(spawn);
    const args = [
      ...this.runArgs({ cwd: real }, name, sessionHome),
      '-c',
      CONTAINER_WRAPPER,
      'baton-runner',
      spawn.command,
      ...spawn.args,
    ];
    const log = openSync(join(this.#stateDir, 'reaper.log'), 'a', 0o600);
    let reaper;
    try {
      reaper = spawnWatcher({ command: '/bin/sh', args: ['-c', REAPER, engine, name], logFd: log });
    } finally {
      closeSync(log);
    }
    let child: ChildHandle;
    try {
      child = await ChildHandle.start({
        command: engine,
        args,
        cwd: this.#stateDir,
        env: process.env,
        ...(spawn.onStderr ? { onStderr: spawn.onStderr } : {}),
      });
    } catch (err) {
      reaper.end();
      throw err;
    }
    child.stdin.on('error', () => undefined);
    child.stdin.write(vars);
    // The client is gone (the agent exited, or the kill ladder ended it): so is the container.
    void child.exited.then(async () => {
      await removeContainers(engine, [name]).catch(() => undefined);
      reaper.end('done\n');
    });
    return child;
  }

  /**
   * A terminal run's container: `run -it` in the terminal here, its variables in a file of a
   * private folder mounted at {@link TERMINAL_ENV_DIR} that the container's shell reads and empties
   * before the agent starts ({@link CONTAINER_TERMINAL_WRAPPER}: never in a command line or the
   * container's config). A reaper in its own session, started by the terminal's shell, removes
   * the container and that folder once the engine's client is gone however it ended: a terminal
   * run outlives this process (the next owner takes it over), so its container is tied to its
   * terminal, not to baton.
   */
  async terminal(spawn: Omit<RunnerSpawn, 'onStderr'>): Promise<TerminalLaunch> {
    const { engine, real, sessionDir, sessionHome, name, vars } = this.#prepare(spawn);
    const envDir = join(sessionDir, name);
    this.#ownFolder(envDir);
    const envFile = join(envDir, 'env');
    writeFileSync(envFile, vars, { flag: 'wx', mode: 0o600 });
    this.#giveToUser(envFile);
    const run = this.runArgs({ cwd: real }, name, sessionHome, {
      terminal: true,
      extra: [
        '--mount',
        `type=bind,source=${mountable(envDir, 'the state folder')},target=${TERMINAL_ENV_DIR}`,
      ],
    });
    return {
      command: '/bin/sh',
      args: [
        '-c',
        TERMINAL_LAUNCHER,
        'baton-terminal',
        engine,
        name,
        envDir,
        ...run,
        '-c',
        CONTAINER_TERMINAL_WRAPPER,
        'baton-terminal',
        `${TERMINAL_ENV_DIR}/env`,
        spawn.command,
        ...spawn.args,
      ],
      abandon: async () => {
        await removeContainers(engine, [name]).catch(() => undefined);
        rmSync(envDir, { recursive: true, force: true });
      },
    };
  }

  /** The containers of this home an earlier owner left, once per engine and process. */
  sweep(): Promise<void> {
    const key = `${this.engine} ${this.#home}`;
    let done = swept.get(key);
    if (!done) {
      done = removeLeftContainers(this.#home, this.engine).then(() => undefined);
      swept.set(key, done);
    }
    return done;
  }

  async check(): Promise<{ problem: string; fix: string } | undefined> {
    const engine = this.engine;
    const image = this.#config.image;
    if (!findExecutable(engine)) {
      return {
        problem: `${engine} is not installed`,
        fix:
          engine === 'podman'
            ? 'apt-get install podman (or set "engine": "docker")'
            : 'install docker, or set "engine": "podman"',
      };
    }
    try {
      await execBounded(engine, ['image', 'inspect', '--format', '{{.Id}}', image], { timeoutMs: 30_000 });
    } catch (err) {
      const text = err instanceof ExecFailure ? err.stderr || err.message : String(err);
      if (/cannot connect|connection refused|Is the docker daemon running/i.test(text))
        return {
          problem: `${engine}'s daemon is not reachable: ${lastLine(text)}`,
          fix: `start it (systemctl start ${engine}) or check your access to its socket`,
        };
      return {
        problem: `${engine} has no image ${image}`,
        fix: `${engine} pull ${image} (or build it: ${engine} build -t ${image} .)`,
      };
    }
    // A container that starts and has a POSIX sh: what every agent process needs.
    try {
      const out = await execBounded(
        engine,
        [
          'run',
          '--rm',
          '--network',
          'none',
          '--read-only',
          '--entrypoint',
          'sh',
          image,
          '-c',
          'echo baton-ok',
        ],
        { timeoutMs: 60_000 },
      );
      if (out.includes('baton-ok')) return undefined;
      return { problem: `a container of ${image} did not answer`, fix: `check that ${image} has /bin/sh` };
    } catch (err) {
      const text = err instanceof ExecFailure ? err.stderr || err.message : String(err);
      return {
        problem: `${engine} cannot start a container of ${image}: ${lastLine(text)}`,
        fix: startFix(text, engine, image),
      };
    }
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** The fix for an engine that cannot start a container, from what it said. */
export function startFix(text: string, engine: string, image: string): string {
  if (/setrlimit/i.test(text))
    return 'this machine may not raise open-file/process limits (no CAP_SYS_RESOURCE): set the engine\'s default ulimits at or below your hard limits, e.g. in /etc/containers/containers.conf [containers] default_ulimits = ["nofile=N:N", "nproc=M:M"] with N from `ulimit -Hn`';
  if (/hybrid mode not supported/i.test(text))
    return 'crun refuses cgroups v1 with a controller left on the v2 hierarchy: move it to v1 (for each controller in /sys/fs/cgroup/unified/cgroup.controllers: mkdir /sys/fs/cgroup/NAME && mount -t cgroup -o NAME cgroup /sys/fs/cgroup/NAME) or boot with cgroups v2 only';
  if (/executable file.*not found|no such file/i.test(text)) return `check that ${image} has /bin/sh`;
  return `run \`${engine} run --rm --entrypoint sh ${image} -c true\` and fix what it says`;
}
