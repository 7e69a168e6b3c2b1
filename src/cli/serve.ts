import { openApp } from '../app.js';
import { killAllChildrenNow } from '../process/child.js';
import { resolveToken, startHttpServer } from '../http/serve.js';

/**
 * `baton serve`: the HTTP server until SIGTERM/SIGINT. On a signal it stops accepting, lets
 * requests in flight finish (open streams are cut after 2 s), then stops the engine: runs in
 * flight become `interrupted`, resumable with follow_up.
 */
export async function runServe(opts: { host: string; port: number; allowRemote: boolean }): Promise<void> {
  const app = openApp();
  const { token, from } = resolveToken(app.config.home);
  const server = await startHttpServer(app, { ...opts, token });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`baton serving ${server.url}`);
  log(`  Dashboard: ${server.loginUrl()}`);
  log('             (a one-time login link, valid 10 minutes; later, log in with the token)');
  log(`  MCP:   ${server.url}/mcp (Authorization: Bearer <token>)`);
  log(`  API:   ${server.url}/api (Authorization: Bearer <token>; the token is in ${from})`);
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
