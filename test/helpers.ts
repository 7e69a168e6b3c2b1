import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { isProcessAlive } from '../src/process/identity.js';
import { VERSION } from '../src/version.js';

/** A run summary or tool result as the tests read it (loosely typed on purpose). */
export type Summary = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const FIXTURE_AGENT = join(ROOT, 'test', 'fixtures', 'fixture-agent.mjs');
export const SCENARIO = join(ROOT, 'test', 'fixtures', 'scenario.json');

/** A fresh BATON_HOME, a work dir inside the roots, and a config with the fixture agents. */
export type TestEnv = {
  dir: string;
  home: string;
  work: string;
  state: string;
  env: NodeJS.ProcessEnv;
  cleanup: () => void;
};

/**
 * `config` is merged over the defaults; pass a function to build it from the test's temp dir (for
 * paths inside it, such as an agent's isolated HOME).
 */
export function makeEnv(
  config: Record<string, unknown> | ((dir: string) => Record<string, unknown>) = {},
): TestEnv {
  const dir = mkdtempSync(join(tmpdir(), 'baton-test-'));
  const home = join(dir, 'home');
  const work = join(dir, 'work');
  const state = join(dir, 'state');
  mkdirSync(home);
  mkdirSync(work);
  const fixture = (extra: string[] = []) => ({
    driver: 'acp',
    command: process.execPath,
    args: [FIXTURE_AGENT, '--scenario', SCENARIO, '--state', state, ...extra],
  });
  writeFileSync(
    join(home, 'config.json'),
    JSON.stringify({
      roots: [dir],
      agents: {
        fixture: fixture(),
        'fixture-noload': fixture(['--no-load']),
        'fixture-resume': fixture(['--resume-only']),
      },
      ...(typeof config === 'function' ? config(dir) : config),
    }),
  );
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, BATON_HOME: home };
  const cleanup = () => {
    stopDaemon(home);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, home, work, state, env, cleanup };
}

/** The pid in `home`'s daemon.pid, when a daemon wrote one. */
export function daemonPid(home: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(home, 'daemon.pid'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/** True while process `pid` exists and is not a zombie (dead, waiting to be reaped). */
export function alive(pid: number): boolean {
  return isProcessAlive(pid);
}

/** Stops a daemon a test started (SIGTERM, then SIGKILL after 10 s), synchronously. */
export function stopDaemon(home: string): void {
  const pid = daemonPid(home);
  if (pid === undefined || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (alive(pid) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** A script for the fixture agent's next turn. */
export function steps(...s: unknown[]): string {
  return JSON.stringify({ steps: s });
}

/** Every event of a run: the pages of get_events (screens make the pages short). */
export async function allEvents(srv: Server, run: string): Promise<Summary[]> {
  const all: Summary[] = [];
  for (let after = 0; ;) {
    const page = (await srv.call('get_events', { run, after_seq: after, limit: 1000 })) as Summary;
    all.push(...(page.events as Summary[]));
    if (!page.has_more) return all;
    after = page.next_seq as number;
  }
}

/** Milliseconds from the last `hook` event among `evs` to the run's next `waiting` status. */
export function hookToWaiting(evs: Summary[], hook: string): number {
  const at = evs.findLastIndex((e) => e.type === 'raw' && e.data.hook === hook);
  if (at < 0) throw new Error(`no ${hook} hook among the ${evs.length} events`);
  const waiting = evs.slice(at).find((e) => e.type === 'status' && e.data.status === 'waiting');
  if (!waiting) throw new Error(`no waiting status after the ${hook} hook`);
  return Date.parse(String(waiting.ts)) - Date.parse(String(evs[at]?.ts));
}

/** An MCP client connected to `baton mcp` over stdio (the built CLI). */
export type Server = {
  client: Client;
  pid: number;
  /** Calls a tool and returns its structured content; throws when isError unless `allowError`. */
  call: (name: string, args?: Record<string, unknown>) => Promise<Record<string, unknown>>;
  /** Calls a tool and returns the whole result. */
  raw: (
    name: string,
    args?: Record<string, unknown>,
  ) => Promise<{ isError?: boolean; structuredContent?: unknown; content: unknown[] }>;
  close: () => Promise<void>;
  stderr: () => string;
};

/**
 * Starts `baton mcp` over stdio; `opts.client` replaces the default client (to declare
 * capabilities). Standalone (the runs live in that process) unless `opts.daemon`.
 */
export async function startServer(
  t: TestEnv,
  opts: { client?: Client; daemon?: boolean } = {},
): Promise<Server> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', ...(opts.daemon ? [] : ['--standalone'])],
    env: t.env as Record<string, string>,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = opts.client ?? new Client({ name: 'baton-test', version: '1.0.0' });
  await client.connect(transport);
  const raw = async (name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args }, { timeout: 120_000 })) as {
      isError?: boolean;
      structuredContent?: unknown;
      content: unknown[];
    };
  return {
    client,
    pid: transport.pid as number,
    raw,
    call: async (name, args = {}) => {
      const res = await raw(name, args);
      if (res.isError)
        throw new Error(`${name} failed: ${JSON.stringify(res.structuredContent ?? res.content)}`);
      return res.structuredContent as Record<string, unknown>;
    },
    close: async () => {
      await client.close();
    },
    stderr: () => stderr,
  };
}

/** Waits until `runs` are final (or `until`), calling wait_run as a host would. */
export async function waitFor(
  s: Server,
  run: string,
  until: 'attention' | 'finished' = 'attention',
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 20; i++) {
    const res = (await s.call('wait_run', { runs: [run], until, timeout: 30 })) as {
      runs: Record<string, unknown>[];
      timed_out: boolean;
    };
    if (!res.timed_out) return res.runs[0] as Record<string, unknown>;
  }
  throw new Error(`run ${run} never became ready`);
}

/** PIDs of processes whose command line contains `needle`. */
export function pidsMatching(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * PIDs of processes whose environment contains `needle`, such as an agent's isolated HOME (the
 * real CLIs' command lines do not name it). This test process is never counted.
 */
export function pidsWithEnv(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

/** True when the process group `pgid` has no members left. */
export function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns truthy or `ms` passes. */
export async function eventually<T>(fn: () => T | Promise<T>, ms = 20_000): Promise<NonNullable<T>> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** Runs the built CLI and returns its exit code and output. */
export function runCli(
  t: TestEnv,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; child: ChildProcess }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? t.work,
      env: t.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, child });
    });
  });
}

export type Reply = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: Summary;
};

export type Serve = {
  child: ChildProcess;
  port: number;
  token: string;
  /** The one-time dashboard login URL it printed. */
  loginUrl: string;
  stdout: () => string;
};

/** Starts `baton serve --port 0` and reads the port it printed. */
export async function serve(t: TestEnv, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    env: { ...t.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stdout += d.toString()));
  const m = await eventually(() => /serving http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout), 15_000);
  const token = env.BATON_TOKEN ?? readFileSync(join(t.home, 'token'), 'utf8').trim();
  // The login line is printed right after the first one (it may arrive in a later chunk).
  const login = (await eventually(() => /Dashboard: (http:\S+)/.exec(stdout), 15_000))[1] ?? '';
  return { child, port: Number(m[1]), token, loginUrl: login, stdout: () => stdout };
}

export function call(
  port: number,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data =
      opts.body === undefined
        ? undefined
        : typeof opts.body === 'string'
          ? opts.body
          : JSON.stringify(opts.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: {
          host: `127.0.0.1:${port}`,
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(data ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let json: Summary = {};
          try {
            json = JSON.parse(body) as Summary;
          } catch {
            // not JSON (an SSE stream)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    if (data) req.write(data);
    req.end();
  });
}

/** Stops a `baton serve` child with SIGTERM and waits for it to exit. */
export async function stopServe(s: Serve | undefined): Promise<void> {
  if (s && s.child.exitCode === null) {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
}

/** Logs in like the dashboard does (a one-time code from the API): the cookie and CSRF token. */
export async function dashboardLogin(port: number, token: string): Promise<{ cookie: string; csrf: string }> {
  const minted = await call(port, 'POST', '/api/login-codes', { token });
  const url = new URL(minted.json.url as string);
  const login = await call(port, 'GET', `${url.pathname}${url.search}`);
  const setCookie = [login.headers['set-cookie'] ?? []].flat()[0] ?? '';
  const cookie = setCookie.split(';')[0] ?? '';
  const session = await call(port, 'GET', '/api/session', { headers: { cookie } });
  return { cookie, csrf: session.json.csrf_token as string };
}

/**
 * The config entry of a fixture agent that answers prompts matching `match` (a regex) with `reply`
 * and echoes the rest (its scenario is written to `dir/<name>.json`).
 */
export function replyingAgent(dir: string, name: string, match: string, reply: string) {
  const scenario = join(dir, `${name}.json`);
  writeFileSync(
    scenario,
    JSON.stringify({ turns: [{ match, steps: [{ message: reply }] }], default: [{ echo: true }] }),
  );
  return {
    driver: 'acp',
    command: process.execPath,
    args: [FIXTURE_AGENT, '--scenario', scenario, '--state', join(dir, 'state')],
  };
}

/** The config entry of the plain fixture agent (test/fixtures/scenario.json), state under `dir`. */
export function fixtureAgent(dir: string) {
  return {
    driver: 'acp',
    command: process.execPath,
    args: [FIXTURE_AGENT, '--scenario', SCENARIO, '--state', join(dir, 'state')],
  };
}

/** Reads an SSE stream until it ends (or `until` says stop); returns the parsed events. */
export function sse(
  port: number,
  path: string,
  token: string,
  headers: Record<string, string> = {},
  until?: (events: { id?: string; event?: string; data: Summary }[]) => boolean,
): Promise<{ id?: string; event?: string; data: Summary }[]> {
  return new Promise((resolve, reject) => {
    const events: { id?: string; event?: string; data: Summary }[] = [];
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: {
          host: `127.0.0.1:${port}`,
          authorization: `Bearer ${token}`,
          accept: 'text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const e: { id?: string; event?: string; data: Summary } = { data: {} };
            let has = false;
            for (const line of frame.split('\n')) {
              if (line.startsWith('id: ')) e.id = line.slice(4);
              else if (line.startsWith('event: ')) e.event = line.slice(7);
              else if (line.startsWith('data: ')) {
                e.data = JSON.parse(line.slice(6)) as Summary;
                has = true;
              }
            }
            if (has) events.push(e);
            if (until?.(events)) {
              req.destroy();
              resolve(events);
              return;
            }
          }
        });
        res.on('end', () => resolve(events));
      },
    );
    req.on('error', (err) => (until ? resolve(events) : reject(err)));
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** A process's resident memory in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** SQLite's `PRAGMA integrity_check` of a database file ("ok" when sound). */
export function dbIntegrity(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

/**
 * Runs the built CLI on a terminal (a pty from util-linux `script`), as a person would type it;
 * `stdout` is everything the terminal showed (stdout and stderr).
 */
export function runCliOnTty(
  t: TestEnv,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const line = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolvePromise) => {
    const child = spawn('script', ['-q', '-e', '-c', line, '/dev/null'], {
      cwd: t.work,
      env: { ...t.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout });
    });
  });
}

export type Answer = { id: number; result?: Summary; error?: { code: string; message: string } };

/** A raw front on daemon.sock speaking the owner protocol with the hello an attacker chooses. */
export async function rawFront(home: string, hello: Record<string, unknown>) {
  const socket: Socket = connect(join(home, 'daemon.sock'));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buf = '';
  const lines: Record<string, unknown>[] = [];
  socket.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
  });
  socket.write(
    `${JSON.stringify({ baton: 'hello', version: VERSION, protocol: 2, mode: 'front', ...hello })}\n`,
  );
  await eventually(() => lines.find((l) => l.baton === 'welcome'), 5_000);
  let next = 1;
  return {
    write: (raw: string) => socket.write(raw),
    call: async (op: string, args: unknown, via?: string): Promise<Answer> => {
      const id = next++;
      socket.write(`${JSON.stringify({ id, op, args, ...(via ? { via } : {}) })}\n`);
      return (await eventually(() => lines.find((l) => l.id === id && !('progress' in l)), 20_000)) as Answer;
    },
    close: () => socket.destroy(),
  };
}
