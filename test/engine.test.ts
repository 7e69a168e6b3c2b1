// The engine's behaviour through its public methods, in-process (test/harness.ts): the safety net
// while src/engine/engine.ts is split into modules. A real scripted ACP agent, a real SQLite store,
// no build needed.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { toBatonError } from '../src/errors.js';
import { harnessHttp, startHarness, type Harness, type HarnessHttp } from './harness.js';
import { alive, eventually, steps } from './helpers.js';

/** A run summary, as the Engine's public methods return it. */
type RunSummary = ReturnType<Engine['getRun']>;

/** A permission question for `file`: allowed → the file is written and the agent says so. */
const askToWrite = (file: string) =>
  steps({
    permission: {
      id: 'w1',
      title: `Write ${file}`,
      kind: 'edit',
      locations: [file],
      allowed: [{ write_file: { path: file, content: 'written-by-agent' } }, { message: `wrote ${file}` }],
      rejected: [{ message: `not written: ${file}` }],
    },
  });

describe('engine (in-process)', () => {
  let h: Harness;
  let http: HarnessHttp | undefined;
  afterEach(async () => {
    await http?.close();
    http = undefined;
    await h?.close();
  });

  /** Waits with engine.waitRuns (wait_run) until the run needs attention or `until` finished. */
  async function wait(run: string, until: 'attention' | 'finished' = 'attention'): Promise<RunSummary> {
    const res = await h.engine.waitRuns({ runs: [run], until, timeout: '15s' });
    expect(res.timed_out, `run ${run} did not become ready`).toBe(false);
    return res.runs[0] as RunSummary;
  }

  /** The agent pid the run's `running` status event names. */
  function agentPid(run: string): number {
    const { events } = h.engine.getEvents(run, { types: ['status'] });
    const pid = events.find((e) => e.data.status === 'running')?.data.pid;
    expect(typeof pid).toBe('number');
    return pid as number;
  }

  it('spawn → queued at once, then completed with the agent’s reply and its events in order', async () => {
    h = startHarness();
    const run = await h.spawn('hello engine');
    expect(run.status).toBe('queued');
    expect(run.agent).toBe('fixture');
    expect(run.cwd).toBe(h.work);
    const done = await wait(run.run_id, 'finished');
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result).toEqual({ text: 'You said: hello engine', stop_reason: 'end_turn' });
    expect(done.session_id).toBe(run.session_id);
    const { events } = h.engine.getEvents(run.run_id, {});
    expect(events.filter((e) => e.type === 'status').map((e) => e.data.status)).toEqual([
      'queued',
      'starting',
      'running',
      'completed',
    ]);
    expect(events.find((e) => e.type === 'message')?.data).toEqual({ role: 'user', text: 'hello engine' });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(done.last_seq).toBe(events.length);
  });

  it('waitRuns returns when the run waits for a permission, and times out with the pending list when asked for finished', async () => {
    h = startHarness();
    const run = await h.spawn(askToWrite('a.txt'), { policy: 'ask' });
    const waiting = await wait(run.run_id);
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for?.kind).toBe('permission');
    expect(waiting.waiting_for?.options.map((o) => o.option_id)).toEqual([
      'allow_once',
      'allow_always',
      'reject_once',
    ]);
    expect(JSON.stringify(waiting.waiting_for)).toContain('a.txt');
    const started = Date.now();
    const res = await h.engine.waitRuns({ runs: [run.run_id], until: 'finished', timeout: '300ms' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(res.timed_out).toBe(true);
    expect(res.runs).toEqual([]);
    expect(res.pending).toEqual([{ run_id: run.run_id, status: 'waiting', last_seq: expect.any(Number) }]);
    expect(existsSync(join(h.work, 'a.txt'))).toBe(false);
  });

  it('answerPermission allow → the agent writes the file and completes; a second answer is refused', async () => {
    h = startHarness();
    const run = await h.spawn(askToWrite('allowed.txt'), { policy: 'ask' });
    const waiting = await wait(run.run_id);
    const requestId = waiting.waiting_for?.request_id as string;
    expect(requestId).toBeTruthy();
    const answered = await h.engine.answerPermission(run.run_id, 'allow_once', requestId);
    expect(answered.run_id).toBe(run.run_id);
    const done = await wait(run.run_id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result?.text).toBe('wrote allowed.txt');
    expect(readFileSync(join(h.work, 'allowed.txt'), 'utf8')).toBe('written-by-agent');
    const { events } = h.engine.getEvents(run.run_id, { types: ['permission_resolved'] });
    expect(events.map((e) => [e.data.outcome, e.data.option_id, e.data.by])).toEqual([
      ['selected', 'allow_once', 'caller'],
    ]);
    await expect(h.engine.answerPermission(run.run_id, 'reject_once', requestId)).rejects.toMatchObject({
      code: 'ALREADY_ANSWERED',
    });
  });

  it('answerPermission reject → nothing written, the agent reports the refusal', async () => {
    h = startHarness();
    const run = await h.spawn(askToWrite('rejected.txt'), { policy: 'ask' });
    await wait(run.run_id);
    await expect(h.engine.answerPermission(run.run_id, 'no_such_option')).rejects.toMatchObject({
      code: 'OPTION_NOT_FOUND',
    });
    await h.engine.answerPermission(run.run_id, 'reject_once');
    const done = await wait(run.run_id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result?.text).toBe('not written: rejected.txt');
    expect(existsSync(join(h.work, 'rejected.txt'))).toBe(false);
    const { events } = h.engine.getEvents(run.run_id, { types: ['permission_resolved'] });
    expect(events.map((e) => [e.data.option_id, e.data.kind])).toEqual([['reject_once', 'reject_once']]);
  });

  it('cancelRun of a running turn → cancelled; an agent that ignores the protocol cancel is killed (pid gone)', async () => {
    h = startHarness();
    // A cooperative agent: the protocol cancel ends its turn.
    const polite = await h.spawn(steps({ message: 'working' }, { hang: true }));
    await eventually(() => h.engine.getRun(polite.run_id).status === 'running');
    const cancelled = await h.engine.cancelRun(polite.run_id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.ended_at).toBeTruthy();
    // A stubborn one: after the grace period its process group is stopped.
    const stubborn = await h.spawn(steps({ ignore_cancel: true }, { message: 'busy' }, { hang: true }));
    await eventually(() => h.engine.getRun(stubborn.run_id).status === 'running');
    const pid = agentPid(stubborn.run_id);
    expect(alive(pid)).toBe(true);
    const started = Date.now();
    const killed = await h.engine.cancelRun(stubborn.run_id);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(killed.status).toBe('cancelled');
    expect(killed.error?.code).toBe('CANCELLED');
    await eventually(() => !alive(pid), 5000);
    expect(h.agentPids()).not.toContain(pid);
    // Cancelling a finished run changes nothing.
    expect((await h.engine.cancelRun(stubborn.run_id)).status).toBe('cancelled');
  });

  it('followUp continues the same session: a new run whose agent remembers the earlier prompt', async () => {
    h = startHarness();
    const first = await h.spawn('the code word is alpha-7');
    expect((await wait(first.run_id)).status).toBe('completed');
    const firstPid = agentPid(first.run_id);
    const next = await h.engine.followUp(first.run_id, 'remember what I said?');
    expect(next.run_id).not.toBe(first.run_id);
    expect(next.session_id).toBe(first.session_id);
    const done = await wait(next.run_id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result?.text).toBe('I remember: the code word is alpha-7');
    // The warm agent process served the second turn.
    expect(agentPid(next.run_id)).toBe(firstPid);
    await expect(h.engine.followUp(first.run_id, '   ')).rejects.toMatchObject({ code: 'INVALID_PARAMS' });
  });

  it('max_concurrent_runs 1: the second run stays queued until the first is over, then runs', async () => {
    h = startHarness({ max_concurrent_runs: 1 });
    const first = await h.spawn(steps({ sleep: 600 }, { message: 'first done' }));
    const second = await h.spawn('second');
    await eventually(() => h.engine.getRun(first.run_id).status === 'running');
    expect(h.engine.getRun(second.run_id).status).toBe('queued');
    expect(h.engine.listRuns({ status: 'queued' }).runs.map((r) => r.run_id)).toEqual([second.run_id]);
    const res = await h.engine.waitRuns({ runs: [first.run_id, second.run_id], timeout: '15s' });
    expect(res.runs.map((r) => [r.run_id, r.status])).toEqual([[first.run_id, 'completed']]);
    const done = await wait(second.run_id);
    expect(done.status).toBe('completed');
    expect(done.result?.text).toBe('You said: second');
    const firstEnd = h.engine.getRun(first.run_id).ended_at as string;
    expect(Date.parse(done.started_at as string)).toBeGreaterThanOrEqual(Date.parse(firstEnd));
  });

  it('a full store: the run completes in memory, a new spawn gets STORE_ERROR, and the status is written once space is back', async () => {
    h = startHarness();
    const run = await h.spawn(
      steps({ message: 'start ' }, { sleep: 100 }, { flood: { chunks: 3000, text: 'f'.repeat(200) } }),
    );
    const lift = h.fillStore();
    const done = await wait(run.run_id);
    // Callers of this process see the real status although the store could not take it.
    expect(done.status).toBe('completed');
    expect(done.result?.text.startsWith('start ffff')).toBe(true);
    expect(done.result?.text_truncated).toBe(true);
    expect(h.store.runs.get(run.run_id)?.status).not.toBe('completed');
    expect(h.errors.map((e) => toBatonError(e).code)).toContain('STORE_ERROR');
    expect(h.errors.some((e) => /database or disk is full/.test(String(e)))).toBe(true);
    let refused: unknown;
    try {
      await h.spawn('no room');
    } catch (err) {
      refused = err;
    }
    expect(toBatonError(refused).code).toBe('STORE_ERROR');
    expect(toBatonError(refused).message).toMatch(/disk .* is full.*free space in BATON_HOME/);
    lift();
    await eventually(() => h.store.runs.get(run.run_id)?.status === 'completed', 8000);
    const stored = h.engine.getEvents(run.run_id, { types: ['status'] }).events.map((e) => e.data.status);
    expect(stored.at(-1)).toBe('completed');
    const after = await h.spawn('room again');
    expect((await wait(after.run_id)).result?.text).toBe('You said: room again');
  });

  it('SSE over app.request: GET /api/runs/:run/events streams every event with its seq as id, and resumes after Last-Event-ID', async () => {
    h = startHarness();
    http = harnessHttp(h);
    const refused = await http.request('/api/runs/r_000000000000/events', { headers: { authorization: '' } });
    expect(refused.status).toBe(401);
    const run = await h.spawn(steps({ message: 'one ' }, { sleep: 150 }, { message: 'two' }));
    const res = await http.request(`/api/runs/${run.run_id}/events`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    // Opened while the run is live: the stream follows it and ends once it is final.
    const events = await http.readSse(res);
    const parsed = events.map((e) => JSON.parse(e.data) as { seq: number; type: string; data: Summary });
    expect(events.map((e) => e.id)).toEqual(parsed.map((e) => String(e.seq)));
    expect(parsed.map((e) => e.seq)).toEqual(parsed.map((_, i) => i + 1));
    expect(events.map((e) => e.event)).toEqual(parsed.map((e) => e.type));
    expect(parsed.at(-1)).toMatchObject({ type: 'status', data: { status: 'completed' } });
    expect(parsed.find((e) => e.type === 'result')?.data.text).toBe('one two');
    expect(parsed.length).toBe(h.engine.getRun(run.run_id).last_seq);
    // Resuming after event 3 sends the rest only.
    const resumed = await http.readSse(
      await http.request(`/api/runs/${run.run_id}/events`, {
        headers: { accept: 'text/event-stream', 'last-event-id': '3' },
      }),
    );
    expect(resumed.map((e) => Number(e.id))).toEqual(parsed.slice(3).map((e) => e.seq));
  });
});

type Summary = Record<string, unknown>;
