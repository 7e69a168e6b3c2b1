// Memory of the `baton mcp` server: RSS idle, then with 50 active runs; the agent processes' RSS
// apart. Cancels the runs (force) at the end and checks that no process is left behind.
import {
  alive,
  descendants,
  fmt,
  killPids,
  makeEnv,
  median,
  mib,
  report,
  rssKiB,
  runBench,
  sleep,
  startServer,
  steps,
  waitGone,
} from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const PROMPT = steps({ sleep: 20_000 });

const t = makeEnv({ max_concurrent_runs: RUNS });
let server;
const seen = new Set();

/** Median of a few VmRSS samples, 100 ms apart. */
async function sampleRss(pid, n = 5) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    xs.push(rssKiB(pid));
    await sleep(100);
  }
  return median(xs);
}

async function main() {
  server = await startServer(t);
  await server.call('server_status');
  await sleep(500);
  const idle = await sampleRss(server.pid);

  const t0 = performance.now();
  const ids = [];
  for (let i = 0; i < RUNS; i++) {
    const s = await server.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: PROMPT,
      label: `mem-${i}`,
    });
    ids.push(s.run_id);
  }
  // Until every run is running (its agent process answered initialize and session/new).
  let running = 0;
  for (const deadline = Date.now() + 60_000; ;) {
    const res = await server.call('list_runs', { status: 'running', limit: 200 });
    running = res.runs.length;
    if (running >= RUNS) break;
    if (Date.now() > deadline) throw new Error(`only ${running} of ${RUNS} runs reached running`);
    await sleep(100);
  }
  const allRunningMs = performance.now() - t0;
  const agents = descendants(server.pid);
  for (const p of agents) seen.add(p);
  const loaded = await sampleRss(server.pid);
  const agentRss = agents.map((p) => rssKiB(p));
  const agentTotal = agentRss.reduce((a, b) => a + b, 0);
  // Still all running when measured (the sleep is 20 s)?
  const stillRunning = (await server.call('list_runs', { status: 'running', limit: 200 })).runs.length;

  const c0 = performance.now();
  const cancelled = await Promise.all(ids.map((id) => server.call('cancel_run', { run: id, force: true })));
  const cancelMs = performance.now() - c0;
  const notCancelled = cancelled.filter((s) => s.status !== 'cancelled');
  if (notCancelled.length)
    throw new Error(`${notCancelled.length} runs not cancelled: ${notCancelled[0].status}`);
  const leftAfterCancel = await waitGone(agents, 5000);
  const afterCancel = await sampleRss(server.pid);

  const serverPid = server.pid;
  await server.close();
  server = undefined;
  const leftAfterClose = await waitGone([serverPid, ...seen], 5000);
  killPids(leftAfterClose);

  const perRun = (loaded - idle) / RUNS;
  report(
    `memory — baton mcp RSS, ${RUNS} active runs`,
    ['figure', 'value'],
    [
      ['baton mcp RSS idle', mib(idle)],
      [`baton mcp RSS with ${RUNS} active runs`, mib(loaded)],
      ['per run (rss50 − rssIdle) / 50', `${fmt(perRun)} KiB`],
      ['baton mcp RSS after cancelling them all', mib(afterCancel)],
      [`agent processes (${agents.length}) total RSS`, mib(agentTotal)],
      ['agent process RSS, median', mib(median(agentRss))],
      [`time to ${RUNS} runs running`, `${fmt(allRunningMs)} ms`],
      [`cancel_run force ×${RUNS} (parallel)`, `${fmt(cancelMs)} ms`],
      ['agent processes left after cancel (5 s)', String(leftAfterCancel.length)],
      ['processes left after closing baton (5 s)', String(leftAfterClose.length)],
    ],
    [
      `Runs still running when measured: ${stillRunning} of ${RUNS}. RSS = VmRSS of /proc/<pid>/status, median of 5 samples 100 ms apart.`,
    ],
  );
  if (agents.length !== RUNS) throw new Error(`expected ${RUNS} agent processes, found ${agents.length}`);
  if (leftAfterCancel.length || leftAfterClose.length) throw new Error('processes were left behind');
}

runBench(main, async () => {
  if (server) {
    for (const p of descendants(server.pid)) seen.add(p);
    const pid = server.pid;
    await server.close();
    killPids(await waitGone([pid, ...seen], 3000));
  }
  killPids([...seen].filter(alive));
  t.cleanup();
});
