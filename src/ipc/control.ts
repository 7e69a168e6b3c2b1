import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Engine, RemoteHosts, RemoteOp } from '../engine/engine.js';
import type { RunSummary } from '../engine/types.js';
import { BatonError, ERROR_CODES, type ErrorCode, toBatonError } from '../errors.js';

/** The control socket of the baton process `pid` under `$BATON_HOME/hosts/`. */
export function controlSocketPath(home: string, pid: number): string {
  return join(home, 'hosts', `${pid}.sock`);
}

const MAX_LINE = 1024 * 1024;

/**
 * Serves the operations other baton processes (the CLI, another MCP front) forward for runs this
 * process hosts: answer a permission request, cancel, follow up. One JSON line per request and
 * per answer, on a Unix socket of mode 0600.
 */
export function serveControl(
  engine: Engine,
  onError: (message: string) => void = () => undefined,
): { close: () => void; path: string } {
  const dir = join(engine.config.home, 'hosts');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = controlSocketPath(engine.config.home, process.pid);
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    answerLines(socket, MAX_LINE, (line) => handle(engine, line));
  });
  server.on('error', (err) =>
    onError(
      `control socket ${path} unavailable (${err.message}); other baton processes cannot reach this one's runs`,
    ),
  );
  server.listen(path, () => {
    try {
      chmodSync(path, 0o600);
    } catch {
      // best effort
    }
  });
  server.unref();
  return {
    path,
    close: () => {
      server.close();
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    },
  };
}

/**
 * Reads one JSON request per line from `socket` and writes one JSON answer per line, in request
 * order. A line over `maxBytes` closes the connection.
 */
export function answerLines(
  socket: Socket,
  maxBytes: number,
  handle: (line: string) => Promise<unknown>,
): void {
  let buf = '';
  let chain = Promise.resolve();
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > maxBytes) {
      socket.destroy();
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      chain = chain
        .then(async () => {
          const answer = await handle(line);
          if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
        })
        // An answer that cannot be made or sent ends the connection, not the later answers.
        .catch(() => {
          socket.destroy();
        });
    }
  });
  socket.resume();
}

async function handle(engine: Engine, line: string): Promise<unknown> {
  let op: RemoteOp;
  try {
    op = JSON.parse(line) as RemoteOp;
  } catch {
    return { error: { code: 'INVALID_PARAMS', message: 'not JSON' } };
  }
  return handleControlOp(engine, op);
}

/** Runs one forwarded operation; the answer is `{ result }` or `{ error: { code, message } }`. */
export async function handleControlOp(engine: Engine, op: RemoteOp | { op?: string }): Promise<unknown> {
  try {
    const o = op as RemoteOp;
    switch (o.op) {
      case 'answer_permission':
        return { result: await engine.answerPermission(o.run, o.option_id, o.request_id, o.by) };
      case 'cancel_run':
        return { result: await engine.cancelRun(o.run, o.force ?? false) };
      case 'follow_up':
        return { result: await engine.followUp(o.run, o.message, o.label) };
      case 'read_terminal':
        return { result: await engine.readTerminal(o.run, o.lines, o.raw) };
      case 'send_keys':
        return { result: await engine.sendKeys(o.run, o) };
      default:
        return { error: { code: 'INVALID_PARAMS', message: `unknown op` } };
    }
  } catch (err) {
    return { error: toBatonError(err).toJSON() };
  }
}

/** Forwards operations to the baton process that hosts a run, over its control socket. */
export class ControlClient implements RemoteHosts {
  readonly #home: string;

  constructor(home: string) {
    this.#home = home;
  }

  call(hostPid: number, op: RemoteOp): Promise<unknown> {
    const path = controlSocketPath(this.#home, hostPid);
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      let buf = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new BatonError('HOST_UNREACHABLE', `baton process ${hostPid} did not answer within 30s`));
      }, 30_000);
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(`${JSON.stringify(op)}\n`));
      socket.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        socket.end();
        let answer: { result?: RunSummary; error?: { code: string; message: string } };
        try {
          answer = JSON.parse(buf.slice(0, nl)) as typeof answer;
        } catch {
          reject(
            new BatonError('HOST_UNREACHABLE', `baton process ${hostPid} sent an answer that is not JSON`),
          );
          return;
        }
        if (answer.error) {
          const code = (ERROR_CODES as readonly string[]).includes(answer.error.code)
            ? (answer.error.code as ErrorCode)
            : 'INTERNAL';
          reject(new BatonError(code, answer.error.message));
        } else resolve(answer.result as RunSummary);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        reject(
          new BatonError(
            'HOST_UNREACHABLE',
            `baton process ${hostPid} closed the connection without answering`,
          ),
        );
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(
          new BatonError(
            'HOST_UNREACHABLE',
            `run ${op.run} is hosted by baton process ${hostPid}, which cannot be reached (${err.message})`,
          ),
        );
      });
    });
  }
}
