// Startup of `baton mcp`: time from spawning `node dist/cli/main.js mcp` to the MCP initialize
// answer (the client's connect resolving), N=10 after a first start on a fresh BATON_HOME.
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
  waitGone,
} from './lib.mjs';

const N = Number(process.env.BENCH_N ?? 10);
const t = makeEnv();
let server;

/** One start: connect (spawn + initialize + initialized), then close and check it is gone. */
async function once() {
  server = await startServer(t);
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
  const nodeXs = [];
  for (let i = 0; i < 5; i++) nodeXs.push(await bareNode());
  const med = median(xs);
  const p90 = percentile(xs, 90);
  report(
    `startup — spawn of baton mcp → MCP initialize answered, N=${N}`,
    ['figure', 'ms'],
    [
      ['median', `${fmt(med)} ${med < 300 ? '(< 300 ok)' : '(ABOVE 300 target)'}`],
      ['p90', fmt(p90)],
      ['min', fmt(Math.min(...xs))],
      ['max', fmt(Math.max(...xs))],
      ['first start (fresh BATON_HOME, migrations)', fmt(first)],
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
  t.cleanup();
});
