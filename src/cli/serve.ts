import { resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { BatonError } from '../errors.js';
import { OwnerClient } from '../owner/client.js';
import { isInside } from '../paths.js';
import { onStopSignals } from '../process/signals.js';
import { resolveToken, startHttpServer } from '../http/serve.js';

/**
 * `baton serve`: the HTTP server until SIGTERM/SIGINT, a front of the owner of `BATON_HOME` (the
 * daemon, started when none runs): the runs it starts are the owner's and go on when serve
 * stops or restarts, and the dashboard shows every run of the home live. On a signal it stops
 * accepting and lets requests in flight finish (open streams are cut after 2 s).
 */
export async function runServe(opts: {
  host: string;
  port: number;
  allowRemote: boolean;
  a2a?: boolean;
  a2aCwd?: string;
}): Promise<void> {
  const config = loadConfig();
  const { token, from } = resolveToken(config.home);
  let a2a: { cwd: string } | undefined;
  if (opts.a2a) {
    const cwd = resolve(opts.a2aCwd ?? config.roots[0] ?? process.cwd());
    if (!config.roots.some((root) => isInside(root, cwd))) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `--a2a-cwd ${cwd} is outside the configured roots (${config.roots.join(', ')})`,
      );
    }
    a2a = { cwd };
  }
  const baton = new OwnerClient(config.home, { kind: 'serve' });
  // Up front: a config the owner refuses, or a daemon of another version, is reported now.
  await baton.connect();
  const server = await startHttpServer(baton, {
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
  onStopSignals(
    async (signal) => {
      await server.close();
      baton.close();
      process.exit(signal === 'SIGINT' ? 130 : 0);
    },
    { hangup: 'stop' },
  );
}
