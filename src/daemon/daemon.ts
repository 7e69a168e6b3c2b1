import { chmodSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import { openApp, type App } from '../app.js';
import { resolveHome } from '../config.js';
import { toBatonError } from '../errors.js';
import { answerLines, handleControlOp } from '../ipc/control.js';
import { buildMcpServer } from '../mcp/server.js';
import { TOOLS, parseArgs, type ToolDef } from '../mcp/tools.js';
import { killAllChildrenNow } from '../process/child.js';
import { processStartTime } from '../process/identity.js';
import { VERSION } from '../version.js';
import {
  DAEMON_PROTOCOL,
  daemonLockName,
  daemonLogPath,
  daemonPidPath,
  daemonSocketPath,
  readFirstLine,
  type DaemonStatus,
  type Hello,
  type Welcome,
} from './wire.js';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

/**
 * Takes the daemon lock for `home` (see {@link daemonLockName}); resolves with the lock's server,
 * or undefined when another daemon holds it. Off Linux there are no abstract sockets: the socket
 * file check in {@link runDaemon} is the only guard.
 */
function takeLock(home: string): Promise<Server | undefined> {
  if (process.platform !== 'linux') return Promise.resolve(createServer());
  return new Promise((resolve) => {
    const lock = createServer((s) => s.destroy());
    lock.once('error', () => resolve(undefined));
    lock.listen(daemonLockName(home), () => resolve(lock));
  });
}

/**
 * `baton daemon run`: the daemon in the foreground. It owns the engine (agent processes, store,
 * queue) and serves MCP fronts and control clients on `$BATON_HOME/daemon.sock` (mode 0600). It
 * stops on SIGTERM/SIGINT, on `baton daemon stop`, or after `daemon.idle_stop` with no active
 * runs and no clients. Exits 0 at once when another daemon already serves this BATON_HOME.
 */
export async function runDaemon(): Promise<void> {
  const home = resolveHome();
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const lock = await takeLock(home);
  if (!lock) {
    log(`another baton daemon already serves ${home}; this one exits`);
    process.exit(0);
  }
  let app: App;
  try {
    app = openApp(process.env, { daemon: true });
  } catch (err) {
    const e = toBatonError(err);
    log(`baton daemon cannot start: ${e.code}: ${e.message}`);
    process.exit(1);
  }
  const startedAt = new Date();
  const socketPath = daemonSocketPath(home);
  const clients = new Set<Socket>();
  /** MCP hosts connected (their `baton mcp` fronts). */
  const fronts = new Set<Socket>();
  let lastBusy = Date.now();
  let stopping: Promise<void> | undefined;

  const status = (): DaemonStatus => ({
    pid: process.pid,
    version: VERSION,
    started_at: startedAt.toISOString(),
    uptime_ms: Date.now() - startedAt.getTime(),
    socket: socketPath,
    log: daemonLogPath(home),
    clients: fronts.size,
    active_runs: app.engine.activeRunCount,
    idle_stop_ms: app.config.daemon.idleStopMs,
  });

  const stop = (why: string, code = 0): Promise<void> => {
    stopping ??= (async () => {
      log(`stopping: ${why}`);
      server.close();
      for (const c of clients) c.destroy();
      try {
        await app.close();
      } finally {
        // Ours: no other daemon can have written them while this one holds the lock.
        for (const p of [socketPath, daemonPidPath(home)]) {
          try {
            unlinkSync(p);
          } catch {
            // gone already
          }
        }
        lock.close();
        log('stopped');
        process.exit(code);
      }
    })();
    return stopping;
  };

  const server = createServer((socket) => {
    clients.add(socket);
    lastBusy = Date.now();
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clients.delete(socket);
      lastBusy = Date.now();
    });
    void accept(socket).catch((err: unknown) => {
      log(`a client was dropped: ${err instanceof Error ? err.message : String(err)}`);
      socket.destroy();
    });
  });

  const accept = async (socket: Socket) => {
    const line = await readFirstLine(socket, 10_000);
    let hello: Hello;
    try {
      hello = JSON.parse(line) as Hello;
    } catch {
      throw new Error('its first line is not JSON');
    }
    if (hello?.baton !== 'hello' || (hello.mode !== 'mcp' && hello.mode !== 'control')) {
      throw new Error('its first line is not a baton hello');
    }
    const welcome: Welcome = {
      baton: 'welcome',
      version: VERSION,
      protocol: DAEMON_PROTOCOL,
      pid: process.pid,
      started_at: startedAt.toISOString(),
      home,
    };
    socket.write(`${JSON.stringify(welcome)}\n`);
    // A front of another version is not served: it reports the mismatch to its host. Control
    // clients of any version may still ask for status and stop.
    if (hello.mode === 'control') serveControlChannel(socket);
    else if (hello.version === VERSION && hello.protocol === DAEMON_PROTOCOL) serveMcp(socket, hello);
    else socket.end();
  };

  const serveMcp = (socket: Socket, hello: Hello) => {
    fronts.add(socket);
    const built: { dispose: () => void }[] = [];
    const handle = serveStdio(
      () => {
        const b = buildMcpServer(app.engine, hello.parent_run ? { parentRun: hello.parent_run } : {});
        built.push(b);
        return b.server;
      },
      {
        transport: new StdioServerTransport(socket, socket),
        onerror: (err) => log(`mcp: ${err.message}`),
      },
    );
    socket.once('close', () => {
      fronts.delete(socket);
      for (const b of built) b.dispose();
      void Promise.resolve(handle.close()).catch(() => undefined);
    });
    socket.resume();
  };

  const serveControlChannel = (socket: Socket) => answerLines(socket, 8 * 1024 * 1024, controlRequest);

  const controlRequest = async (line: string): Promise<unknown> => {
    let op: { op?: string; force?: boolean; input?: unknown };
    try {
      op = JSON.parse(line) as typeof op;
    } catch {
      return { error: { code: 'INVALID_PARAMS', message: 'not JSON' } };
    }
    try {
      switch (op.op) {
        case 'status':
          return { result: status() };
        case 'stop': {
          const active = app.engine.activeRunCount;
          if (active > 0 && !op.force) {
            return {
              error: {
                code: 'INVALID_PARAMS',
                message: `${active} run(s) are still active in the daemon; wait for them, or stop with --force (they become interrupted, and follow_up continues them)`,
              },
            };
          }
          setImmediate(() => void stop(`baton daemon stop${op.force ? ' --force' : ''}`));
          return { result: { stopping: true, interrupted_runs: active } };
        }
        case 'spawn_run': {
          // Validated like the MCP tool's arguments (the CLI sends the same fields).
          const def = TOOLS.find((d) => d.name === 'spawn_run') as ToolDef;
          return { result: await def.run(app.engine, parseArgs(def, op.input) as never, {}) };
        }
        default:
          return handleControlOp(app.engine, op);
      }
    } catch (err) {
      return { error: toBatonError(err).toJSON() };
    }
  };

  // The lock is ours: any socket file left is a dead daemon's.
  try {
    unlinkSync(socketPath);
  } catch {
    // none
  }
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    log(`baton daemon cannot listen on ${socketPath}: ${(err as Error).message}`);
    await app.close();
    process.exit(1);
  } finally {
    process.umask(oldMask);
  }
  chmodSync(socketPath, 0o600);
  writeFileSync(
    daemonPidPath(home),
    `${JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) ?? null, version: VERSION, socket: socketPath, started_at: startedAt.toISOString() })}\n`,
    { mode: 0o600 },
  );
  log(`baton daemon ${VERSION} (pid ${process.pid}) serving ${socketPath}`);

  const idleMs = app.config.daemon.idleStopMs;
  if (idleMs > 0) {
    const timer = setInterval(
      () => {
        const busy = clients.size > 0 || app.engine.activeRunCount > 0;
        if (busy) lastBusy = Date.now();
        else if (Date.now() - lastBusy >= idleMs) void stop(`idle for ${Math.round(idleMs / 1000)}s`);
      },
      Math.min(30_000, Math.max(200, idleMs / 4)),
    );
    timer.unref();
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      killAllChildrenNow();
      process.exit(130);
    }
    void stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined);
  process.on('exit', () => killAllChildrenNow());
}
