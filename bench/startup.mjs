// Startup of `baton mcp`: time from spawning `node dist/cli/main.js mcp` to the MCP initialize
// answer (the client's connect resolving), N=10 after a first start on a fresh BATON_HOME; in
// standalone mode (the server in that process) and as the daemon's front (the daemon running,
// and the first call that has to start it).
import { spawn } from 'node:child_process';
import {
  fmt,
  killPids,
  makeEnv,
  median,
  percentile,
  report,
  runBench,
  startServer,
  stopDaemon,
  waitGone,
} from './lib.mjs';

const N = Number(process.env.BENCH_N ?? 10);
const t = makeEnv();
let server;

/** One start: connect (spawn + initialize + initialized), then close and check it is gone. */
async function once(daemon = false) {
  server = await startServer(t, { daemon });
  const ms = server.connectMs;
  const pid = server.pid;
  await server.close();
  server = undefined;
  const left = await waitGone([pid], 5000);
  if (left.length) throw new Error(`baton mcp ${pid} did not exit after close`);
  return ms;
}

/** Reference: spawning `node -e 0` until it exits. */
function bareNode() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - t0));
  });
}

async function main() {
  const first = await once(); // creates the database and applies the migrations
  const xs = [];
  for (let i = 0; i < N; i++) xs.push(await once());
  // Daemon mode: the first call starts the daemon, later ones only start the front.
  const daemonFirst = await once(true);
  const fronts = [];
  for (let i = 0; i < N; i++) fronts.push(await once(true));
  await stopDaemon(t.home);
  const nodeXs = [];
  for (let i = 0; i < 5; i++) nodeXs.push(await bareNode());
  const med = median(xs);
  const p90 = percentile(xs, 90);
  report(
    `startup — spawn of baton mcp → MCP initialize answered, N=${N} (rows without "daemon": --standalone)`,
    ['figure', 'ms'],
    [
      ['median', `${fmt(med)} ${med < 300 ? '(< 300 ok)' : '(ABOVE 300 target)'}`],
      ['p90', fmt(p90)],
      ['min', fmt(Math.min(...xs))],
      ['max', fmt(Math.max(...xs))],
      ['first start (fresh BATON_HOME, migrations)', fmt(first)],
      [
        'daemon front, daemon running: median / p90',
        `${fmt(median(fronts))} / ${fmt(percentile(fronts, 90))}`,
      ],
      ['daemon front, first call starts the daemon', fmt(daemonFirst)],
      ['reference: node -e 0 spawn → exit, median of 5', fmt(median(nodeXs))],
    ],
    [`Samples ms: ${xs.map((x) => fmt(x)).join(', ')}.`],
  );
}

runBench(main, async () => {
  if (server) {
    const pid = server.pid;
    await server.close();
    killPids(await waitGone([pid], 3000));
  }
  await stopDaemon(t.home);
  t.cleanup();
});
