// baton serve over loopback: requests/s and latency of GET /api/runs/:id with 20 concurrent
// clients (keep-alive), and SSE fan-out latency: from an event's stored timestamp (`ts`) to its
// arrival at each of 10 listeners of /api/runs/:id/events, for a run that makes 40 tool calls,
// and the same at 5 EventSource listeners in Debian's Chromium (logged in like the dashboard).
// page.evaluate callbacks run in the browser.
/* global window, EventSource */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/fixtures/chromium.mjs';
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

const CLIENTS = 20;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LISTENERS = 10;
const BROWSER_LISTENERS = 5;
const TOKEN = 'bench-token-0123456789';

const t = makeEnv();
let server;
let browser;

/**
 * Opens `count` dashboard pages (logged in with a one-time code) whose EventSource listens to the
 * run's events; returns a function that resolves with the delays once every stream has ended.
 */
async function browserListeners(port, agent, runId, count) {
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  const pages = [];
  for (let i = 0; i < count; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const minted = await call(port, agent, 'POST', '/api/login-codes');
    await page.goto(minted.json.url);
    await page.evaluate((id) => {
      window.delays = [];
      window.ended = new Promise((resolve) => {
        const es = new EventSource(`/api/runs/${id}/events`);
        let attached = Infinity;
        es.addEventListener('open', () => (attached = Date.now()));
        const on = (e) => {
          if (typeof e.data !== 'string') return;
          const ts = Date.parse(JSON.parse(e.data).ts);
          if (ts >= attached) window.delays.push(Date.now() - ts);
        };
        for (const type of ['status', 'message', 'tool_call', 'usage', 'result', 'raw', 'plan', 'thought']) {
          es.addEventListener(type, on);
        }
        // The stream ends when the run is over; EventSource reports that as an error.
        es.addEventListener('error', () => {
          es.close();
          resolve();
        });
      });
    }, runId);
    pages.push(page);
  }
  return async () =>
    (
      await Promise.all(
        pages.map((p) =>
          p.evaluate(async () => {
            await window.ended;
            return window.delays;
          }),
        ),
      )
    ).flat();
}

const call = (port, agent, method, path, body) => apiCall(port, TOKEN, method, path, body, agent);

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
        // Events stored before the stream opened are replayed, not fanned out: not counted.
        const attached = Date.now();
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
            if (Date.parse(e.ts) >= attached) delays.push(Date.now() - Date.parse(e.ts));
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

  // SSE fan-out. The run sleeps first so every listener is attached before its events are stored.
  const chatty = steps(
    { sleep: BROWSER_LISTENERS ? 4000 : 500 },
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
  const nodeListening = Promise.all(
    Array.from({ length: LISTENERS }, () => listen(port, spawned.json.run_id)),
  );
  const browserDone = existsSync(CHROMIUM)
    ? await browserListeners(port, agent, spawned.json.run_id, BROWSER_LISTENERS)
    : async () => [];
  const all = (await nodeListening).flat();
  const inBrowser = await browserDone();
  agent.destroy();

  report(
    `baton serve over loopback (${CLIENTS} clients for ${SECONDS} s; SSE: ${LISTENERS} listeners)`,
    ['figure', 'value'],
    [
      ['GET /api/runs/:id requests/s', fmt(lat.length / SECONDS)],
      ['GET /api/runs/:id latency p50 / p99 ms', `${fmt(median(lat), 1)} / ${fmt(percentile(lat, 99), 1)}`],
      ['SSE events received (all listeners)', fmt(all.length)],
      ['SSE stored → received p50 / p99 ms', `${fmt(median(all))} / ${fmt(percentile(all, 99))}`],
      [
        `SSE stored → Chromium EventSource p50 / p99 ms (${inBrowser.length} events)`,
        inBrowser.length
          ? `${fmt(median(inBrowser))} / ${fmt(percentile(inBrowser, 99))}`
          : 'no /usr/bin/chromium',
      ],
    ],
    [
      'Stored → received is measured from the event ts (ms precision, written when the event is stored) to the listener reading it, on the same clock; events stored before a listener attached (replayed) are not counted.',
      'The run makes 40 tool calls 20 ms apart (tool calls are not coalesced, unlike message chunks).',
    ],
  );
}

runBench(main, async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await waitGone([server.pid], 5000);
  }
  t.cleanup();
});
