// One owner per BATON_HOME: every front (MCP hosts, serve, the CLI) reaches the same engine over
// daemon.sock, runs outlive the front that started them, limits hold per home, and a dead owner's
// runs are recovered by the next one at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from './fixtures/chromium.mjs';
import {
  CLI,
  alive,
  call,
  daemonPid,
  eventually,
  fixtureAgent,
  makeEnv,
  pidsMatching,
  runCli,
  serve,
  sleep,
  startServer,
  steps,
  stopServe,
  waitFor,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

/** The kernel's state letter of `pid` (`Z` for a zombie), or undefined when it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

describe('one owner per BATON_HOME', () => {
  let t: TestEnv;
  const servers: Server[] = [];
  const serves: Serve[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined);
    for (const s of serves.splice(0)) await stopServe(s);
    t.cleanup();
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('a run started over REST through baton serve keeps running across a restart of serve, completes, and the new dashboard shows it live', async () => {
    t = makeEnv();
    const first = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    serves.push(first);
    const spawned = await call(first.port, 'POST', '/api/runs', {
      token: first.token,
      body: {
        agent: 'fixture',
        cwd: t.work,
        label: 'outlives-serve',
        prompt: steps({ message: 'working' }, { sleep: 6000 }, { message: 'done after the restart' }),
      },
    });
    expect(spawned.status).toBe(201);
    const id = spawned.json.run_id as string;
    await eventually(
      async () =>
        (await call(first.port, 'GET', `/api/runs/${id}`, { token: first.token })).json.status === 'running',
    );
    const owner = daemonPid(t.home);
    expect(owner).toBeDefined();
    expect(owner).not.toBe(first.child.pid);
    await stopServe(first);

    // serve is gone; the owner (the daemon it started) still runs the run.
    const shown = JSON.parse((await runCli(t, ['show', id, '--json'])).stdout) as Summary;
    expect(shown.status).toBe('running');

    const second = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    serves.push(second);
    expect(daemonPid(t.home)).toBe(owner);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(second.loginUrl);
      await page.goto(`http://127.0.0.1:${second.port}/#/runs/${id}`);
      await expect
        .poll(() => page.locator('.run-head .badge').textContent(), { timeout: 15_000 })
        .toBe('running');
      // Live: the page turns completed without a reload when the owner finishes the run.
      await expect
        .poll(() => page.locator('.run-head .badge').textContent(), { timeout: 30_000 })
        .toBe('completed');
      await page.getByText('done after the restart').first().waitFor();
    } finally {
      await browser.close();
    }
    const done = (await call(second.port, 'GET', `/api/runs/${id}`, { token: second.token })).json;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('done after the restart');
  });

  it('two MCP hosts, a serve and CLI runs, 6 runs each: never more than max_concurrent_runs active in the home', async () => {
    t = makeEnv({ max_concurrent_runs: 4 });
    const prompt = (who: string, i: number) => steps({ sleep: 700 }, { message: `${who} ${i} done` });
    const hostA = await startServer(t, { daemon: true });
    const hostB = await startServer(t, { daemon: true });
    servers.push(hostA, hostB);
    const http = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    serves.push(http);

    // Sample the store: one SELECT is one atomic snapshot of every run's status.
    const db = new Database(join(t.home, 'baton.db'), { readonly: true, fileMustExist: true });
    const count = db.prepare(
      "SELECT count(*) AS n FROM runs WHERE status IN ('starting', 'running', 'waiting')",
    );
    let peak = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = (count.get() as { n: number }).n;
        peak = Math.max(peak, n);
        samples++;
        await sleep(20);
      }
    })();

    const ids: string[] = [];
    const cli: Promise<{ code: number | null; stdout: string }>[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(
        (
          (await hostA.call('spawn_run', {
            agent: 'fixture',
            cwd: t.work,
            prompt: prompt('a', i),
          })) as Summary
        ).run_id,
      );
      ids.push(
        (
          (await hostB.call('spawn_run', {
            agent: 'fixture',
            cwd: t.work,
            prompt: prompt('b', i),
          })) as Summary
        ).run_id,
      );
      const r = await call(http.port, 'POST', '/api/runs', {
        token: http.token,
        body: { agent: 'fixture', cwd: t.work, prompt: prompt('serve', i) },
      });
      expect(r.status).toBe(201);
      ids.push(r.json.run_id as string);
      cli.push(runCli(t, ['run', 'fixture', prompt('cli', i), '--json'], { timeoutMs: 120_000 }));
    }
    const cliResults = await Promise.all(cli);
    for (const r of cliResults) {
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout) as Summary;
      expect(summary.status).toBe('completed');
      ids.push(summary.run_id as string);
    }
    for (const id of ids) {
      const done = (await waitFor(hostA, id)) as Summary;
      expect(done.status).toBe('completed');
    }
    sampling = false;
    await sampler;
    db.close();
    expect(ids).toHaveLength(24);
    expect(new Set(ids).size).toBe(24);
    expect(samples).toBeGreaterThan(20);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4);
  });

  it('kill -9 of the owner, left a zombie: protocol runs interrupted by the next owner within 2 s and follow_up works; a terminal run is adopted and its prompt answered', async () => {
    t = makeEnv((dir) => ({
      agents: {
        fixture: fixtureAgent(dir),
        confirm: {
          driver: 'terminal',
          command: 'sh',
          args: ['-c', "printf 'Delete everything? [y/N] '; read a; echo answered=$a; sleep 1"],
        },
      },
    }));
    // The owner's parent never reaps it: once killed it stays a zombie (pid and /proc entry).
    const parent = spawn(
      'python3',
      [
        '-c',
        'import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(600)',
        process.execPath,
        CLI,
        'daemon',
        'run',
      ],
      { env: t.env, stdio: 'ignore' },
    );
    children.push(parent);
    const owner = await eventually(() => {
      const pid = daemonPid(t.home);
      return pid && alive(pid) ? pid : undefined;
    });
    const host = await startServer(t, { daemon: true });
    servers.push(host);
    const run = (await host.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      label: 'victim',
      prompt: steps({ message: 'started' }, { hang: true }),
    })) as Summary;
    await eventually(
      async () => ((await host.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    const term = (await host.call('spawn_run', { agent: 'confirm', cwd: t.work })) as Summary;
    const asked = await eventually(async () => {
      const r = (await host.call('get_run', { run: term.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'permission' ? r : undefined;
    });

    process.kill(owner, 'SIGKILL');
    const killedAt = Date.now();
    await eventually(() => stateOf(owner) === 'Z', 5000);
    // The front reconnects at once (it watches for changes): a new owner starts and recovers.
    const after = await eventually(async () => {
      const r = await host.raw('get_run', { run: run.run_id });
      const s = r.structuredContent as Summary;
      return !r.isError && s.status === 'interrupted' ? s : undefined;
    }, 10_000);
    const recoveredIn = Date.now() - killedAt;
    expect(recoveredIn).toBeLessThan(2000);
    expect(after.error.message).toContain(`pid ${owner}`);
    const next = daemonPid(t.home);
    expect(next).not.toBe(owner);
    expect(stateOf(owner)).toBe('Z');

    // The terminal run outlived its owner: adopted, waiting on a new request, answerable. (Until
    // the new owner has adopted it, the row still shows the dead owner's request.)
    const adopted = await eventually(async () => {
      const r = (await host.call('get_run', { run: term.run_id })) as Summary;
      return r.status === 'waiting' &&
        r.waiting_for?.kind === 'permission' &&
        r.waiting_for.request_id !== asked.waiting_for.request_id
        ? r
        : undefined;
    }, 10_000);
    const yes = (adopted.waiting_for.options as Summary[]).find((o) => o.kind === 'allow_once') as Summary;
    await host.call('answer_permission', { run: term.run_id, option_id: yes.option_id });
    const answered = (await waitFor(host, term.run_id)) as Summary;
    expect(answered.status).toBe('completed');
    expect(answered.result.text).toContain('answered=y');

    const followed = (await host.call('follow_up', { run: run.run_id, message: 'go on' })) as Summary;
    const done = (await waitFor(host, followed.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('go on');
  });

  it('shutdown refuses while runs are active, then with force cancels them and stops everything: no process or file left', async () => {
    t = makeEnv();
    const host = await startServer(t, { daemon: true });
    servers.push(host);
    const run = (await host.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'busy' }, { hang: true }),
    })) as Summary;
    await eventually(
      async () => ((await host.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    const owner = daemonPid(t.home) as number;
    const agents = pidsMatching(t.state);
    expect(agents.length).toBeGreaterThan(0);

    const refused = await host.raw('shutdown', {});
    expect(refused.isError).toBe(true);
    expect((refused.structuredContent as Summary).error.code).toBe('INVALID_PARAMS');
    expect((refused.structuredContent as Summary).error.message).toContain('force');
    expect(alive(owner)).toBe(true);

    const done = (await host.call('shutdown', { force: true })) as Summary;
    expect(done).toMatchObject({ stopping: true, pid: owner, cancelled_runs: [run.run_id] });
    expect(done.removed).toEqual(
      expect.arrayContaining([
        join(t.home, 'daemon.sock'),
        join(t.home, 'daemon.pid'),
        join(t.home, 'owner.lock'),
      ]),
    );
    await eventually(() => !alive(owner), 15_000);
    await eventually(() => agents.every((pid) => !alive(pid)), 10_000);
    // The front does not start a new owner by itself after a deliberate stop.
    await sleep(1000);
    for (const f of ['daemon.sock', 'daemon.pid', 'owner.lock'])
      expect(existsSync(join(t.home, f)), f).toBe(false);
    expect(daemonPid(t.home)).toBeUndefined();
    // The next call starts a new owner; the run was cancelled, not interrupted.
    const after = (await host.call('get_run', { run: run.run_id })) as Summary;
    expect(after.status).toBe('cancelled');
  });
});
