import { resolve } from 'node:path';
import { openApp } from '../app.js';
import { BatonError } from '../errors.js';
import { isInside } from '../paths.js';
import { killAllChildrenNow } from '../process/child.js';
import { resolveToken, startHttpServer } from '../http/serve.js';

/**
 * `baton serve`: the HTTP server until SIGTERM/SIGINT. On a signal it stops accepting, lets
 * requests in flight finish (open streams are cut after 2 s), then stops the engine: runs in
 * flight become `interrupted`, resumable with follow_up.
 */
export async function runServe(opts: {
  host: string;
  port: number;
  allowRemote: boolean;
  a2a?: boolean;
  a2aCwd?: string;
}): Promise<void> {
  const app = openApp(process.env, { longLived: true });
  const { token, from } = resolveToken(app.config.home);
  let a2a: { cwd: string } | undefined;
  if (opts.a2a) {
    const cwd = resolve(opts.a2aCwd ?? app.config.roots[0] ?? process.cwd());
    if (!app.config.roots.some((root) => isInside(root, cwd))) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `--a2a-cwd ${cwd} is outside the configured roots (${app.config.roots.join(', ')})`,
      );
    }
    a2a = { cwd };
  }
  const server = await startHttpServer(app, {
    host: opts.host,
    port: opts.port,
    allowRemote: opts.allowRemote,
    token,
    ...(a2a ? { a2a } : {}),
  });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`baton serving ${server.url}`);
  log(`  Dashboard: ${server.loginUrl()}`);
  log('             (a one-time login link, valid 10 minutes; later, log in with the token)');
  log(`  MCP:   ${server.url}/mcp (Authorization: Bearer <token>)`);
  log(`  API:   ${server.url}/api (Authorization: Bearer <token>; the token is in ${from})`);
  if (a2a) log(`  A2A:   ${server.url}/a2a (one agent card per agent; runs work in ${a2a.cwd})`);
  if (opts.allowRemote) {
    process.stderr.write(
      `baton: WARNING listening on ${opts.host}: anyone who can reach it and has the token can run agents here\n`,
    );
  }
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      killAllChildrenNow();
      process.exit(130);
    }
    void (async () => {
      await server.close();
      await app.close();
      process.exit(signal === 'SIGINT' ? 130 : 0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('exit', () => killAllChildrenNow());
}
