// Scale: 200 concurrent fixture runs in one `baton mcp` (max_concurrent_runs 200). Time from the
// first spawn_run to all running, baton's RSS and CPU per active run (the agents idle in a
// sleep), and get_run latency (p50/p99) over the MCP connection while they all run.
import { readFileSync } from 'node:fs';
import {
  descendants,
  fmt,
  killPids,
  makeEnv,
  median,
  percentile,
  report,
  rssKiB,
  runBench,
  sleep,
  startServer,
  steps,
  waitGone,
} from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const t = makeEnv({ max_concurrent_runs: RUNS });
let server;
let agents = [];

/** CPU time (user + system) of a process, in ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
}

async function main() {
  server = await startServer(t);
  await server.call('server_status');
  await sleep(500);
  const idleRss = rssKiB(server.pid);
  const t0 = performance.now();
  const ids = [];
  for (let i = 0; i < RUNS; i++) {
    ids.push(
      (await server.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt: steps({ sleep: 120_000 }) }))
        .run_id,
    );
  }
  const spawnedMs = performance.now() - t0;
  for (const deadline = Date.now() + 110_000; ;) {
    const n = (await server.call('list_runs', { status: 'running', limit: 200 })).runs.length;
    if (n >= RUNS) break;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${RUNS} runs reached running`);
    await sleep(200);
  }
  const allRunningMs = performance.now() - t0;
  agents = descendants(server.pid);
  await sleep(1000);
  const loadedRss = rssKiB(server.pid);
  // CPU of baton over 5 s with every run active and its agent idle.
  const c0 = cpuMs(server.pid);
  await sleep(5000);
  const cpuPct = ((cpuMs(server.pid) - c0) / 5000) * 100;
  // get_run latency while they run.
  const lat = [];
  for (let i = 0; i < 500; i++) {
    const q0 = performance.now();
    await server.call('get_run', { run: ids[i % ids.length] });
    lat.push(performance.now() - q0);
  }
  const k0 = performance.now();
  await Promise.all(ids.map((id) => server.call('cancel_run', { run: id, force: true })));
  const cancelMs = performance.now() - k0;
  const left = await waitGone(agents, 10_000);
  report(
    `scale — ${RUNS} concurrent fixture runs in one baton mcp`,
    ['figure', 'value'],
    [
      [`${RUNS} spawn_run calls answered`, `${fmt(spawnedMs)} ms (${fmt(spawnedMs / RUNS, 1)} ms each)`],
      ['first spawn → all running (agents started, sessions open)', `${fmt(allRunningMs)} ms`],
      ['baton RSS idle → loaded', `${fmt(idleRss / 1024, 1)} → ${fmt(loadedRss / 1024, 1)} MiB`],
      ['baton RSS per active run', `${fmt((loadedRss - idleRss) / RUNS, 0)} KiB`],
      [
        'baton CPU with all active (agents idle), per run',
        `${fmt(cpuPct, 2)} % total, ${fmt(cpuPct / RUNS, 4)} % per run`,
      ],
      [
        'get_run over MCP while they run: p50 / p99 (500 calls)',
        `${fmt(median(lat), 2)} / ${fmt(percentile(lat, 99), 2)} ms`,
      ],
      ['cancel all (force)', `${fmt(cancelMs)} ms; ${left.length} agent processes left`],
    ],
    [`${agents.length} agent processes were children of baton; all on this machine's cores.`],
  );
  if (left.length) throw new Error(`${left.length} agent processes left`);
}

await runBench(main, async () => {
  if (server) {
    await server.close();
    killPids(await waitGone(agents, 3000));
  }
  t.cleanup();
});
