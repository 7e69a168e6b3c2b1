import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { openApp, type App } from '../app.js';
import { BatonError } from '../errors.js';
import { processStartTime } from '../process/identity.js';
import { VERSION } from '../version.js';
import { takeOwnerLock } from './lock.js';
import { daemonLogPath, daemonPidPath, daemonSocketPath, type DaemonStatus } from './protocol.js';
import type { OwnerHooks } from '../ops/operations.js';
import { serveOwner, type OwnerServer } from './server.js';

/** This process owns the runs of a `BATON_HOME`: engine, store, recovery and `daemon.sock`. */
export type Owner = {
  app: App;
  server: OwnerServer;
  startedAt: Date;
  status: () => DaemonStatus;
  /** Stops serving, stops the engine (runs in flight become interrupted), releases the lock. */
  close: () => Promise<void>;
  /** The `shutdown` operation of this owner (see OwnerHooks). */
  shutdown: OwnerHooks['shutdown'];
};

/**
 * Takes the owner lock of `home` and becomes its owner: opens the store and the engine, recovers
 * what a dead owner left (its runs become `interrupted`; that happens here, once, never on a read),
 * and serves the owner protocol on `daemon.sock`. Rejects DAEMON_UNAVAILABLE naming the running
 * owner when another process holds the lock, INVALID_CONFIG / STORE_ERROR with what to fix.
 * `stop` is what `owner.stop` (`baton daemon stop`) does in this process.
 */
export async function openOwner(opts: {
  home: string;
  role: DaemonStatus['role'];
  env?: NodeJS.ProcessEnv;
  log: (message: string) => void;
  /** Called for `baton daemon stop` once it is accepted. */
  onStop: (why: string) => void;
  onClients?: (count: number) => void;
}): Promise<Owner> {
  const { home, log } = opts;
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const lock: Server | undefined = await takeOwnerLock(home);
  if (!lock) {
    throw new BatonError(
      'DAEMON_UNAVAILABLE',
      `another baton process already owns the runs of ${home} (see \`baton daemon status\`); stop it first (\`baton daemon stop\`), or use another BATON_HOME`,
    );
  }
  let app: App;
  try {
    app = openApp(opts.env ?? process.env);
  } catch (err) {
    lock.close();
    throw err;
  }
  const startedAt = new Date();
  let server: OwnerServer | undefined;
  const status = (): DaemonStatus => ({
    pid: process.pid,
    version: VERSION,
    started_at: startedAt.toISOString(),
    uptime_ms: Date.now() - startedAt.getTime(),
    socket: server?.socketPath ?? '',
    log: daemonLogPath(home),
    clients: server?.clients ?? 0,
    active_runs: app.engine.activeRunCount,
    idle_stop_ms: app.config.daemon.idleStopMs,
    role: opts.role,
  });
  // Written before anyone can connect: whoever reaches this owner finds its pid here.
  writeFileSync(
    daemonPidPath(home),
    `${JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) ?? null, version: VERSION, socket: daemonSocketPath(home), started_at: startedAt.toISOString(), role: opts.role })}\n`,
    { mode: 0o600 },
  );
  try {
    server = await serveOwner({
      engine: app.engine,
      home,
      startedAt,
      log,
      ...(opts.onClients ? { onClients: opts.onClients } : {}),
      control: { status, shutdown },
    });
  } catch (err) {
    await app.close();
    lock.close();
    throw new BatonError(
      'DAEMON_UNAVAILABLE',
      `cannot listen on ${home}/daemon.sock: ${(err as Error).message}`,
    );
  }
  const srv = server;
  let shuttingDown = false;
  /** A deliberate shutdown also removes owner.lock (a crash or SIGTERM keeps it for the next owner). */
  let removeLockFile = false;
  /** `shutdown` / `baton daemon stop`: see OwnerHooks.shutdown. */
  async function shutdown(force: boolean, asked = 'shutdown'): Promise<Record<string, unknown>> {
    const active = app.store.runs.listActive();
    if (active.length > 0 && !force) {
      throw new BatonError(
        'INVALID_PARAMS',
        `${active.length} run(s) are still active (${active.map((r) => r.label ?? r.id).join(', ')}); wait for them, or stop with force (--force): they are cancelled first, and follow_up continues their sessions`,
      );
    }
    if (shuttingDown) throw new BatonError('INVALID_PARAMS', 'baton is already stopping');
    shuttingDown = true;
    // The kill ladder for each (protocol cancel, TERM, KILL), all at once.
    const cancelled: string[] = [];
    await Promise.all(
      active.map(async (r) => {
        const after = await app.engine.cancelRun(r.id).catch(() => undefined);
        if (after?.status === 'cancelled') cancelled.push(r.id);
      }),
    );
    // Nothing new can reach this owner; the answer still goes out on the caller's connection.
    srv.stopListening();
    // The pid and lock files go in close(), after the engine stopped and just before the lock is
    // released: removed earlier, a new owner could start (with a new key) beside this one.
    removeLockFile = true;
    const removed = [daemonSocketPath(home), daemonPidPath(home), join(home, 'owner.lock')];
    setTimeout(() => opts.onStop(`${asked}${force ? ' --force' : ''}`), 50);
    return { stopping: true, pid: process.pid, cancelled_runs: cancelled, removed };
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      srv.close();
      try {
        await app.close();
      } finally {
        // Ours: no other owner can have written them while this one holds the lock.
        for (const file of [daemonPidPath(home), ...(removeLockFile ? [join(home, 'owner.lock')] : [])]) {
          try {
            unlinkSync(file);
          } catch {
            // gone already
          }
        }
        lock.close();
      }
    })();
    return closing;
  };
  return { app, server: srv, startedAt, status, close, shutdown };
}
