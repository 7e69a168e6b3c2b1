import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { BatonError } from '../errors.js';
import { processStartTime, signalGroup } from './identity.js';

/** How a child process ended: a result, not an exception. */
export type ChildEnd = { code: number | null; signal: NodeJS.Signals | null };

/** Options of {@link startChild}. */
export type ChildOptions = {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Bytes of stderr kept for error reports (the tail). Default 16 KiB. */
  stderrLimit?: number;
  /** Called with each stderr chunk as it arrives. */
  onStderr?: (text: string) => void;
};

const live = new Set<ChildHandle>();

/**
 * A running child in its own process group (`detached: true`), with piped stdio, a bounded stderr
 * tail, and a kill ladder. When the group leader exits, the rest of its group is killed too, so a
 * child never leaves orphans behind.
 */
export class ChildHandle {
  readonly pid: number;
  readonly startTime: string | undefined;
  readonly exited: Promise<ChildEnd>;
  #child: ChildProcess;
  #end: ChildEnd | undefined;
  #stderr = '';
  readonly #stderrLimit: number;

  private constructor(child: ChildProcess, opts: ChildOptions) {
    this.#child = child;
    this.pid = child.pid as number;
    this.startTime = processStartTime(this.pid);
    this.#stderrLimit = opts.stderrLimit ?? 16 * 1024;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-this.#stderrLimit);
      opts.onStderr?.(chunk);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#end = { code, signal };
        live.delete(this);
        signalGroup(this.pid, 'SIGKILL'); // stragglers of the group
        resolve(this.#end);
      });
    });
    live.add(this);
  }

  /**
   * Starts `command` and resolves once it is running. Throws AGENT_NOT_INSTALLED when the command
   * cannot be found or executed.
   */
  static start(opts: ChildOptions): Promise<ChildHandle> {
    if (!existsSync(opts.cwd)) {
      return Promise.reject(
        new BatonError('CWD_NOT_FOUND', `the working directory ${opts.cwd} no longer exists`),
      );
    }
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(opts.command, [...opts.args], {
          cwd: opts.cwd,
          env: opts.env,
          detached: true,
          shell: false,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      } catch (err) {
        reject(
          new BatonError('AGENT_NOT_INSTALLED', `cannot start ${opts.command}: ${(err as Error).message}`),
        );
        return;
      }
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new BatonError(
            'AGENT_NOT_INSTALLED',
            err.code === 'ENOENT'
              ? `${opts.command} was not found: install it or put it on PATH (baton doctor shows the fix)`
              : `cannot start ${opts.command}: ${err.message}`,
            { cause: err },
          ),
        );
      });
      child.once('spawn', () => resolve(new ChildHandle(child, opts)));
    });
  }

  /** The child's stdin. */
  get stdin(): Writable {
    return this.#child.stdin as Writable;
  }

  /** The child's stdout. */
  get stdout(): Readable {
    return this.#child.stdout as Readable;
  }

  /** The last bytes the child wrote to stderr. */
  stderrTail(): string {
    return this.#stderr;
  }

  /** How it ended, once it has. */
  get end(): ChildEnd | undefined {
    return this.#end;
  }

  /**
   * The kill ladder's last two rungs: close stdin, SIGTERM the group, wait `graceMs`, SIGKILL the
   * group, wait for the exit. Resolves with how the child ended. Safe to call more than once.
   */
  async stop(graceMs = 2000): Promise<ChildEnd> {
    if (this.#end) return this.#end;
    this.#child.stdin?.end();
    signalGroup(this.pid, 'SIGTERM');
    if (await settlesWithin(this.exited, graceMs)) return this.exited;
    signalGroup(this.pid, 'SIGKILL');
    return this.exited;
  }

  /** SIGKILLs the group at once (used when baton itself is going down). */
  killNow(): void {
    signalGroup(this.pid, 'SIGKILL');
  }
}

/** Resolves true when `p` settles (either way) within `ms`, false otherwise. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}

/** SIGKILLs every child process group this process started; synchronous, for exit paths. */
export function killAllChildrenNow(): void {
  for (const c of live) c.killNow();
}

/**
 * Starts a long-lived background process that outlives this one: its own session (setsid via
 * `detached`), no stdin, stdout and stderr appended to `logFile`, not waited for. Returns its pid,
 * or throws when it cannot be started.
 */
export function spawnDaemon(options: {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFd: number;
}): number {
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', options.logFd, options.logFd],
  });
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) {
    throw new BatonError('INTERNAL', `could not start ${options.command} ${options.args.join(' ')}`);
  }
  return child.pid;
}

/**
 * Starts a process that outlives this one's group (its own session), its stdin a pipe from this
 * process (it sees this process die when that pipe ends, even on SIGKILL), its stderr on `logFd`.
 * Returns that pipe; not waited for.
 */
export function spawnWatcher(options: { command: string; args: readonly string[]; logFd: number }): Writable {
  const child = spawn(options.command, options.args, {
    detached: true,
    stdio: ['pipe', 'ignore', options.logFd],
  });
  child.on('error', () => undefined);
  child.unref();
  const pipe = child.stdin as Writable;
  pipe.on('error', () => undefined);
  return pipe;
}
