// Runs every benchmark in sequence, each in its own node process, prints their output, then a
// summary. Expects a built dist/ (`npm run bench` builds first). Exit code 1 if any failed or
// left a process behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, benchProcesses, fmt, killPids, machine, sleep, table, waitGone } from './lib.mjs';

const BENCHES = [
  'startup.mjs',
  'overhead.mjs',
  'ingest.mjs',
  'memory.mjs',
  'scale.mjs',
  'context.mjs',
  'real-agents.mjs',
  'http.mjs',
  'terminal.mjs',
  'a2a.mjs',
  'runners.mjs',
];
/** Each benchmark is stopped (SIGTERM, then SIGKILL) after this long. */
const LIMIT_MS = 120_000;

if (!existsSync(CLI)) {
  console.error(`${CLI} is missing: run "npm run build" first (or "npm run bench")`);
  process.exit(1);
}

function runOne(file) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(import.meta.dirname, file)], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    let timedOut = false;
    const term = setTimeout(() => {
      timedOut = true;
      console.error(`${file}: over ${LIMIT_MS / 1000}s, stopping it`);
      child.kill('SIGTERM');
    }, LIMIT_MS);
    const kill = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS + 15_000);
    child.once('exit', (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, signal, timedOut, ms: performance.now() - t0 });
    });
  });
}

const m = machine();
console.log(`# baton benchmarks\n`);
console.log(`${m.cpu}, ${m.cores} cores, ${m.memory}, ${m.os}, node ${m.node}; ${m.date}`);
const t0 = performance.now();
const rows = [];
let failed = false;
for (const file of BENCHES) {
  console.log(`\n---- ${file}`);
  const r = await runOne(file);
  // Anything the benchmark started and did not stop (baton servers, agents) is reported and killed.
  await sleep(200);
  const left = benchProcesses();
  if (left.length) {
    for (const p of left) console.error(`left behind by ${file}: pid ${p.pid} ${p.cmd}`);
    killPids(left.map((p) => p.pid));
    await waitGone(
      left.map((p) => p.pid),
      2000,
    );
  }
  const ok = r.code === 0 && !r.timedOut && left.length === 0;
  if (!ok) failed = true;
  rows.push([
    file,
    ok
      ? 'ok'
      : r.timedOut
        ? 'TIMED OUT'
        : r.code !== 0
          ? `FAILED (${r.signal ?? `exit ${r.code}`})`
          : 'LEFT PROCESSES',
    fmt(r.ms / 1000, 1),
    String(left.length),
  ]);
}
console.log(`\n### summary\n`);
console.log(table(['benchmark', 'result', 'seconds', 'processes left'], rows));
console.log(`\nTotal: ${fmt((performance.now() - t0) / 1000, 1)} s`);
process.exit(failed ? 1 : 0);
