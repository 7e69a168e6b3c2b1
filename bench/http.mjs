// baton serve over loopback: requests/s and latency of GET /api/runs/:id with 20 concurrent
// clients (keep-alive), and SSE fan-out latency: from an event's stored timestamp (`ts`) to its
// arrival at each of 10 listeners of /api/runs/:id/events, for a run that makes 40 tool calls.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { CLI, fmt, makeEnv, median, percentile, report, runBench, sleep, steps, waitGone } from './lib.mjs';

const CLIENTS = 20;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LISTENERS = 10;
const TOKEN = 'bench-token-0123456789';

const t = makeEnv();
let server;

function call(port, agent, method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(data ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let raw = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (raw += d));
        res.on('end', () => resolve({ status: res.statusCode, json: raw ? JSON.parse(raw) : {} }));
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Listens to a run's event stream; resolves with the delays (ms) from each event's ts to its arrival. */
function listen(port, runId) {
  return new Promise((resolve, reject) => {
    const delays = [];
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/api/runs/${runId}/events`,
        headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const line = frame.split('\n').find((l) => l.startsWith('data: '));
            if (!line) continue;
            const e = JSON.parse(line.slice(6));
            delays.push(Date.now() - Date.parse(e.ts));
          }
        });
        res.on('end', () => resolve(delays));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
    env: { ...t.env, BATON_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  let port;
  for (let i = 0; i < 100 && !port; i++) {
    port = Number(/serving http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]) || undefined;
    await sleep(100);
  }
  if (!port) throw new Error(`baton serve did not start: ${out}`);
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });

  const run = await call(port, agent, 'POST', '/api/runs', { agent: 'fixture', cwd: t.work, prompt: 'hi' });
  const id = run.json.run_id;
  // get_run throughput.
  const lat = [];
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        const r = await call(port, agent, 'GET', `/api/runs/${id}`);
        if (r.status !== 200) throw new Error(`GET run: ${r.status}`);
        lat.push(performance.now() - t0);
      }
    }),
  );

  // SSE fan-out.
  const chatty = steps(
    ...Array.from({ length: 40 }, (_, i) => [
      { tool_call: { id: `t${i}`, title: `step ${i}` } },
      { sleep: 20 },
    ]).flat(),
  );
  const spawned = await call(port, agent, 'POST', '/api/runs', {
    agent: 'fixture',
    cwd: t.work,
    prompt: chatty,
  });
  const all = (
    await Promise.all(Array.from({ length: LISTENERS }, () => listen(port, spawned.json.run_id)))
  ).flat();
  agent.destroy();

  report(
    `baton serve over loopback (${CLIENTS} clients for ${SECONDS} s; SSE: ${LISTENERS} listeners)`,
    ['figure', 'value'],
    [
      ['GET /api/runs/:id requests/s', fmt(lat.length / SECONDS)],
      ['GET /api/runs/:id latency p50 / p99 ms', `${fmt(median(lat), 1)} / ${fmt(percentile(lat, 99), 1)}`],
      ['SSE events received (all listeners)', fmt(all.length)],
      ['SSE stored → received p50 / p99 ms', `${fmt(median(all))} / ${fmt(percentile(all, 99))}`],
    ],
    [
      'Stored → received is measured from the event ts (ms precision, written when the event is stored) to the listener reading it, on the same clock.',
      'The run makes 40 tool calls 20 ms apart (tool calls are not coalesced, unlike message chunks).',
    ],
  );
}

runBench(main, async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await waitGone([server.pid], 5000);
  }
  t.cleanup();
});
