import { renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Change, FrontKind } from '../ops/baton.js';

/**
 * The owner protocol. Exactly one process per `BATON_HOME` owns its runs (runs the engine): the
 * daemon, or `baton mcp --standalone`. Every other baton process is a front and reaches the owner
 * over `$BATON_HOME/daemon.sock` (mode 0600 in the 0700 home). A client sends one JSON line, its
 * {@link Hello}; the owner answers with its {@link Welcome}. Then both sides exchange JSON lines:
 * - front to owner: {@link CallFrame} (an operation of `ops/operations.ts`, or an `owner.*`
 *   operation), `{ id, cancel: true }` (abort that call), `{ watch: { events } }` (start the
 *   change stream), `{ unwatch: true }`;
 * - owner to front: {@link AnswerFrame} for each call (`progress` frames first, for long ones),
 *   and `{ change }` frames once watching.
 * Answers may come in any order (matched by `id`). A `control` hello (any version) may only call
 * `owner.status` and `owner.stop`; a `front` hello of another version is closed after the welcome.
 */
export const OWNER_PROTOCOL = 2;

export type Hello = {
  baton: 'hello';
  version: string;
  protocol: number;
  mode: 'front' | 'control';
  /** What kind of front this is: it decides the channels it answers through (`by`). */
  kind?: FrontKind;
  /** A sub-agent's front (its agent's `BATON_PARENT_RUN`): runs it starts are children of this run. */
  parent_run?: string;
};

export type Welcome = {
  baton: 'welcome';
  version: string;
  protocol: number;
  pid: number;
  started_at: string;
  home: string;
};

/** One operation call from a front. */
export type CallFrame = { id: number; op: string; args?: unknown; via?: string };

/** The owner's answer to a {@link CallFrame}: a result, an error, or (before either) progress. */
export type AnswerFrame =
  | { id: number; result: unknown }
  | { id: number; error: { code: string; message: string } }
  | { id: number; progress: { elapsed_ms: number; message: string } };

/** A change the owner announces to watching fronts. */
export type ChangeFrame = { change: Change };

/** What `daemon status` reports (the answer to `owner.status`). */
export type DaemonStatus = {
  pid: number;
  version: string;
  started_at: string;
  uptime_ms: number;
  socket: string;
  log: string;
  /** Fronts connected (MCP hosts, serve, CLI commands). */
  clients: number;
  active_runs: number;
  idle_stop_ms: number;
  /** `daemon`, or `standalone` (a `baton mcp --standalone` owns the runs). */
  role: 'daemon' | 'standalone';
};

/** Longest JSON line either side accepts (a spawn_run with a large prompt fits). */
export const MAX_FRAME = 16 * 1024 * 1024;

export function daemonSocketPath(home: string): string {
  return join(home, 'daemon.sock');
}

export function daemonPidPath(home: string): string {
  return join(home, 'daemon.pid');
}

export function daemonLogPath(home: string): string {
  return join(home, 'daemon.log');
}

const MAX_HELLO = 64 * 1024;

/**
 * Reads the first line of a socket (the hello or welcome), then hands the rest of what arrived
 * back to the socket (unshift), paused, for whoever reads it next. Rejects on close, an oversized
 * line or after `timeoutMs`.
 */
export function readFirstLine(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const finish = (err?: Error, line?: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_HELLO) finish(new Error('first line too long'));
        return;
      }
      socket.pause();
      const rest = buf.subarray(nl + 1);
      if (rest.length > 0) socket.unshift(rest);
      finish(undefined, buf.subarray(0, nl).toString('utf8'));
    };
    const onClose = () => finish(new Error('connection closed'));
    const onError = (err: Error) => finish(err);
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

/** Keeps daemon.log bounded: over 10 MiB when a daemon starts, it becomes daemon.log.1. */
export function rotateDaemonLog(home: string): void {
  const path = daemonLogPath(home);
  try {
    if (statSync(path).size > LOG_ROTATE_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
}
