import { closeSync, openSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BatonError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { spawnDaemon } from '../process/child.js';
import { isProcessAlive } from '../process/identity.js';
import { VERSION } from '../version.js';
import {
  DAEMON_PROTOCOL,
  daemonLogPath,
  daemonSocketPath,
  readFirstLine,
  rotateDaemonLog,
  type DaemonStatus,
  type Hello,
  type Welcome,
} from './wire.js';

const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const START_TIMEOUT_MS = 20_000;

/** An open connection to the daemon, after the hello/welcome exchange. */
export type DaemonLink = { socket: Socket; welcome: Welcome };

/** True when the daemon at the other end runs this very version (same wire protocol). */
export function sameVersion(welcome: Welcome): boolean {
  return welcome.version === VERSION && welcome.protocol === DAEMON_PROTOCOL;
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
      const full: Hello = { baton: 'hello', version: VERSION, protocol: DAEMON_PROTOCOL, ...hello };
      socket.write(`${JSON.stringify(full)}\n`);
      readFirstLine(socket, 10_000).then(
        (line) => {
          let welcome: Welcome;
          try {
            welcome = JSON.parse(line) as Welcome;
          } catch {
            welcome = {} as Welcome;
          }
          if (welcome.baton !== 'welcome') {
            socket.destroy();
            reject(new BatonError('DAEMON_UNAVAILABLE', `${path} did not answer like a baton daemon`));
            return;
          }
          resolve({ socket, welcome });
        },
        (err: Error) => {
          socket.destroy();
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
  const fd = openSync(logFile, 'a', 0o600);
  const env: NodeJS.ProcessEnv = { ...process.env, BATON_HOME: home };
  // The daemon serves every client: nothing of this caller's own context goes with it.
  delete env.BATON_PARENT_RUN;
  delete env.BATON_MCP_STANDALONE;
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

/** A control channel to the daemon: one request at a time, answered in order. */
export class DaemonControl {
  readonly welcome: Welcome;
  readonly #socket: Socket;
  #buf = '';
  readonly #waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];

  constructor(link: DaemonLink) {
    this.welcome = link.welcome;
    this.#socket = link.socket;
    this.#socket.setEncoding('utf8');
    this.#socket.on('data', (chunk: string) => {
      this.#buf += chunk;
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        const w = this.#waiting.shift();
        if (!w) continue;
        let answer: { result?: unknown; error?: { code: string; message: string } };
        try {
          answer = JSON.parse(line) as typeof answer;
        } catch {
          w.reject(new BatonError('DAEMON_UNAVAILABLE', 'the baton daemon sent an answer that is not JSON'));
          continue;
        }
        if (answer.error) {
          const code = (ERROR_CODES as readonly string[]).includes(answer.error.code)
            ? (answer.error.code as ErrorCode)
            : 'INTERNAL';
          w.reject(new BatonError(code, answer.error.message));
        } else w.resolve(answer.result);
      }
    });
    this.#socket.on('close', () => {
      for (const w of this.#waiting.splice(0)) {
        w.reject(new BatonError('DAEMON_UNAVAILABLE', 'the baton daemon closed the connection'));
      }
    });
    this.#socket.resume();
  }

  /** Opens a control channel to the running daemon; undefined when none runs. */
  static async open(home: string): Promise<DaemonControl | undefined> {
    const link = await connectDaemon(home, { mode: 'control' });
    return link ? new DaemonControl(link) : undefined;
  }

  request<T>(op: Record<string, unknown>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#socket.destroyed) {
        reject(new BatonError('DAEMON_UNAVAILABLE', 'the baton daemon closed the connection'));
        return;
      }
      this.#waiting.push({ resolve: resolve as (v: unknown) => void, reject });
      this.#socket.write(`${JSON.stringify(op)}\n`);
    });
  }

  status(): Promise<DaemonStatus> {
    return this.request<DaemonStatus>({ op: 'status' });
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }
}
