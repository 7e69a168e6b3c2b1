import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Engine } from '../engine/engine.js';
import { BatonError, toBatonError } from '../errors.js';
import { FRONT_KINDS, type Change, type FrontKind } from '../ops/baton.js';
import { LocalBaton } from '../ops/local.js';
import type { OwnerHooks } from '../ops/operations.js';
import { readLines } from '../process/lines.js';
import { VERSION } from '../version.js';
import {
  MAX_FRAME,
  OWNER_PROTOCOL,
  daemonSocketPath,
  readFirstLine,
  type AnswerFrame,
  type CallFrame,
  type ChangeFrame,
  type DaemonStatus,
  type Hello,
  type Welcome,
} from './protocol.js';

/** Most connections served at once (the rest are closed at once). */
const MAX_CONNECTIONS = 1024;

/** A front that reads slower than the owner writes is cut off past this much unsent output. */
const MAX_BACKLOG = 64 * 1024 * 1024;

/** What the owner answers for the `owner.*` operations (and the `shutdown` tool). */
export type OwnerControl = OwnerHooks & { status: () => DaemonStatus };

/** The owner side of `daemon.sock`: see {@link serveOwner}. */
export type OwnerServer = {
  readonly socketPath: string;
  /** Connected fronts (MCP hosts, serve, CLI commands; control channels not counted). */
  readonly clients: number;
  /**
   * Stops listening and removes the socket file; connected clients stay (an answer may be on its
   * way) and are told the owner is going away on purpose (they do not start a new one by themselves).
   */
  stopListening: () => void;
  /** Stops listening and drops every client. */
  close: () => void;
};

function parseHello(line: string): Hello {
  let hello: Hello;
  try {
    hello = JSON.parse(line) as Hello;
  } catch {
    throw new Error('its first line is not JSON');
  }
  if (hello?.baton !== 'hello' || (hello.mode !== 'front' && hello.mode !== 'control')) {
    throw new Error('its first line is not a baton hello');
  }
  return hello;
}

/**
 * Serves the owner protocol (`owner/protocol.ts`) on `$BATON_HOME/daemon.sock` for the engine of
 * this process, which must hold the owner lock (any socket file there is a dead owner's). Each
 * front gets a {@link LocalBaton} of its kind and parent run, so `by` and delegation depth are
 * decided here, from the hello, never from a call.
 */
export async function serveOwner(opts: {
  engine: Engine;
  home: string;
  startedAt: Date;
  control: OwnerControl;
  log: (message: string) => void;
  /** Told when a client connects or leaves (the daemon's idle clock). */
  onClients?: (count: number) => void;
}): Promise<OwnerServer> {
  const { engine, home, log } = opts;
  const socketPath = daemonSocketPath(home);
  const clients = new Set<Socket>();
  const fronts = new Set<Socket>();
  const welcome: Welcome = {
    baton: 'welcome',
    version: VERSION,
    protocol: OWNER_PROTOCOL,
    pid: process.pid,
    started_at: opts.startedAt.toISOString(),
    home,
  };

  const accept = async (socket: Socket) => {
    const hello = parseHello(await readFirstLine(socket, 10_000));
    socket.write(`${JSON.stringify(welcome)}\n`);
    const sameVersion = hello.version === VERSION && hello.protocol === OWNER_PROTOCOL;
    if (hello.mode === 'front' && !sameVersion) {
      // It reports the mismatch to its user; nothing of ours is served to it.
      socket.end();
      return;
    }
    if (hello.mode === 'front') {
      fronts.add(socket);
      socket.once('close', () => fronts.delete(socket));
    }
    const kind: FrontKind = hello.kind ?? 'cli';
    if (!FRONT_KINDS.includes(kind)) throw new Error(`unknown front kind "${String(hello.kind)}"`);
    const baton =
      hello.mode === 'front'
        ? new LocalBaton(engine, {
            kind,
            parentRun: typeof hello.parent_run === 'string' ? hello.parent_run : undefined,
            owner: opts.control,
          })
        : undefined;
    const calls = new Map<number, AbortController>();
    let unwatch: (() => void) | undefined;
    const send = (frame: AnswerFrame | ChangeFrame) => {
      if (socket.destroyed) return;
      if (socket.writableLength > MAX_BACKLOG) {
        log('a front that stopped reading was dropped');
        socket.destroy();
        return;
      }
      socket.write(`${JSON.stringify(frame)}\n`);
    };
    const run = async (frame: CallFrame): Promise<unknown> => {
      if (frame.op === 'owner.status') return opts.control.status();
      if (frame.op === 'owner.stop') {
        const force = Boolean((frame.args as { force?: unknown } | undefined)?.force);
        return opts.control.shutdown(force, 'baton daemon stop');
      }
      if (!baton) {
        throw new BatonError('FORBIDDEN', 'a control connection may only ask owner.status and owner.stop');
      }
      const abort = new AbortController();
      calls.set(frame.id, abort);
      try {
        return await baton.call(frame.op, frame.args, {
          signal: abort.signal,
          ...(typeof frame.via === 'string' ? { via: frame.via } : {}),
          ...((frame as { progress?: unknown }).progress
            ? {
                progress: (elapsedMs: number, message: string) =>
                  send({ id: frame.id, progress: { elapsed_ms: elapsedMs, message } }),
              }
            : {}),
        });
      } finally {
        calls.delete(frame.id);
      }
    };
    const onFrame = (line: string) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!frame || typeof frame !== 'object') return;
      if (typeof frame.id === 'number' && frame.cancel === true) {
        calls.get(frame.id)?.abort();
        return;
      }
      if (frame.watch && typeof frame.watch === 'object' && baton) {
        unwatch?.();
        const events = (frame.watch as { events?: unknown }).events !== false;
        unwatch = baton.watch((change: Change) => send({ change }), { events });
        return;
      }
      if (frame.unwatch === true) {
        unwatch?.();
        unwatch = undefined;
        return;
      }
      if (typeof frame.id !== 'number' || typeof frame.op !== 'string') return;
      const call = frame as unknown as CallFrame;
      run(call).then(
        (result) => send({ id: call.id, result }),
        (err: unknown) => send({ id: call.id, error: toBatonError(err).toJSON() }),
      );
    };
    socket.once('close', () => {
      unwatch?.();
      for (const abort of calls.values()) abort.abort();
    });
    void readLines(socket, MAX_FRAME, {
      onLine: onFrame,
      onOversize: (bytes) => {
        log(`a front sent a ${bytes}-byte frame (over ${MAX_FRAME}); dropped it`);
        socket.destroy();
      },
    });
    socket.resume();
  };

  const server: Server = createServer((socket) => {
    clients.add(socket);
    opts.onClients?.(clients.size);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clients.delete(socket);
      opts.onClients?.(clients.size);
    });
    void accept(socket).catch((err: unknown) => {
      log(`a client was dropped: ${err instanceof Error ? err.message : String(err)}`);
      socket.destroy();
    });
  });

  // A local flood of connections is refused past this many; fronts are few (hosts, serve, CLI).
  server.maxConnections = MAX_CONNECTIONS;
  try {
    unlinkSync(socketPath);
  } catch {
    // none left
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
  } finally {
    process.umask(oldMask);
  }
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    get clients() {
      return fronts.size;
    },
    stopListening: () => {
      for (const c of fronts) if (!c.destroyed) c.write(`${JSON.stringify({ bye: 'shutdown' })}\n`);
      server.close();
      try {
        unlinkSync(socketPath);
      } catch {
        // gone already
      }
    },
    close: () => {
      server.close();
      for (const c of clients) c.destroy();
      try {
        unlinkSync(socketPath);
      } catch {
        // gone already
      }
    },
  };
}
