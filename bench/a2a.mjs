// One coordinator and three workers over A2A on loopback: each worker is `baton serve --a2a`
// with the fixture agent; the coordinator is `baton serve` whose agents worker-1..3 are driver
// a2a. Measures (1) the latency one A2A hop adds to a short run (created_at → ended_at as the
// server records them, direct on a worker vs through the coordinator), and (2) runs per minute
// through the coordinator to 1 worker and to 3 workers (round-robin), for runs of a fixed length.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'node:http';
import {
  CLI,
  apiCall,
  fmt,
  makeEnv,
  median,
  percentile,
  report,
  runBench,
  sleep,
  steps,
  waitGone,
} from './lib.mjs';

const WORKERS = 3;
const HOP_RUNS = Number(process.env.BENCH_HOP_RUNS ?? 20);
const BATCH = Number(process.env.BENCH_BATCH ?? 48);
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 500);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

const envs = [];
const children = [];

const call = (port, token, method, path, body) => apiCall(port, token, method, path, body, agent);

async function startServe(t, token, args) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    env: { ...t.env, BATON_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 300; i++) {
    const m = /serving http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (m) return { port: Number(m[1]), token, child };
    await sleep(50);
  }
  throw new Error(`baton serve did not start: ${out}`);
}

async function finished(server, id) {
  for (;;) {
    const r = await call(server.port, server.token, 'GET', `/api/runs/${id}`);
    if (['completed', 'failed', 'cancelled', 'timed_out', 'interrupted'].includes(r.json.status))
      return r.json;
    await sleep(20);
  }
}

const serverMs = (run) => Date.parse(run.ended_at) - Date.parse(run.created_at);

async function spawnRun(server, agentName, cwd, prompt) {
  const r = await call(server.port, server.token, 'POST', '/api/runs', { agent: agentName, cwd, prompt });
  if (r.status !== 201) throw new Error(`spawn failed: ${JSON.stringify(r.json)}`);
  return r.json.run_id;
}

/** Runs `count` runs through `server`, agents chosen round-robin; wall time from first spawn to last end. */
async function batch(server, agents, cwd, count, prompt) {
  const t0 = performance.now();
  const ids = [];
  for (let i = 0; i < count; i++) ids.push(await spawnRun(server, agents[i % agents.length], cwd, prompt));
  const runs = await Promise.all(ids.map((id) => finished(server, id)));
  const wall = performance.now() - t0;
  const failed = runs.filter((r) => r.status !== 'completed').length;
  return { wall, failed, perMinute: (count / wall) * 60_000 };
}

async function main() {
  const workers = [];
  for (let i = 0; i < WORKERS; i++) {
    const t = makeEnv();
    envs.push(t);
    workers.push({
      ...(await startServe(t, `worker-token-${i}-0123456789`, ['--a2a', '--a2a-cwd', t.work])),
      t,
    });
  }
  const ct = makeEnv();
  envs.push(ct);
  const agents = {};
  workers.forEach((w, i) => {
    agents[`worker-${i + 1}`] = {
      driver: 'a2a',
      url: `http://127.0.0.1:${w.port}/a2a/fixture/`,
      token: w.token,
    };
  });
  writeFileSync(
    join(ct.home, 'config.json'),
    JSON.stringify({ roots: [ct.dir], agents, max_concurrent_runs: 64 }),
  );
  const coordinator = await startServe(ct, 'coordinator-token-0123456789', []);

  // (1) Added latency of one hop, short runs one after another.
  const quick = steps({ message: 'done' });
  const direct = [];
  const via = [];
  for (let i = 0; i < HOP_RUNS + 2; i++) {
    const d = await finished(workers[0], await spawnRun(workers[0], 'fixture', workers[0].t.work, quick));
    const v = await finished(coordinator, await spawnRun(coordinator, 'worker-1', ct.work, quick));
    if (d.status !== 'completed' || v.status !== 'completed')
      throw new Error(`a run failed: ${JSON.stringify(v)}`);
    if (i < 2) continue; // warm-up: first card fetch, first agent process
    direct.push(serverMs(d));
    via.push(serverMs(v));
  }
  const added = median(via) - median(direct);

  // (2) Throughput: runs of RUN_MS each, BATCH at once, to one worker and to three.
  const slow = steps({ message: 'working' }, { sleep: RUN_MS }, { message: 'done' });
  const one = await batch(coordinator, ['worker-1'], ct.work, BATCH, slow);
  const three = await batch(
    coordinator,
    workers.map((_, i) => `worker-${i + 1}`),
    ct.work,
    BATCH,
    slow,
  );

  report(
    'A2A: one coordinator and three workers on loopback',
    ['measure', 'value'],
    [
      [
        'short run on a worker, direct (median / p95)',
        `${fmt(median(direct))} / ${fmt(percentile(direct, 95))} ms`,
      ],
      ['same through the coordinator (median / p95)', `${fmt(median(via))} / ${fmt(percentile(via, 95))} ms`],
      ['added per A2A hop (median)', `${fmt(added)} ms`],
      [
        `${BATCH} runs of ${RUN_MS} ms → 1 worker`,
        `${fmt(one.perMinute)} runs/min (${fmt(one.wall)} ms, ${one.failed} failed)`,
      ],
      [
        `${BATCH} runs of ${RUN_MS} ms → 3 workers`,
        `${fmt(three.perMinute)} runs/min (${fmt(three.wall)} ms, ${three.failed} failed)`,
      ],
    ],
    [
      `times are the servers' own created_at → ended_at of each run (${HOP_RUNS} runs after 2 warm-up runs)`,
      'each worker runs at most 8 runs at once (max_concurrent_runs default); the coordinator 64',
      'every process shares the same 2 cores: on separate machines the 3-worker figure scales further',
    ],
  );
}

await runBench(main, async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await waitGone(
    children.map((c) => c.pid),
    10_000,
  );
  for (const t of envs) t.cleanup();
});
