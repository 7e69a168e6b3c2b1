import { resolveHome } from '../config.js';
import { toBatonError } from '../errors.js';
import { onStopSignals } from '../process/signals.js';
import { VERSION } from '../version.js';
import { openOwner, type Owner } from './owner.js';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

/**
 * `baton daemon run`: the owner of a `BATON_HOME` in the foreground, with no front of its own. It
 * runs the engine (agent processes, store, queue) and serves every front on
 * `$BATON_HOME/daemon.sock` (mode 0600). It stops on SIGTERM/SIGINT, on `baton daemon stop`, or
 * after `daemon.idle_stop` with no active runs and no clients. Exits 0 at once when another
 * process already owns this BATON_HOME.
 */
export async function runDaemon(): Promise<void> {
  const home = resolveHome();
  let lastBusy = Date.now();
  let stopping: Promise<void> | undefined;
  let owner: Owner | undefined;
  const stop = (why: string, code = 0): Promise<void> => {
    stopping ??= (async () => {
      log(`stopping: ${why}`);
      try {
        await owner?.close();
      } finally {
        log('stopped');
        process.exit(code);
      }
    })();
    return stopping;
  };
  try {
    owner = await openOwner({
      home,
      role: 'daemon',
      log,
      onStop: (why) => void stop(why),
      onClients: () => (lastBusy = Date.now()),
    });
  } catch (err) {
    const e = toBatonError(err);
    if (e.code === 'DAEMON_UNAVAILABLE' && /already owns/.test(e.message)) {
      log(`another baton process already serves ${home}; this one exits`);
      process.exit(0);
    }
    log(`baton daemon cannot start: ${e.code}: ${e.message}`);
    process.exit(1);
  }
  const o = owner;
  log(`baton daemon ${VERSION} (pid ${process.pid}) serving ${o.server.socketPath}`);
  const idleMs = o.app.config.daemon.idleStopMs;
  if (idleMs > 0) {
    const timer = setInterval(
      () => {
        const busy = o.server.clients > 0 || o.app.engine.activeRunCount > 0;
        if (busy) lastBusy = Date.now();
        else if (Date.now() - lastBusy >= idleMs) void stop(`idle for ${Math.round(idleMs / 1000)}s`);
      },
      Math.min(30_000, Math.max(200, idleMs / 4)),
    );
    timer.unref();
  }
  onStopSignals((signal) => stop(signal));
}
