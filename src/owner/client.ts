import { closeSync, openSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BatonError, errorFromWire } from '../errors.js';
import type { Baton, CallCtx, Change, FrontKind } from '../ops/baton.js';
import { OPERATIONS } from '../ops/operations.js';
import { readLines } from '../process/lines.js';
import { spawnDaemon } from '../process/child.js';
import { isProcessAlive } from '../process/identity.js';
import { VERSION } from '../version.js';
import {
  MAX_FRAME,
  OWNER_PROTOCOL,
  daemonLogPath,
  daemonSocketPath,
  readFirstLine,
  rotateDaemonLog,
  type Hello,
  type Welcome,
} from './protocol.js';

const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const START_TIMEOUT_MS = 20_000;

/** An open connection to the daemon, after the hello/welcome exchange. */
export type DaemonLink = { socket: Socket; welcome: Welcome };

/** True when the daemon at the other end runs this very version (same wire protocol). */
export function sameVersion(welcome: Welcome): boolean {
  return welcome.version === VERSION && welcome.protocol === OWNER_PROTOCOL;
}

/** The message for a daemon of another version: what is wrong and what to do. */
export function versionMismatchMessage(welcome: Welcome): string {
  return `the running baton daemon is version ${welcome.version} (pid ${welcome.pid}) but this baton is ${VERSION}. Run \`baton daemon stop\` (add --force if runs are active: they become interrupted, and follow_up continues them); the next call starts a daemon of this version`;
}

/**
 * Connects to the daemon of `home` and says hello. Resolves undefined when no daemon listens (no
 * socket, or a stale one nobody accepts on); rejects DAEMON_UNAVAILABLE when one accepts but does
 * not answer like a baton daemon.
 */
export function connectDaemon(
  home: string,
  hello: Omit<Hello, 'baton' | 'version' | 'protocol'>,
): Promise<DaemonLink | undefined> {
  const path = daemonSocketPath(home);
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const onError = (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else
        reject(
          new BatonError('DAEMON_UNAVAILABLE', `cannot reach the baton daemon at ${path}: ${err.message}`),
        );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.on('error', () => undefined);
      const full: Hello = { baton: 'hello', version: VERSION, protocol: OWNER_PROTOCOL, ...hello };
      socket.write(`${JSON.stringify(full)}\n`);
      readFirstLine(socket, 10_000).then(
        (line) => {
          let welcome: Welcome;
          try {
            welcome = JSON.parse(line) as Welcome;
          } catch {
            welcome = {} as Welcome;
          }
          if (welcome?.baton !== 'welcome') {
            socket.destroy();
            reject(new BatonError('DAEMON_UNAVAILABLE', `${path} did not answer like a baton daemon`));
            return;
          }
          resolve({ socket, welcome });
        },
        (err: NodeJS.ErrnoException) => {
          socket.destroy();
          // An owner that died (or is being replaced) as we connected: as if none listened.
          if (err.code === 'EPIPE' || err.code === 'ECONNRESET' || /connection closed/.test(err.message)) {
            resolve(undefined);
            return;
          }
          reject(
            new BatonError(
              'DAEMON_UNAVAILABLE',
              `the baton daemon at ${path} did not answer: ${err.message}`,
            ),
          );
        },
      );
    });
  });
}

/**
 * Starts a daemon for `home` in the background (its own session, output appended to
 * `daemon.log`) and waits until it accepts connections. Another process starting one at the
 * same time is fine: the second daemon finds the lock taken and exits, and both callers connect
 * to the first. Rejects DAEMON_UNAVAILABLE with the end of the log when it does not come up.
 */
export async function startDaemon(
  home: string,
  hello: Omit<Hello, 'baton' | 'version' | 'protocol'>,
): Promise<DaemonLink> {
  rotateDaemonLog(home);
  const logFile = daemonLogPath(home);
  let fd: number;
  try {
    fd = openSync(logFile, 'a', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BatonError(
      'STORE_ERROR',
      code === 'EROFS'
        ? `BATON_HOME ${home} is on a read-only file system (EROFS): the daemon cannot keep its state there; point BATON_HOME at a writable folder`
        : `cannot write ${logFile} (${code ?? (err as Error).message}); point BATON_HOME at a writable folder`,
    );
  }
  const env: NodeJS.ProcessEnv = { ...process.env, BATON_HOME: home };
  // The daemon serves every client: nothing of this caller's own context goes with it.
  delete env.BATON_PARENT_RUN;
  let pid: number;
  try {
    pid = spawnDaemon({
      command: process.execPath,
      args: [CLI_MAIN, 'daemon', 'run'],
      cwd: home,
      env,
      logFd: fd,
    });
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  let delay = 20;
  for (;;) {
    const link = await connectDaemon(home, hello);
    if (link) return link;
    if (!isProcessAlive(pid)) {
      // Ours exited: fine when another one won the lock and is coming up; otherwise it failed.
      const tail = logTail(logFile, 5);
      if (!/already serves/.test(tail)) {
        throw new BatonError(
          'DAEMON_UNAVAILABLE',
          `the baton daemon did not start. From ${logFile}:\n${tail}`,
        );
      }
    }
    if (Date.now() > deadline) {
      throw new BatonError(
        'DAEMON_UNAVAILABLE',
        `the baton daemon did not accept connections within ${START_TIMEOUT_MS / 1000}s; see ${logFile}`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(200, delay * 2);
  }
}

/** The last `n` lines of a file ('' when it cannot be read). */
export function logTail(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

type Waiter = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  progress?: CallCtx['progress'];
};

/** True for operations that may be asked again after the owner died mid-call (read-only or idempotent). */
function isRetryable(op: string): boolean {
  if (op === 'owner.status') return true;
  const annotations = OPERATIONS.find((o) => o.name === op)?.annotations;
  return Boolean(annotations?.readOnlyHint || annotations?.idempotentHint);
}

const OWNER_STOPPED =
  'baton was stopped (shutdown or baton daemon stop) while this call was in flight; the next call starts it again';

const OWNER_GONE =
  'the baton owner (daemon) stopped while this call was in flight; its runs are interrupted and follow_up continues them. Call again: a new daemon starts.';

/**
 * {@link Baton} over the owner protocol: what every front uses when this process does not own the
 * runs. Connects to the owner of `home` (starting the daemon when none runs and `start` allows),
 * refuses an owner of another version (DAEMON_VERSION_MISMATCH with the fix), and when the owner
 * goes away, fails the calls in flight and reconnects: at once when something watches (a new
 * daemon recovers the dead owner's runs, and watchers get a `reset` change), else on the next call.
 */
export class OwnerClient implements Baton {
  readonly home: string;
  readonly #hello: Omit<Hello, 'baton' | 'version' | 'protocol'>;
  readonly #start: boolean;
  readonly #beforeStart: (() => void) | undefined;
  #link: DaemonLink | undefined;
  #connecting: Promise<DaemonLink> | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, Waiter>();
  /** Calls to an owner of protocol 1 (answers in order, no ids): only `owner.status` / `owner.stop`. */
  readonly #legacy: Waiter[] = [];
  readonly #watchers = new Set<{ fn: (c: Change) => void; events: boolean }>();
  #closed = false;
  /** The owner said it stops on purpose: no new owner is started until the next call. */
  #byeSaid = false;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    home: string,
    front: { kind: FrontKind; parentRun?: string | undefined; mode?: 'front' | 'control' },
    opts: {
      start?: boolean;
      /** Runs before a daemon is started (the front checks the config, so errors keep their code). */
      beforeStart?: () => void;
    } = {},
  ) {
    this.#beforeStart = opts.beforeStart;
    this.home = home;
    this.#hello = {
      mode: front.mode ?? 'front',
      kind: front.kind,
      ...(front.parentRun ? { parent_run: front.parentRun } : {}),
    };
    this.#start = opts.start ?? true;
  }

  /** The owner's welcome, once connected. */
  get welcome(): Welcome | undefined {
    return this.#link?.welcome;
  }

  /**
   * Connects now (starting the daemon if allowed). Resolves undefined when no owner runs and
   * `start` is off; rejects DAEMON_UNAVAILABLE / DAEMON_VERSION_MISMATCH.
   */
  async connect(): Promise<Welcome | undefined> {
    if (!this.#start) {
      if (this.#link && !this.#link.socket.destroyed) return this.#link.welcome;
      const link = await connectDaemon(this.home, this.#hello);
      if (!link) return undefined;
      this.#attach(link);
      return link.welcome;
    }
    return (await this.#ensure()).welcome;
  }

  #ensure(): Promise<DaemonLink> {
    if (this.#closed) return Promise.reject(new BatonError('DAEMON_UNAVAILABLE', 'this client is closed'));
    if (this.#link && !this.#link.socket.destroyed) return Promise.resolve(this.#link);
    this.#connecting ??= (async () => {
      try {
        let link = await connectDaemon(this.home, this.#hello);
        if (!link && this.#start) {
          this.#beforeStart?.();
          link = await startDaemon(this.home, this.#hello);
        }
        if (!link) throw new BatonError('DAEMON_UNAVAILABLE', `no baton owner runs for ${this.home}`);
        this.#attach(link);
        return link;
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  #attach(link: DaemonLink): void {
    if (this.#hello.mode === 'front' && !sameVersion(link.welcome)) {
      link.socket.destroy();
      throw new BatonError('DAEMON_VERSION_MISMATCH', versionMismatchMessage(link.welcome));
    }
    const replaced = this.#link !== undefined;
    this.#link = link;
    const socket = link.socket;
    void readLines(socket, MAX_FRAME, {
      onLine: (line) => this.#onFrame(line),
      onOversize: () => socket.destroy(),
    });
    socket.resume();
    socket.once('close', () => {
      if (this.#link === link) this.#link = undefined;
      const why = this.#byeSaid ? OWNER_STOPPED : OWNER_GONE;
      for (const w of [...this.#waiting.values(), ...this.#legacy.splice(0)]) {
        w.reject(new BatonError('DAEMON_UNAVAILABLE', why));
      }
      this.#waiting.clear();
      if (!this.#closed && !this.#byeSaid && this.#watchers.size > 0) this.#scheduleReconnect(50);
    });
    if (this.#watchers.size > 0) {
      this.#sendWatch();
      if (replaced) for (const w of this.#watchers) w.fn({ type: 'reset' });
    }
  }

  #scheduleReconnect(delay: number): void {
    if (this.#reconnectTimer || this.#closed) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed || this.#byeSaid || this.#watchers.size === 0) return;
      this.#ensure().catch(() => this.#scheduleReconnect(Math.min(delay * 2, 2000)));
    }, delay);
  }

  #onFrame(line: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    // Only objects are frames (`null`, numbers and arrays are ignored, never a crash).
    if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return;
    if (frame.bye) {
      this.#byeSaid = true;
      return;
    }
    if (frame.change) {
      const change = frame.change as Change;
      for (const w of this.#watchers) {
        if (change.type === 'events' && !w.events) w.fn({ ...change, events: [] });
        else w.fn(change);
      }
      return;
    }
    if (typeof frame.id !== 'number') {
      const legacy = this.#legacy.shift();
      if (!legacy) return;
      if (frame.error) legacy.reject(errorFromWire(frame.error as { code?: unknown; message?: unknown }));
      else legacy.resolve(frame.result);
      return;
    }
    const w = this.#waiting.get(frame.id);
    if (!w) return;
    if (frame.progress) {
      const p = frame.progress as { elapsed_ms: number; message: string };
      w.progress?.(p.elapsed_ms, p.message);
      return;
    }
    this.#waiting.delete(frame.id);
    if (frame.error) w.reject(errorFromWire(frame.error as { code?: unknown; message?: unknown }));
    else w.resolve(frame.result);
  }

  #write(frame: unknown): void {
    const socket = this.#link?.socket;
    if (socket && !socket.destroyed) socket.write(`${JSON.stringify(frame)}\n`);
  }

  #sendWatch(): void {
    const events = [...this.#watchers].some((w) => w.events);
    this.#write({ watch: { events } });
  }

  async call<T extends object = Record<string, unknown>>(
    op: string,
    args?: unknown,
    ctx: CallCtx = {},
  ): Promise<T> {
    try {
      return await this.#call<T>(op, args, ctx);
    } catch (err) {
      // The owner died with the call in flight: a call that changes nothing (or is idempotent)
      // is asked again of the next owner; any other is reported (it may have been done).
      if (!(err instanceof BatonError && err.message === OWNER_GONE) || !isRetryable(op) || this.#closed)
        throw err;
      return this.#call<T>(op, args, ctx);
    }
  }

  async #call<T extends object>(op: string, args: unknown, ctx: CallCtx): Promise<T> {
    ctx.signal?.throwIfAborted();
    this.#byeSaid = false;
    const link = await this.#ensure();
    if (link.welcome.protocol < OWNER_PROTOCOL && this.#hello.mode === 'control') {
      // An older daemon (being replaced): its control channel takes {op} lines, answered in order.
      const legacyOp = op === 'owner.status' ? 'status' : op === 'owner.stop' ? 'stop' : undefined;
      if (!legacyOp) throw new BatonError('DAEMON_VERSION_MISMATCH', versionMismatchMessage(link.welcome));
      return new Promise<T>((resolve, reject) => {
        this.#legacy.push({ resolve: resolve as (v: unknown) => void, reject });
        this.#write({ op: legacyOp, ...(args && typeof args === 'object' ? args : {}) });
      });
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => this.#write({ id, cancel: true });
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => ctx.signal?.removeEventListener('abort', onAbort);
      this.#waiting.set(id, {
        resolve: (v) => {
          done();
          resolve(v as T);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        ...(ctx.progress ? { progress: ctx.progress } : {}),
      });
      this.#write({
        id,
        op,
        ...(args === undefined ? {} : { args }),
        ...(ctx.via ? { via: ctx.via } : {}),
        ...(ctx.progress ? { progress: true } : {}),
      });
    });
  }

  watch(listener: (change: Change) => void, opts: { events?: boolean } = {}): () => void {
    const entry = { fn: listener, events: opts.events !== false };
    this.#watchers.add(entry);
    if (this.#link && !this.#link.socket.destroyed) this.#sendWatch();
    else this.#ensure().catch(() => this.#scheduleReconnect(200));
    return () => {
      this.#watchers.delete(entry);
      if (this.#watchers.size === 0) this.#write({ unwatch: true });
      else this.#sendWatch();
    };
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#link?.socket.end();
    this.#link?.socket.destroy();
    this.#link = undefined;
  }
}
