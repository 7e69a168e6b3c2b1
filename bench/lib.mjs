// Shared helpers of the benchmark scripts: temp BATON_HOME, MCP client over stdio, /proc probes,
// statistics and table printing. Plain ESM, imports only the built dist/ and dependencies.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import * as acp from '@agentclientprotocol/sdk/unstable';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const AGENT = join(ROOT, 'dist', 'agents', 'scripted-agent.js');
export const SCENARIO = join(ROOT, 'src', 'agents', 'scenarios', 'demo.json');

/**
 * A fresh temp dir holding BATON_HOME (`home/`), a work dir inside the roots and the scripted
 * agent's state dir, with config.json naming the `fixture` agent. `cleanup()` removes it all.
 */
export function makeEnv(extraConfig = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-'));
  const home = join(dir, 'home');
  const work = join(dir, 'work');
  const state = join(dir, 'state');
  mkdirSync(home);
  mkdirSync(work);
  const agentArgs = [AGENT, '--state', state, '--scenario', SCENARIO];
  writeFileSync(
    join(home, 'config.json'),
    JSON.stringify({
      roots: [dir],
      agents: { fixture: { driver: 'acp', command: process.execPath, args: agentArgs } },
      ...extraConfig,
    }),
  );
  const env = { ...process.env, BATON_HOME: home };
  delete env.BATON_CONFIG;
  return {
    dir,
    home,
    work,
    state,
    env,
    agentArgs,
    // The daemon a front started for this home (every serve and CLI is a front) goes first.
    cleanup: () => {
      stopDaemonNow(home);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stops the daemon of `home` (SIGTERM, SIGKILL after 10 s) and waits for it, synchronously. */
function stopDaemonNow(home) {
  let pid;
  try {
    pid = JSON.parse(readFileSync(join(home, 'daemon.pid'), 'utf8')).pid;
  } catch {
    return;
  }
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** `{"steps": [...]}` prompt for the scripted agent. */
export const steps = (...s) => JSON.stringify({ steps: s });

/** Starts `baton mcp` and connects an MCP client; returns timing of the connect (initialize). */
export async function startServer(t, opts = {}) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    // Standalone unless asked: the runs (and the memory measured) are in this process.
    args: [CLI, 'mcp', ...(opts.daemon ? [] : ['--standalone'])],
    env: t.env,
    stderr: 'pipe',
  });
  let stderr = '';
  const client = new Client({ name: 'baton-bench', version: '1.0.0' });
  // With stderr: 'pipe' the transport hands out its PassThrough before the process exists.
  transport.stderr?.on('data', (d) => (stderr += d.toString()));
  const t0 = performance.now();
  await client.connect(transport);
  const connectMs = performance.now() - t0;
  const pid = transport.pid;
  const call = async (name, args = {}) => {
    const res = await client.callTool({ name, arguments: args }, { timeout: 120_000 });
    if (res.isError)
      throw new Error(`${name} failed: ${JSON.stringify(res.structuredContent ?? res.content)}`);
    return res.structuredContent;
  };
  return {
    client,
    transport,
    pid,
    connectMs,
    call,
    stderr: () => stderr,
    /** Closes the client (stdin end → baton shuts down), then makes sure the process is gone. */
    close: async () => {
      await client.close().catch(() => undefined);
      await waitGone([pid], 5000);
      killPids([pid]);
      if (stderr.trim()) console.error(`baton mcp ${pid} stderr:\n${stderr.trimEnd()}`);
      stderr = '';
    },
  };
}

/** wait_run until the run is final, re-calling on timed_out. */
export async function waitFinished(s, runId) {
  for (let i = 0; i < 20; i++) {
    const res = await s.call('wait_run', { runs: [runId], until: 'finished', timeout: 50 });
    if (!res.timed_out) return res.runs[0];
  }
  throw new Error(`run ${runId} never finished`);
}

// ------------------------------------------------------------------ processes

/** True when /proc/<pid> exists and is not a zombie. */
export function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Resident set size of a process in KiB (VmRSS), or 0 when gone. */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Live processes started for a benchmark: agents (their --state is under a baton-bench- dir) and
 * baton servers whose BATON_HOME is under one. Only this user's processes are readable. */
export function benchProcesses() {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      let env = '';
      try {
        env = readFileSync(`/proc/${entry}/environ`, 'utf8');
      } catch {
        // not ours
      }
      const home = /(?:^|\0)BATON_HOME=([^\0]*)/.exec(env)?.[1] ?? '';
      if ((cmd.includes('/baton-bench-') || home.includes('/baton-bench-')) && alive(Number(entry))) {
        out.push({ pid: Number(entry), cmd: cmd.split('\0').join(' ').trim() });
      }
    } catch {
      // gone
    }
  }
  return out;
}

/** Every live descendant of `pid` (children, grandchildren...), whatever their process group. */
export function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // gone
    }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out.filter(alive);
}

/** Waits until none of `pids` is alive, or `ms` passes; returns the ones still alive. */
export async function waitGone(pids, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > end) return left;
    await sleep(25);
  }
}

/** SIGKILLs whatever of `pids` is still alive (and its process group when it leads one). */
export function killPids(pids) {
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // not a group leader
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ figures

export function median(xs) {
  return percentile(xs, 50);
}

/** Nearest-rank percentile. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

export const fmt = (n, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : String(n);
export const mib = (kib) => `${fmt(kib / 1024, 1)} MiB`;

/** The machine line printed with every table. */
export function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model?.trim() ?? 'unknown',
    cores: c.length,
    memory: `${fmt(totalmem() / 1024 ** 3, 1)} GiB`,
    os: `${platform()} ${release()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Prints a markdown table. `rows` are arrays of cells. */
export function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [line(cells[0]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`];
  for (const r of cells.slice(1)) out.push(line(r));
  return out.join('\n');
}

/** Prints a benchmark's final report: title, machine, then the figure table. */
export function report(title, headers, rows, notes = []) {
  const m = machine();
  console.log(`\n### ${title}\n`);
  console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, ${m.os}, node ${m.node}; date ${m.date}\n`);
  console.log(table(headers, rows));
  if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`);
  console.log('');
}

/** Runs `main`, always runs `cleanup`, exits non-zero on failure (with the stack on stderr). */
export async function runBench(main, cleanup) {
  let code = 0;
  // A SIGTERM/SIGINT (run-all's time limit, Ctrl-C) still cleans up: baton and its agents stop.
  let stopping = false;
  const onSignal = (signal) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error(`${signal}: cleaning up`);
    Promise.resolve()
      .then(() => cleanup?.())
      .finally(() => process.exit(130));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await main();
  } catch (err) {
    code = 1;
    if (!stopping) console.error(err?.stack ?? String(err));
  }
  if (stopping) return; // the signal handler cleans up and exits
  try {
    await cleanup?.();
  } catch (err) {
    code = 1;
    console.error(`cleanup failed: ${err?.stack ?? err}`);
  }
  process.exit(code);
}

/**
 * One prompt to an ACP agent process `child` with a bare ACP client (no baton): initialize,
 * session/new in `cwd`, session/prompt. Permission requests are cancelled. Returns the prompt
 * response, the streamed text and the connection (the caller closes it and stops the process).
 */
export async function bareAcpTurn(child, cwd, prompt) {
  let text = '';
  const conn = acp
    .client({ name: 'bench' })
    .onNotification(acp.methods.client.session.update, ({ params }) => {
      const u = params.update;
      if (u.sessionUpdate === 'agent_message_chunk' && u.content.type === 'text') text += u.content.text;
    })
    .onRequest(acp.methods.client.session.requestPermission, () => ({ outcome: { outcome: 'cancelled' } }))
    .connect(acp.ndJsonStream(Writable.toWeb(child.stdin), Readable.toWeb(child.stdout)));
  await conn.agent.request(acp.methods.agent.initialize, {
    protocolVersion: acp.PROTOCOL_VERSION,
    clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
    clientInfo: { name: 'bench', version: '1.0.0' },
  });
  const { sessionId } = await conn.agent.request(acp.methods.agent.session.new, { cwd, mcpServers: [] });
  const res = await conn.agent.request(acp.methods.agent.session.prompt, {
    sessionId,
    prompt: [{ type: 'text', text: prompt }],
  });
  return { res, text, conn };
}

/** Stops the daemon of a bench's BATON_HOME, if one runs (SIGTERM, waits up to 10 s). */
export async function stopDaemon(home) {
  let pid;
  try {
    pid = JSON.parse(readFileSync(join(home, 'daemon.pid'), 'utf8')).pid;
  } catch {
    return;
  }
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  killPids(await waitGone([pid], 10_000));
}

/**
 * One request to a `baton serve` on 127.0.0.1 with the bearer token; resolves with the status and
 * the parsed JSON body ({} when the body is not JSON).
 */
export function apiCall(port, token, method, path, body, agent) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ...(agent ? { agent } : {}),
        headers: {
          host: `127.0.0.1:${port}`,
          authorization: `Bearer ${token}`,
          ...(data ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let raw = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (raw += d));
        res.on('end', () => {
          let json = {};
          try {
            json = raw ? JSON.parse(raw) : {};
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode, json });
        });
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}
