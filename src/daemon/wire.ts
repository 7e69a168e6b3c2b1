import { createHash } from 'node:crypto';
import { renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';

/**
 * The daemon's socket protocol. A client opens `$BATON_HOME/daemon.sock` and sends one JSON line,
 * its {@link Hello}; the daemon answers with one line, its {@link Welcome}. Then the connection is
 * either an MCP stdio stream (mode `mcp`: newline-delimited JSON-RPC, exactly what an MCP host
 * writes to `baton mcp`) or a control channel (mode `control`: one JSON request per line, one
 * answer per line, in order).
 */
export const DAEMON_PROTOCOL = 1;

export type Hello = {
  baton: 'hello';
  version: string;
  protocol: number;
  mode: 'mcp' | 'control';
  /** A sub-agent's front: runs it starts are children of this run. */
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

/** What `daemon status` reports (the answer to the control request `{ op: "status" }`). */
export type DaemonStatus = {
  pid: number;
  version: string;
  started_at: string;
  uptime_ms: number;
  socket: string;
  log: string;
  clients: number;
  active_runs: number;
  idle_stop_ms: number;
};

export function daemonSocketPath(home: string): string {
  return join(home, 'daemon.sock');
}

export function daemonPidPath(home: string): string {
  return join(home, 'daemon.pid');
}

export function daemonLogPath(home: string): string {
  return join(home, 'daemon.log');
}

/**
 * The name of the daemon's lock for `home`: a Linux abstract socket, which the kernel releases
 * when the daemon dies however it dies, so a crashed daemon never blocks the next one.
 */
export function daemonLockName(home: string): string {
  return `\0baton-daemon-${createHash('sha256').update(home).digest('hex').slice(0, 24)}`;
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
