// Wall time of one scripted turn per real agent CLI: through baton (`baton mcp`: spawn_run →
// wait_run finished, a fresh agent process and session each time) against the same CLI run
// directly (its own one-shot mode: `claude -p`, `codex exec`, `gemini -p`; for the ACP adapters,
// which have none, a bare ACP client: spawn, initialize, session/new, session/prompt, exit).
// Every run answers the same prompt from the scripted model server (test/fixtures/model-server.mjs)
// on 127.0.0.1; no network, no API key. Agents not installed (node_modules/.bin) are skipped;
// BENCH_AGENTS=codex,gemini limits the list, BENCH_N the samples per agent (default 3).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startModelServer } from '../test/fixtures/model-server.mjs';
import {
  directCommand,
  realAgentConfig,
  REAL_AGENT_PROTOCOLS,
  setupAgentHome,
} from '../test/fixtures/real-agents.mjs';
import {
  descendants,
  fmt,
  killPids,
  makeEnv,
  median,
  report,
  runBench,
  startServer,
  waitFinished,
  waitGone,
  bareAcpTurn,
} from './lib.mjs';

const N = Number(process.env.BENCH_N ?? 3);
const PROMPT = 'say hi';
const EXPECTED = `echo: ${PROMPT}`;

let model;
let t;
let server;
const direct = new Set();

/** SIGKILLs a process group (what the CLI started and left). */
function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** One turn through baton. Returns ms. */
async function viaBaton(name) {
  const t0 = performance.now();
  const spawned = await server.call('spawn_run', { agent: name, cwd: t.work, prompt: PROMPT });
  const done = await waitFinished(server, spawned.run_id);
  const ms = performance.now() - t0;
  if (done.status !== 'completed' || !done.result?.text?.includes(EXPECTED)) {
    throw new Error(
      `${name} through baton ended ${done.status}: ${JSON.stringify(done.result ?? done.error)}`,
    );
  }
  return ms;
}

/** The CLI's own one-shot mode. Returns ms to its exit. */
function viaCli(name, home) {
  const [command, args] = directCommand(name, PROMPT);
  const env = { ...process.env, ...realAgentConfig(name, home, model.url).env };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, {
      cwd: t.work,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    direct.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - t0;
      direct.delete(child.pid);
      killGroup(child.pid);
      // Exit 0 is the check: the streamed answer arrives in pieces (JSON lines) that differ per CLI.
      if (code !== 0 || !out.trim()) {
        reject(new Error(`${name} direct exited ${code}: ${out.slice(-400)} ${err.slice(-400)}`));
      } else resolve(ms);
    });
  });
}

/** A bare ACP client (no baton) for the adapters. Returns ms to the agent's exit. */
async function viaAcp(name, home) {
  const cfg = realAgentConfig(name, home, model.url);
  const t0 = performance.now();
  const child = spawn(cfg.command, cfg.args, {
    cwd: t.work,
    // The same IS_SANDBOX fix baton applies (src/drivers/acp/builtins.ts).
    env: { ...process.env, ...cfg.env, ...(process.env.IS_SANDBOX ? { IS_SANDBOX: '1' } : {}) },
    stdio: ['pipe', 'pipe', 'ignore'],
    detached: true,
  });
  direct.add(child.pid);
  const exited = new Promise((r) => child.once('exit', r));
  child.stdin.on('error', () => undefined);
  const { res, text, conn } = await bareAcpTurn(child, t.work, PROMPT);
  conn.close();
  child.stdin.end();
  // codex-acp does not exit on stdin EOF: stop its process group as baton does.
  killGroup(child.pid);
  await exited;
  const ms = performance.now() - t0;
  direct.delete(child.pid);
  if (res.stopReason !== 'end_turn') throw new Error(`${name} bare ACP stopped: ${res.stopReason} ${text}`);
  return ms;
}

async function main() {
  model = await startModelServer();
  const only = process.env.BENCH_AGENTS?.split(',');
  const names = Object.keys(REAL_AGENT_PROTOCOLS).filter(
    (n) => (!only || only.includes(n)) && existsSync(realAgentConfig(n, '/', 'http://x').command),
  );
  const homes = {};
  t = makeEnv();
  const agents = {};
  for (const n of names) {
    homes[n] = join(t.dir, `home-${n}`);
    mkdirSync(homes[n]);
    setupAgentHome(n, homes[n], model.url);
    agents[n] = realAgentConfig(n, homes[n], model.url);
  }
  // The fixture entry of makeEnv plus the real agents, in one config.
  const cfgPath = join(t.home, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.agents = { ...cfg.agents, ...agents };
  writeFileSync(cfgPath, JSON.stringify(cfg));
  server = await startServer(t);

  const rows = [];
  for (const name of names) {
    const bare = directCommand(name, PROMPT)
      ? () => viaCli(name, homes[name])
      : () => viaAcp(name, homes[name]);
    // Warm-up (page cache for the binaries, JIT).
    await viaBaton(name);
    await bare();
    const b = [];
    const d = [];
    for (let i = 0; i < N; i++) {
      // Interleaved so that drift of the machine hits both sides alike.
      b.push(await viaBaton(name));
      d.push(await bare());
    }
    const mb = median(b);
    const md = median(d);
    rows.push([
      name,
      directCommand(name, PROMPT) ? directCommand(name, PROMPT)[1][0] : 'bare ACP client',
      fmt(mb),
      fmt(md),
      fmt(mb / md, 2),
      fmt(mb - md),
    ]);
  }
  report(
    `real agents — one scripted turn ("${PROMPT}"), N=${N} (+1 warm-up), medians`,
    ['agent', 'direct mode', 'through baton ms', 'direct ms', 'ratio', 'difference ms'],
    rows,
    [
      'Through baton: spawn_run → wait_run(finished) over MCP stdio, a new session and agent process per run; the process is stopped after session_idle_timeout, not counted.',
      'Direct: the CLI run to its exit (claude -p / codex exec / gemini -p), or a bare ACP client to the prompt answer and exit for the adapters.',
      'baton drives claude with stream-json input and codex with app-server, not the one-shot modes, so the ratio compares the way baton runs the CLI against the way a person would script it.',
    ],
  );
}

runBench(main, async () => {
  if (server) {
    const kids = descendants(server.pid);
    await server.close();
    killPids(await waitGone(kids, 3000));
  }
  for (const pid of direct) killGroup(pid);
  await model?.close();
  t?.cleanup();
});
