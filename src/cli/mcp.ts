import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { loadConfig, resolveHome } from '../config.js';
import { toBatonError } from '../errors.js';
import { buildMcpServer } from '../mcp/server.js';
import type { Baton } from '../ops/baton.js';
import { OwnerClient } from '../owner/client.js';
import type { Owner } from '../owner/owner.js';
import { onStopSignals } from '../process/signals.js';

/**
 * `baton mcp`: the MCP server on stdio. stdout carries only the protocol; logs go to stderr.
 *
 * By default it is a front: the tools and resources run on the owner of `BATON_HOME` (the daemon,
 * started in the background when none runs), so runs outlive this process and its host. A
 * sub-agent's `baton mcp` (its agent has `BATON_PARENT_RUN`) says so to the owner, so its runs are
 * that run's children. `--standalone` makes this process the owner instead (refused while another
 * process owns the home): its runs end with it (`interrupted`, resumable with follow_up), and
 * other fronts (the CLI, a `baton serve`) reach them through it meanwhile.
 * Ends when the host closes stdin or on SIGTERM/SIGINT.
 */
export async function runMcpStdio(opts: { standalone: boolean }): Promise<void> {
  const log = (message: string) => process.stderr.write(`baton mcp: ${message}\n`);
  const home = resolveHome();
  const parentRun = process.env.BATON_PARENT_RUN || undefined;
  let owner: Owner | undefined;
  let client: OwnerClient | undefined;
  const built: { dispose: () => void }[] = [];
  const served: { handle?: ReturnType<typeof serveStdio> } = {};
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    // A front never outlives its host: whatever the closing below waits on, this process ends.
    setTimeout(() => process.exit(code), 2_000).unref();
    for (const b of built) b.dispose();
    await Promise.resolve(served.handle?.close()).catch(() => undefined);
    client?.close();
    await owner?.close();
    process.exit(code);
  };
  let baton: Baton;
  if (opts.standalone) {
    // Loaded only here: a front never needs the engine, the store or SQLite (start-up time).
    const [{ openOwner }, { LocalBaton }] = await Promise.all([
      import('../owner/owner.js'),
      import('../ops/local.js'),
    ]);
    owner = await openOwner({ home, role: 'standalone', log, onStop: () => void stop(0) });
    baton = new LocalBaton(owner.app.engine, {
      kind: 'mcp',
      parentRun,
      owner: { shutdown: owner.shutdown },
    });
  } else {
    // The config is checked before a daemon is started for it: its errors keep their code.
    client = new OwnerClient(home, { kind: 'mcp', parentRun }, { beforeStart: () => loadConfig() });
    baton = client;
    // Connect (or start the daemon) while the host initializes; a problem is reported on stderr
    // now and to every tool call.
    client.connect().catch((err: unknown) => {
      const e = toBatonError(err);
      log(`${e.code}: ${e.message}`);
    });
  }
  served.handle = serveStdio(
    () => {
      const b = buildMcpServer(baton);
      built.push(b);
      return b.server;
    },
    { onerror: (err) => log(err instanceof Error ? err.message : String(err)) },
  );
  onStopSignals((signal) => stop(signal === 'SIGINT' ? 130 : 0), { hangup: 'stop' });
  process.stdout.on('error', () => void stop(0));
  process.stdin.on('end', () => void stop(0));
  process.stdin.on('close', () => void stop(0));
}
