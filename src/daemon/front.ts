import type { Socket } from 'node:net';
import { toBatonError } from '../errors.js';
import { readLines } from '../process/lines.js';
import { connectDaemon, sameVersion, startDaemon, versionMismatchMessage } from './client.js';

const MAX_MESSAGE = 64 * 1024 * 1024;

type JsonRpc = { id?: string | number | null; method?: string; [k: string]: unknown };

function parse(line: string): JsonRpc | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonRpc) : undefined;
  } catch {
    return undefined;
  }
}

const key = (id: unknown) => JSON.stringify(id);

/**
 * `baton mcp` in daemon mode: a thin front that relays the host's MCP stdio stream to the baton
 * daemon (started in the background on the host's first message if none runs) and back. The
 * daemon owns the runs, so they survive this process and its host.
 *
 * If the daemon goes away mid-session, requests in flight get an error, and the next request
 * connects to a new daemon (starting one) after replaying the host's `initialize`, so the host
 * keeps its connection. A daemon of another baton version is never used: every request is
 * answered with an error that says to run `baton daemon stop`.
 */
export async function runMcpFront(home: string, parentRun?: string): Promise<void> {
  const hello = { mode: 'mcp' as const, ...(parentRun ? { parent_run: parentRun } : {}) };
  const log = (message: string) => process.stderr.write(`baton mcp: ${message}\n`);
  const toHost = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  const errorTo = (id: JsonRpc['id'], message: string) =>
    toHost({ jsonrpc: '2.0', id, error: { code: -32603, message } });

  let socket: Socket | undefined;
  let initialize: JsonRpc | undefined;
  let initialized: string | undefined;
  /** Host requests the daemon has not answered yet. */
  const pending = new Map<string, JsonRpc['id']>();
  /** Daemon requests to the host (elicitation...) on the current connection. */
  const asked = new Set<string>();
  let replays = 0;
  let replayId: string | undefined;

  const attach = (s: Socket) => {
    socket = s;
    void readLines(s, MAX_MESSAGE, {
      onLine: (line) => {
        const msg = parse(line);
        if (msg && msg.method === undefined && msg.id !== undefined) {
          if (replayId !== undefined && msg.id === replayId) {
            if ('error' in msg)
              log(`the new daemon refused the replayed initialize: ${JSON.stringify(msg.error)}`);
            return;
          }
          pending.delete(key(msg.id));
        } else if (msg?.method !== undefined && msg.id !== undefined) asked.add(key(msg.id));
        process.stdout.write(`${line}\n`);
      },
      onOversize: (bytes) => log(`dropped a ${bytes}-byte message from the daemon (over the limit)`),
    });
    s.resume();
    s.on('close', () => {
      if (socket !== s) return;
      socket = undefined;
      asked.clear();
      if (pending.size > 0 || !stdinEnded)
        log('the baton daemon went away; the next request starts a new one');
      for (const id of pending.values()) {
        errorTo(
          id,
          'the baton daemon stopped while this request was in flight (runs it hosted are interrupted; follow_up continues them). Call again: a new daemon starts.',
        );
      }
      pending.clear();
    });
  };

  /** The daemon connection, made (and the daemon started) when needed; or the reason it cannot be. */
  const link = async (opening: boolean): Promise<Socket | string> => {
    if (socket && !socket.destroyed) return socket;
    let l;
    try {
      l = (await connectDaemon(home, hello)) ?? (await startDaemon(home, hello));
    } catch (err) {
      const e = toBatonError(err);
      log(`${e.code}: ${e.message}`);
      return `${e.code}: ${e.message}`;
    }
    if (!sameVersion(l.welcome)) {
      l.socket.destroy();
      const message = versionMismatchMessage(l.welcome);
      log(message);
      return `DAEMON_VERSION_MISMATCH: ${message}`;
    }
    attach(l.socket);
    // A new daemon after the first: bring it to where the host's session is.
    if (initialize && !opening) {
      replayId = `baton-front-replay-${++replays}`;
      l.socket.write(`${JSON.stringify({ ...initialize, id: replayId })}\n`);
      if (initialized) l.socket.write(`${initialized}\n`);
    }
    return l.socket;
  };

  const fromHost = async (line: string) => {
    const msg = parse(line);
    const isRequest = msg?.method !== undefined && msg.id !== undefined;
    if (msg && msg.method === undefined && msg.id !== undefined) {
      // An answer to the daemon: only meaningful on the connection that asked.
      if (!asked.delete(key(msg.id)) || !socket) return;
      socket.write(`${line}\n`);
      return;
    }
    if (msg?.method === 'initialize') initialize = msg;
    else if (msg?.method === 'notifications/initialized') initialized = line;
    const s = await link(msg?.method === 'initialize');
    if (typeof s === 'string') {
      if (isRequest) errorTo(msg.id, s);
      return;
    }
    if (isRequest) pending.set(key(msg.id), msg.id);
    s.write(`${line}\n`);
  };

  let chain = Promise.resolve();
  let stdinEnded = false;
  const done = readLines(process.stdin, MAX_MESSAGE, {
    onLine: (line) => {
      if (line.trim() === '') return;
      chain = chain.then(() => fromHost(line));
    },
    onOversize: (bytes) => log(`dropped a ${bytes}-byte message from the host (over the limit)`),
  });
  const exit = (code: number) => {
    socket?.end();
    process.exit(code);
  };
  process.on('SIGTERM', () => exit(0));
  process.on('SIGINT', () => exit(130));
  process.stdout.on('error', () => exit(0));
  await done;
  stdinEnded = true;
  await chain;
  exit(0);
}
