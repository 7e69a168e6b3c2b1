// The baton daemon: `baton mcp` is a thin front over $BATON_HOME/daemon.sock, runs belong to the
// daemon and outlive MCP hosts, a killed daemon is replaced, a daemon of another version is
// reported, and the daemon stops itself when idle.
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLI,
  alive,
  daemonPid,
  eventually,
  makeEnv,
  pidsMatching,
  pidsWithEnv,
  runCli,
  serve,
  sse,
  stopServe,
  sleep,
  startServer,
  steps,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

/** Live `baton daemon run` processes of this test's BATON_HOME. */
function daemonsOf(home: string): number[] {
  return pidsWithEnv(`BATON_HOME=${home}\0`).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('daemon\0run');
    } catch {
      return false;
    }
  });
}

describe('baton daemon', () => {
  let t: TestEnv;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined);
    t.cleanup();
  });
  const front = async (client?: Server['client']) => {
    const s = await startServer(t, { daemon: true, ...(client ? { client } : {}) });
    servers.push(s);
    return s;
  };

  it('runs outlive the MCP host: kill the client and its baton mcp, a new host sees the run finish; one daemon throughout', async () => {
    t = makeEnv();
    const a = await front();
    const run = (await a.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'working' }, { sleep: 2500 }, { message: 'survived the host' }),
    })) as Summary;
    const daemon = daemonPid(t.home) as number;
    expect(daemon).toBeGreaterThan(0);
    expect(daemon).not.toBe(a.pid);
    expect(daemonsOf(t.home)).toEqual([daemon]);
    // The host dies hard, and its baton mcp with it.
    process.kill(a.pid, 'SIGKILL');
    await a.close().catch(() => undefined);
    await eventually(() => !alive(a.pid));

    const b = await front();
    const seen = (await b.call('get_run', { run: run.run_id })) as Summary;
    expect(['running', 'starting']).toContain(seen.status);
    const done = (await waitFor(b, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('survived the host');
    expect(daemonPid(t.home)).toBe(daemon);
    expect(daemonsOf(t.home)).toEqual([daemon]);

    const status = JSON.parse((await runCli(t, ['daemon', 'status', '--json'])).stdout) as Summary;
    expect(status).toMatchObject({
      running: true,
      pid: daemon,
      clients: 1,
      active_runs: 0,
      same_version: true,
    });
  });

  it('two hosts at once share one daemon and see each other’s runs', async () => {
    t = makeEnv();
    // Both start at the same moment: one daemon wins, the other front joins it.
    const [a, b] = await Promise.all([front(), front()]);
    const run = (await a.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'hello from A',
    })) as Summary;
    const done = (await waitFor(b, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    const listed = (await b.call('list_runs', {})) as { runs: Summary[] };
    expect(listed.runs.map((r) => r.run_id)).toContain(run.run_id);
    // The daemon that lost the lock exits by itself (on 2 loaded cores its start alone took seconds,
    // so it was still alive when the run was over once).
    await eventually(() => daemonsOf(t.home).length === 1, 15_000).catch(() => {
      throw new Error(`more than one daemon for the home: ${daemonsOf(t.home).join(', ')}`);
    });
  });

  it('kill -9 of the daemon mid-run: the next call starts a fresh daemon, the run is interrupted with its events, follow_up works', async () => {
    t = makeEnv();
    const s = await front();
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'before the crash' }, { sleep: 60_000 }),
      label: 'crashy',
    })) as Summary;
    await eventually(async () => {
      const ev = (await s.call('get_events', { run: run.run_id, types: ['message'] })) as {
        events: Summary[];
      };
      return ev.events.some((e) => e.data.text === 'before the crash');
    });
    const old = daemonPid(t.home) as number;
    const agents = pidsMatching(t.state);
    expect(agents.length).toBeGreaterThan(0);
    process.kill(old, 'SIGKILL');
    await eventually(() => !alive(old));

    // The same host goes on: its front starts a new daemon and replays the session opening.
    const after = (await s.call('get_run', { run: 'crashy' })) as Summary;
    const fresh = daemonPid(t.home) as number;
    expect(fresh).not.toBe(old);
    expect(after.status).toBe('interrupted');
    expect(after.error.code).toBe('INTERRUPTED');
    // The dead daemon's agent was killed by the new one: no orphans.
    await eventually(() => agents.every((pid) => !alive(pid)));
    const ev = (await s.call('get_events', { run: run.run_id, types: ['message'] })) as { events: Summary[] };
    expect(ev.events.map((e) => e.data.text)).toContain('before the crash');

    const next = (await s.call('follow_up', { run: 'crashy', message: 'hello again' })) as Summary;
    const done = (await waitFor(s, next.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(daemonsOf(t.home)).toEqual([fresh]);

    // A brand-new host sees the same.
    const other = await front();
    expect(((await other.call('get_run', { run: run.run_id })) as Summary).status).toBe('interrupted');
  });

  it('a stale socket and pid file of a crashed daemon do not block start-up; status, stop and logs', async () => {
    t = makeEnv();
    const started = await runCli(t, ['daemon', 'start', '--json']);
    expect(started.code).toBe(0);
    const first = JSON.parse(started.stdout) as Summary;
    expect(first.started).toBe(true);
    process.kill(first.pid as number, 'SIGKILL');
    await eventually(() => !alive(first.pid as number));
    // Its socket file and pid file are still there.
    expect(statSync(join(t.home, 'daemon.sock')).isSocket()).toBe(true);
    expect(daemonPid(t.home)).toBe(first.pid);

    const none = await runCli(t, ['daemon', 'status']);
    expect(none.code).toBe(3);
    expect(none.stdout).toContain('not running');

    const again = JSON.parse((await runCli(t, ['daemon', 'start', '--json'])).stdout) as Summary;
    expect(again.started).toBe(true);
    expect(again.pid).not.toBe(first.pid);
    expect((statSync(join(t.home, 'daemon.sock')).mode & 0o777).toString(8)).toBe('600');
    const twice = JSON.parse((await runCli(t, ['daemon', 'start', '--json'])).stdout) as Summary;
    expect(twice).toMatchObject({ started: false, pid: again.pid });

    // The CLI runs through the daemon when one is running.
    const cli = await runCli(t, ['run', 'fixture', 'via the daemon', '--cwd', t.work]);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toContain(`in the baton daemon (pid ${again.pid})`);

    // Stop is refused while a run is active, unless forced.
    const s = await front();
    const busy = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ sleep: 60_000 }),
    })) as Summary;
    await eventually(
      async () => ((await s.call('get_run', { run: busy.run_id })) as Summary).status === 'running',
    );
    const refused = await runCli(t, ['daemon', 'stop']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/1 run\(s\) are still active.*--force/);
    const stopped = await runCli(t, ['daemon', 'stop', '--force', '--json']);
    // Forced: the active run is cancelled (the kill ladder) before the daemon goes.
    expect(JSON.parse(stopped.stdout)).toMatchObject({
      stopped: true,
      pid: again.pid,
      cancelled_runs: [busy.run_id],
    });
    expect(alive(again.pid as number)).toBe(false);

    const logs = await runCli(t, ['daemon', 'logs', '-n', '20']);
    expect(logs.stdout).toContain(`(pid ${again.pid}) serving`);
    expect(logs.stdout).toContain('stopping: baton daemon stop --force');
    // The run it hosted was cancelled by the forced stop (a new daemon starts for the call).
    expect(((await s.call('get_run', { run: busy.run_id })) as Summary).status).toBe('cancelled');
  });

  it('a daemon of another version is not used: every request says to run baton daemon stop', async () => {
    t = makeEnv();
    // An older daemon, as far as the wire is concerned: it welcomes with version 0.0.1 and
    // answers control requests (status and stop work across versions).
    const fake = spawn(
      process.execPath,
      [
        '-e',
        `
        const net = require('node:net');
        const path = process.argv[1] + '/daemon.sock';
        net.createServer((s) => {
          let buf = ''; let hello;
          s.on('data', (d) => {
            buf += d;
            let nl;
            while ((nl = buf.indexOf('\\n')) >= 0) {
              const line = JSON.parse(buf.slice(0, nl)); buf = buf.slice(nl + 1);
              if (!hello) {
                hello = line;
                s.write(JSON.stringify({ baton: 'welcome', version: '0.0.1', protocol: 1, pid: process.pid, started_at: new Date().toISOString(), home: process.argv[1] }) + '\\n');
                if (hello.mode === 'mcp') s.end();
              } else if (line.op === 'status') {
                s.write(JSON.stringify({ result: { pid: process.pid, version: '0.0.1', started_at: '', uptime_ms: 1000, socket: path, log: '', clients: 0, active_runs: 0, idle_stop_ms: 0 } }) + '\\n');
              } else if (line.op === 'stop') {
                s.write(JSON.stringify({ result: { stopping: true, interrupted_runs: 0 } }) + '\\n');
                setTimeout(() => process.exit(0), 50);
              }
            }
          });
        }).listen(path, () => console.log('ready'));
        `,
        t.home,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((r) => fake.stdout.once('data', r));
    try {
      const child = spawn(process.execPath, [CLI, 'mcp'], { env: t.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.write(
        `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } })}\n`,
      );
      await eventually(() => stdout.includes('"id":1'));
      // The MCP server is this process's own; every tool call says what is wrong and the fix.
      child.stdin.write(
        `${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_runs', arguments: {} } })}\n`,
      );
      await eventually(() => stdout.includes('"id":2'));
      const reply = JSON.parse(
        stdout
          .trim()
          .split('\n')
          .find((l) => l.includes('"id":2')) ?? '{}',
      ) as Summary;
      expect(reply.result.isError).toBe(true);
      expect(reply.result.structuredContent.error.code).toBe('DAEMON_VERSION_MISMATCH');
      expect(reply.result.structuredContent.error.message).toContain('version 0.0.1');
      expect(reply.result.structuredContent.error.message).toContain('baton daemon stop');
      await eventually(() => stderr.includes('baton daemon stop'));
      child.stdin.end();
      await new Promise((r) => child.on('exit', r));

      const status = await runCli(t, ['daemon', 'status']);
      expect(status.stdout).toContain('0.0.1');
      expect(status.stdout).toContain('another version');
      const stop = await runCli(t, ['daemon', 'stop']);
      expect(stop.code).toBe(0);
      await new Promise((r) => (fake.exitCode === null ? fake.on('exit', r) : r(null)));

      // Now this version's daemon starts on the next call.
      const s = await front();
      const ok = (await s.call('list_agents', {})) as { agents: Summary[] };
      expect(ok.agents.length).toBeGreaterThan(0);
      expect(daemonsOf(t.home)).toHaveLength(1);
    } finally {
      fake.kill('SIGKILL');
    }
  });

  it('stops itself after daemon.idle_stop with no runs and no clients', async () => {
    t = makeEnv({ daemon: { idle_stop: '1s' } });
    const s = await front();
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ sleep: 2000 }),
    })) as Summary;
    const pid = daemonPid(t.home) as number;
    // A client connected and a run active: it stays.
    await sleep(1500);
    expect(alive(pid)).toBe(true);
    await waitFor(s, run.run_id, 'finished');
    await s.close();
    servers.splice(0);
    await eventually(() => !alive(pid), 15_000);
    const log = readFileSync(join(t.home, 'daemon.log'), 'utf8');
    expect(log).toContain('stopping: idle for 1s');
  });

  it("baton serve shows the daemon's runs live: SSE of a run it does not host, and the runs list", async () => {
    t = makeEnv();
    const s = await front();
    const http = await serve(t);
    try {
      const run = (await s.call('spawn_run', {
        agent: 'fixture',
        cwd: t.work,
        prompt: steps(
          { message: 'one' },
          { sleep: 1500 },
          { message: 'two' },
          { sleep: 1500 },
          { message: 'three' },
        ),
      })) as Summary;
      const arrivals: { text: string; late: number }[] = [];
      const listed = sse(http.port, '/api/events', http.token, {}, (evs) =>
        evs.some((e) => e.data.run_id === run.run_id && e.data.status === 'completed'),
      );
      await sse(http.port, `/api/runs/${run.run_id}/events`, http.token, {}, (evs) => {
        const last = evs.at(-1);
        if (last?.event === 'message' && last.data.data.role !== 'user') {
          arrivals.push({ text: last.data.data.text, late: Date.now() - Date.parse(last.data.ts) });
        }
        return evs.some((e) => e.event === 'status' && e.data.data.status === 'completed');
      });
      const statuses = (await listed).filter((e) => e.data.run_id === run.run_id).map((e) => e.data.status);
      expect(statuses).toContain('completed');
      // 'two' and 'three' were stored while the stream was open: they came within a second, not
      // at the 15 s keep-alive.
      const live = arrivals.filter((a) => a.text.includes('two') || a.text.includes('three'));
      expect(live.length).toBeGreaterThan(0);
      for (const a of live) expect(a.late).toBeLessThan(1000);
    } finally {
      await stopServe(http);
    }
  });

  it('an invalid config: the daemon cannot start and the host is told why', async () => {
    t = makeEnv();
    writeFileSync(join(t.home, 'config.json'), '{"roots": "not a list"}');
    const child = spawn(process.execPath, [CLI, 'mcp'], { env: t.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } })}\n`,
    );
    await eventually(() => stdout.includes('"id":7'));
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'list_runs', arguments: {} } })}\n`,
    );
    await eventually(() => stdout.includes('"id":8'));
    const reply = JSON.parse(
      stdout
        .trim()
        .split('\n')
        .find((l) => l.includes('"id":8')) ?? '{}',
    ) as Summary;
    expect(reply.result.isError).toBe(true);
    expect(reply.result.structuredContent.error.code).toBe('INVALID_CONFIG');
    expect(reply.result.structuredContent.error.message).toContain('roots');
    child.stdin.end();
    await new Promise((r) => child.on('exit', r));
  });
});
