import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { openApp, type App } from '../app.js';
import { BatonError } from '../errors.js';
import { processStartTime } from '../process/identity.js';
import { VERSION } from '../version.js';
import { takeOwnerLock } from './lock.js';
import { daemonLogPath, daemonPidPath, daemonSocketPath, type DaemonStatus } from './protocol.js';
import { serveOwner, type OwnerServer } from './server.js';

/** This process owns the runs of a `BATON_HOME`: engine, store, recovery and `daemon.sock`. */
export type Owner = {
  app: App;
  server: OwnerServer;
  startedAt: Date;
  status: () => DaemonStatus;
  /** Stops serving, stops the engine (runs in flight become interrupted), releases the lock. */
  close: () => Promise<void>;
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
      control: {
        status,
        stop: (force) => {
          const active = app.engine.activeRunCount;
          if (active > 0 && !force) {
            throw new BatonError(
              'INVALID_PARAMS',
              `${active} run(s) are still active; wait for them, or stop with --force (they become interrupted, and follow_up continues them)`,
            );
          }
          setImmediate(() => opts.onStop(`baton daemon stop${force ? ' --force' : ''}`));
          return { stopping: true, interrupted_runs: active };
        },
      },
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
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      srv.close();
      try {
        await app.close();
      } finally {
        // Ours: no other owner can have written it while this one holds the lock.
        try {
          unlinkSync(daemonPidPath(home));
        } catch {
          // gone already
        }
        lock.close();
      }
    })();
    return closing;
  };
  return { app, server: srv, startedAt, status, close };
}
