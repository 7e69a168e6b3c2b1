import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLI,
  eventually,
  groupGone,
  makeEnv,
  pidsMatching,
  sleep,
  startServer,
  steps,
  waitFor,
  type Server,
  type TestEnv,
  type Summary,
} from './helpers.js';

describe('durability: restarts, kill -9, shutdown', () => {
  let t: TestEnv;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined);
    t.cleanup();
  });
  const start = async () => {
    const s = await startServer(t);
    servers.push(s);
    return s;
  };

  it('follow_up after the server was restarted reopens the session with session/load', async () => {
    t = makeEnv();
    const s1 = await start();
    const first = (await s1.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'my name is Ada',
      label: 'intro',
    })) as Summary;
    expect(((await waitFor(s1, first.run_id)) as Summary).status).toBe('completed');
    await s1.close();
    const s2 = await start();
    const next = (await s2.call('follow_up', { run: 'intro', message: 'remember me?' })) as Summary;
    const done = (await waitFor(s2, next.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('I remember: my name is Ada');
    // The replayed history did not leak into the new run's events.
    const { events } = (await s2.call('get_events', { run: next.run_id, types: ['message'] })) as {
      events: Summary[];
    };
    expect(events.map((e) => e.data.text)).toEqual(['remember me?', 'I remember: my name is Ada']);
  });

  it('an agent that offers only session/resume is continued with it after a restart', async () => {
    t = makeEnv();
    const s1 = await start();
    const first = (await s1.call('spawn_run', {
      agent: 'fixture-resume',
      cwd: t.work,
      prompt: 'the code is 4711',
    })) as Summary;
    await waitFor(s1, first.run_id);
    await s1.close();
    const s2 = await start();
    const next = (await s2.call('follow_up', {
      run: first.run_id,
      message: 'remember the code?',
    })) as Summary;
    const done = (await waitFor(s2, next.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('I remember: the code is 4711');
  });

  it('an agent without session/load cannot be continued after a restart: a clear error', async () => {
    t = makeEnv();
    const s1 = await start();
    const first = (await s1.call('spawn_run', {
      agent: 'fixture-noload',
      cwd: t.work,
      prompt: 'hello',
    })) as Summary;
    await waitFor(s1, first.run_id);
    await s1.close();
    const s2 = await start();
    const next = (await s2.call('follow_up', { run: first.run_id, message: 'again' })) as Summary;
    const done = (await waitFor(s2, next.run_id)) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('SESSION_NOT_RESUMABLE');
  });

  it('kill -9 of the server mid-run: interrupted after restart, every reported event kept, follow_up works, no orphan', async () => {
    t = makeEnv();
    const s1 = await start();
    const run = (await s1.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps(
        { message: 'first part' },
        { tool_call: { id: 'k1', title: 'Long job', kind: 'execute' } },
        { sleep: 60000 },
      ),
      label: 'victim',
    })) as Summary;
    const before = await eventually(async () => {
      const r = (await s1.call('get_events', { run: run.run_id })) as { events: Summary[] };
      return r.events.some((e) => e.type === 'tool_call') ? r.events : undefined;
    });
    const agentPid = before.find((e) => e.type === 'status' && e.data.status === 'running')?.data
      .pid as number;
    process.kill(s1.pid, 'SIGKILL');
    servers.splice(servers.indexOf(s1), 1);
    await s1.close().catch(() => undefined);
    // The agent loses its stdin and exits; a new server would reap it anyway.
    await eventually(() => groupGone(agentPid), 10_000);

    const s2 = await start();
    const after = (await s2.call('get_run', { run: 'victim' })) as Summary;
    expect(after.status).toBe('interrupted');
    expect(after.error.code).toBe('INTERRUPTED');
    expect(after.error.message).toContain('follow_up');
    const { events } = (await s2.call('get_events', { run: run.run_id, limit: 1000 })) as {
      events: Summary[];
    };
    for (const e of before) expect(events.find((x) => x.seq === e.seq)).toEqual(e);
    expect(events[events.length - 1]?.data.status).toBe('interrupted');

    const next = (await s2.call('follow_up', {
      run: 'victim',
      message: 'remember what you were doing?',
    })) as Summary;
    const done = (await waitFor(s2, next.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('I remember: {"steps"');
  });

  it('a run started by a CLI that is killed -9 goes on in the owner and completes', async () => {
    t = makeEnv();
    const s1 = await start();
    const host = spawn(
      process.execPath,
      [CLI, 'run', 'fixture', steps({ sleep: 1500 }, { message: 'finished anyway' }), '--label', 'orphaned'],
      {
        cwd: t.work,
        env: t.env,
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    await eventually(async () => {
      const r = await s1.raw('get_run', { run: 'orphaned' });
      return !r.isError && (r.structuredContent as Summary).status === 'running';
    });
    host.kill('SIGKILL');
    // The run is the owner's (this standalone baton), not the CLI's.
    const res = (await s1.call('wait_run', { runs: ['orphaned'], until: 'finished', timeout: 20 })) as {
      runs: Summary[];
      timed_out: boolean;
    };
    expect(res.timed_out).toBe(false);
    expect(res.runs[0]).toMatchObject({
      label: 'orphaned',
      status: 'completed',
      result: { text: 'finished anyway' },
    });
    // Its agent process is the owner's too: kept warm for a follow-up, stopped with the owner.
  });

  it('SIGTERM of the server: runs become interrupted and no agent process survives', async () => {
    t = makeEnv();
    const s1 = await start();
    const a = (await s1.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ ignore_cancel: true }, { hang: true }),
    })) as Summary;
    const b = (await s1.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ permission: { title: 'p', kind: 'execute' } }),
    })) as Summary;
    await eventually(
      async () => ((await s1.call('get_run', { run: b.run_id })) as Summary).status === 'waiting',
    );
    await eventually(
      async () => ((await s1.call('get_run', { run: a.run_id })) as Summary).status === 'running',
    );
    expect(pidsMatching(t.state).length).toBe(2);
    process.kill(s1.pid, 'SIGTERM');
    await eventually(() => pidsMatching(t.state).length === 0 && pidsMatching(t.home).length === 0, 10_000);
    servers.splice(0);
    const s2 = await start();
    for (const r of [a, b]) {
      const got = (await s2.call('get_run', { run: r.run_id })) as Summary;
      expect(got.status).toBe('interrupted');
      expect(got.waiting_for).toBeUndefined();
    }
  });
});

describe('scale', () => {
  let t: TestEnv;
  let s: Server;
  afterEach(async () => {
    await s.close();
    t.cleanup();
  });

  it('20 runs with max_concurrent_runs 4: never more than 4 agents alive, all 20 complete', async () => {
    t = makeEnv({ max_concurrent_runs: 4 });
    s = await startServer(t);
    let maxAlive = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxAlive = Math.max(maxAlive, pidsMatching(t.state).length);
        await sleep(20);
      }
    })();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = (await s.call('spawn_run', {
        agent: 'fixture',
        cwd: t.work,
        prompt: steps({ sleep: 300 }, { message: `run ${i}` }),
      })) as Summary;
      ids.push(r.run_id);
    }
    const queued = (await s.call('list_runs', { status: 'queued', limit: 50 })) as { runs: Summary[] };
    expect(queued.runs.length).toBeGreaterThanOrEqual(14);
    for (const id of ids) expect(((await waitFor(s, id, 'finished')) as Summary).status).toBe('completed');
    sampling = false;
    await sampler;
    expect(maxAlive).toBeGreaterThan(1);
    expect(maxAlive).toBeLessThanOrEqual(4);
    const texts = await Promise.all(
      ids.map(async (id) => ((await s.call('get_run', { run: id })) as Summary).result.text),
    );
    expect(texts).toEqual(ids.map((_, i) => `run ${i}`));
  });

  it('a flood of 100,000 chunks: all text persisted, readable page by page, no page over 25k tokens', async () => {
    t = makeEnv();
    s = await startServer(t);
    const chunk = 'abcdefghij';
    const r = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ flood: { chunks: 100000, text: chunk } }),
    })) as Summary;
    const done = (await waitFor(s, r.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text_truncated).toBe(true);
    let after = 0;
    let text = '';
    let pages = 0;
    let biggest = 0;
    for (;;) {
      const res = await s.raw('get_events', {
        run: r.run_id,
        after_seq: after,
        types: ['message'],
        limit: 1000,
      });
      const bytes = JSON.stringify(res).length;
      biggest = Math.max(biggest, bytes);
      const page = res.structuredContent as { events: Summary[]; next_seq: number; has_more: boolean };
      for (const e of page.events) if (e.data.role === 'assistant') text += e.data.text;
      pages++;
      after = page.next_seq;
      if (!page.has_more) break;
    }
    expect(text.length).toBe(chunk.length * 100000);
    expect(text).toBe(chunk.repeat(100000));
    expect(pages).toBeGreaterThan(1);
    expect(biggest / 4).toBeLessThan(25_000);
    // The whole text is also in the result event, through an artifact.
    const res = (await s.call('get_events', { run: r.run_id, types: ['result'] })) as { events: Summary[] };
    const ev = res.events[0] as Summary;
    expect(ev.artifacts).toEqual([{ field_path: '/text', total_bytes: 1_000_000 }]);
    let full = '';
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const part = (await s.call('get_artifact', {
        run: r.run_id,
        seq: ev.seq,
        field_path: '/text',
        offset,
        limit: 300_000,
      })) as Summary;
      full += part.content;
      offset = part.next_offset;
    }
    expect(full).toBe(chunk.repeat(100000));
    writeFileSync(join(t.dir, 'ok'), 'x');
    expect(readFileSync(join(t.dir, 'ok'), 'utf8')).toBe('x');
  });
});
