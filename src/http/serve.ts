import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { BatonError } from '../errors.js';
import type { Baton } from '../ops/baton.js';
import { createHttpApp } from './api.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * The bearer token: `BATON_TOKEN`, else `$BATON_HOME/token` (created with 32 random bytes, mode
 * 0600, the first time). Returns it and where it came from.
 */
export function resolveToken(
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): { token: string; from: string } {
  if (env.BATON_TOKEN) {
    if (env.BATON_TOKEN.length < 16) {
      throw new BatonError('INVALID_CONFIG', 'BATON_TOKEN must be at least 16 characters long');
    }
    return { token: env.BATON_TOKEN, from: 'BATON_TOKEN' };
  }
  const file = join(home, 'token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) {
      chmodSync(file, 0o600);
      return { token, from: file };
    }
  }
  const token = randomBytes(32).toString('base64url');
  // A new file (0600 whatever the old one's mode), renamed over the old one.
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
  return { token, from: file };
}

/** A listening `baton serve`. */
export type HttpServer = {
  url: string;
  port: number;
  /** A one-time dashboard login URL (valid 10 minutes). */
  loginUrl: () => string;
  close: () => Promise<void>;
};

/**
 * Starts the HTTP server on `host:port` (port 0 = a free one). A non-loopback host needs
 * `allowRemote`. The Host header must name this host (or, on loopback, any loopback name).
 */
export async function startHttpServer(
  baton: Baton,
  opts: { host: string; port: number; allowRemote: boolean; token: string; a2a?: { cwd: string } },
): Promise<HttpServer> {
  const loopback = LOOPBACK.has(opts.host);
  if (!loopback && !opts.allowRemote) {
    throw new BatonError(
      'INVALID_PARAMS',
      `--host ${opts.host} is not a loopback address: anyone who can reach it and has the token can run agents on this machine; pass --allow-remote to do it anyway`,
    );
  }
  const hostnames = loopback ? ['127.0.0.1', 'localhost', '[::1]'] : [opts.host];
  // The Host check needs the real port, known once listening (port 0 = any free one).
  const ready: { api?: ReturnType<typeof createHttpApp> } = {};
  const http = createAdaptorServer({
    fetch: (req, env) =>
      ready.api ? ready.api.app.fetch(req, env) : new Response('starting', { status: 503 }),
    // Slow clients (slow-loris) are cut off: headers within 10 s, a whole request within 2 min,
    // checked every 2 s.
    serverOptions: { headersTimeout: 10_000, requestTimeout: 120_000, connectionsCheckingInterval: 2_000 },
  }) as Server;
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new BatonError(
          'INVALID_PARAMS',
          err.code === 'EADDRINUSE' ? `port ${opts.port} is in use; choose another with --port` : err.message,
        ),
      ),
    );
    http.listen(opts.port, opts.host === 'localhost' ? '127.0.0.1' : opts.host.replace(/^\[|\]$/g, ''), () =>
      resolve(),
    );
  });
  const port = (http.address() as AddressInfo).port;
  ready.api = createHttpApp(baton, {
    token: opts.token,
    hostnames,
    port,
    ...(opts.a2a ? { a2a: opts.a2a } : {}),
  });
  const api = ready.api;
  const shown = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
  const url = `http://${shown}:${port}`;
  return {
    url,
    port,
    loginUrl: () => `${url}/login?code=${api.auth.mintCode().code}`,
    close: () =>
      new Promise<void>((resolve) => {
        void api.close();
        // Stop accepting; let requests in flight finish; streams that never end are cut after 2 s.
        const cut = setTimeout(() => http.closeAllConnections(), 2000);
        http.close(() => {
          clearTimeout(cut);
          resolve();
        });
        http.closeIdleConnections();
      }),
  };
}
