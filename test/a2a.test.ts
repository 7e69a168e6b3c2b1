// A2A both ways between two real baton instances on 127.0.0.1: instance B serves its fixture
// agent with `baton serve --a2a`; instance A runs agent `remote-demo` (driver a2a) pointing at it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alive,
  call,
  daemonPid,
  eventually,
  makeEnv,
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

const WRITE = steps(
  { message: 'Looking at the task.' },
  { tool_call: { id: 'plan-1', title: 'Plan the file', kind: 'think', locations: ['remote.txt'] } },
  {
    permission: {
      title: 'Write remote.txt',
      kind: 'edit',
      locations: ['remote.txt'],
      allowed: [
        { write_file: { path: 'remote.txt', content: 'written on B\n' } },
        { message: 'Wrote remote.txt on B.' },
      ],
      rejected: [{ message: 'Not written.' }],
    },
  },
);

/** Points instance A's config at B: agent `remote-demo` (driver a2a). */
function pointAt(a: TestEnv, b: Serve, token: string, extra: Record<string, unknown> = {}) {
  const file = join(a.home, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as { agents: Record<string, unknown> };
  config.agents['remote-demo'] = {
    driver: 'a2a',
    url: `http://127.0.0.1:${b.port}/a2a/fixture/`,
    token,
    description: 'the fixture agent of instance B',
    ...extra,
  };
  writeFileSync(file, JSON.stringify(config));
}

describe('A2A between two baton instances', () => {
  let a: TestEnv;
  let b: TestEnv;
  let bServe: Serve | undefined;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined);
    await stopServe(bServe);
    bServe = undefined;
    a.cleanup();
    b.cleanup();
  });
  const startB = async () => {
    b = makeEnv();
    bServe = await serve(b, {}, ['--a2a', '--a2a-cwd', b.work]);
    return bServe;
  };
  const startA = async (opts: { daemon?: boolean } = {}) => {
    const s = await startServer(a, opts);
    servers.push(s);
    return s;
  };

  it("B's permission request reaches A as waiting; A answers; the file is written on B; A completes with B's text and shows B's events", async () => {
    const remote = await startB();
    a = makeEnv();
    pointAt(a, remote, remote.token);
    const s = await startA();

    const agents = (await s.call('list_agents', {})) as { agents: Summary[] };
    const listed = agents.agents.find((x) => x.name === 'remote-demo');
    expect(listed, String(listed?.problem)).toMatchObject({ driver: 'a2a', installed: true, ready: true });

    const run = (await s.call('spawn_run', { agent: 'remote-demo', cwd: a.work, prompt: WRITE })) as Summary;
    const waiting = (await waitFor(s, run.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    expect(waiting.waiting_for.title).toContain('Write remote.txt');
    expect(waiting.waiting_for.options.map((o: Summary) => o.option_id)).toEqual([
      'allow_once',
      'allow_always',
      'reject_once',
    ]);
    expect(existsSync(join(b.work, 'remote.txt'))).toBe(false);
    // B's own run waits on the same question.
    const bRuns = await call(remote.port, 'GET', '/api/runs', { token: remote.token });
    const bRun = bRuns.json.runs[0] as Summary;
    expect(bRun.status).toBe('waiting');

    await s.call('answer_permission', { run: run.run_id, option_id: 'allow_once' });
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(readFileSync(join(b.work, 'remote.txt'), 'utf8')).toBe('written on B\n');
    const bDone = await call(remote.port, 'GET', `/api/runs/${bRun.run_id}`, { token: remote.token });
    expect(bDone.json.status).toBe('completed');
    expect(done.result.text).toBe(bDone.json.result.text);
    expect(done.result.text).toContain('Wrote remote.txt on B.');
    expect(done.remote_task_id).toMatch(/^[0-9a-f-]{36}$/);

    // A's log shows the nested run: B's tool call (with B's paths kept apart) and messages.
    const ev = (await s.call('get_events', { run: run.run_id, limit: 200 })) as { events: Summary[] };
    const calls = ev.events.filter((e) => e.type === 'tool_call');
    expect(calls.map((e) => e.data.title)).toContain('Plan the file');
    const plan = calls.find((e) => e.data.title === 'Plan the file') as Summary;
    expect(plan.data.locations).toBeUndefined();
    expect(plan.data.remote_locations).toEqual([join(b.work, 'remote.txt')]);
    const messages = ev.events.filter((e) => e.type === 'message' && e.data.role !== 'user');
    expect(messages.map((e) => e.data.text).join('')).toContain('Looking at the task.');
    expect(ev.events.some((e) => e.type === 'permission_resolved')).toBe(true);

    // A follow-up continues the same remote conversation (the A2A context): B's fixture remembers.
    const next = (await s.call('follow_up', { run: run.run_id, message: 'my name is Ada' })) as Summary;
    expect(((await waitFor(s, next.run_id, 'finished')) as Summary).status).toBe('completed');
    const again = (await s.call('follow_up', { run: run.run_id, message: 'remember me?' })) as Summary;
    const recalled = (await waitFor(s, again.run_id, 'finished')) as Summary;
    expect(recalled.result.text).toMatch(/^I remember: .*my name is Ada$/);
    expect(recalled.remote_task_id).not.toBe(done.remote_task_id);
  });

  it('a plain question of the remote agent (input-required) waits on A and is answered with follow_up', async () => {
    b = makeEnv({
      agents: {
        asker: {
          driver: 'terminal',
          command: 'sh',
          args: ['-c', 'read task; printf "your name? "; read name; echo "hello $name ($task)"'],
          idle_pattern: 'your name\\? $',
        },
      },
    });
    bServe = await serve(b, {}, ['--a2a', '--a2a-cwd', b.work]);
    a = makeEnv();
    pointAt(a, bServe, bServe.token, { url: `http://127.0.0.1:${bServe.port}/a2a/asker` });
    const s = await startA();
    const run = (await s.call('spawn_run', {
      agent: 'remote-demo',
      cwd: a.work,
      prompt: 'greet',
    })) as Summary;
    const waiting = (await waitFor(s, run.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('input');
    expect(waiting.waiting_for.prompt).toContain('your name?');
    const answered = (await s.call('follow_up', { run: run.run_id, message: 'Ada' })) as Summary;
    expect(answered.run_id).toBe(run.run_id);
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('hello Ada (greet)');
  });

  it('cancel from A cancels B’s run', async () => {
    const remote = await startB();
    a = makeEnv();
    pointAt(a, remote, remote.token);
    const s = await startA();
    const run = (await s.call('spawn_run', {
      agent: 'remote-demo',
      cwd: a.work,
      prompt: steps({ message: 'starting a long job' }, { sleep: 60_000 }),
    })) as Summary;
    const bRun = await eventually(async () => {
      const r = await call(remote.port, 'GET', '/api/runs', { token: remote.token });
      const first = r.json.runs?.[0] as Summary | undefined;
      return first?.status === 'running' ? first : undefined;
    });
    await eventually(async () => ((await s.call('get_run', { run: run.run_id })) as Summary).remote_task_id);
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    await eventually(async () => {
      const r = await call(remote.port, 'GET', `/api/runs/${bRun.run_id}`, { token: remote.token });
      return r.json.status === 'cancelled';
    });
  });

  it('a wrong token: B answers 401 and A’s run fails with a clear error', async () => {
    const remote = await startB();
    const refused = await call(remote.port, 'GET', '/a2a/fixture/.well-known/agent-card.json', {
      token: 'x'.repeat(32),
    });
    expect(refused.status).toBe(401);
    const card = await call(remote.port, 'GET', '/a2a/fixture/.well-known/agent-card.json', {
      token: remote.token,
    });
    expect(card.status).toBe(200);
    expect(card.json.securitySchemes.bearer.httpAuthSecurityScheme.scheme).toBe('Bearer');
    expect(card.json.supportedInterfaces[0].url).toBe(`http://127.0.0.1:${remote.port}/a2a/fixture/jsonrpc`);
    const list = await call(remote.port, 'GET', '/a2a', { token: remote.token });
    expect(list.json.agents.map((x: Summary) => x.name)).toContain('fixture');

    a = makeEnv();
    pointAt(a, remote, 'wrong-token-wrong-token');
    const s = await startA();
    const agents = (await s.call('list_agents', {})) as { agents: Summary[] };
    const listed = agents.agents.find((x) => x.name === 'remote-demo');
    expect(listed?.ready).toBe(false);
    expect(listed?.problem).toContain('refused the token (HTTP 401)');
    const run = (await s.call('spawn_run', {
      agent: 'remote-demo',
      cwd: a.work,
      prompt: 'hello',
    })) as Summary;
    const failed = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('AGENT_NOT_READY');
    expect(failed.error.message).toContain('refused the token (HTTP 401)');
    expect(failed.error.message).toContain('agents.remote-demo.token');
  });

  it('after a daemon restart, A follows the task still running on B instead of interrupting it', async () => {
    const remote = await startB();
    a = makeEnv();
    pointAt(a, remote, remote.token);
    const s = await startA({ daemon: true });
    const run = (await s.call('spawn_run', {
      agent: 'remote-demo',
      cwd: a.work,
      prompt: steps({ message: 'part one' }, { sleep: 4000 }, { message: ' part two' }),
    })) as Summary;
    await eventually(async () => ((await s.call('get_run', { run: run.run_id })) as Summary).remote_task_id);
    const old = daemonPid(a.home) as number;
    process.kill(old, 'SIGKILL');
    await eventually(() => !alive(old));
    await sleep(200);
    // The next call starts a new daemon, which takes the run over and follows B's task again.
    const after = (await s.call('get_run', { run: run.run_id })) as Summary;
    expect(daemonPid(a.home)).not.toBe(old);
    expect(['running', 'starting']).toContain(after.status);
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('part two');
    const ev = (await s.call('get_events', { run: run.run_id, types: ['raw'] })) as { events: Summary[] };
    expect(ev.events.map((e) => String(e.data.note ?? ''))).toContainEqual(
      expect.stringContaining(`follows remote task ${done.remote_task_id} again`),
    );
  });
});
