// Agents that fail at every phase, never answer, flood 100 MB, or leave children that ignore
// SIGTERM: every run ends in a final state with a reason, baton's memory stays bounded, baton
// keeps serving, and no process survives.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ROOT,
  SCENARIO,
  eventually,
  fixtureAgent,
  makeEnv,
  pidsMatching,
  rssMiB,
  startServer,
  steps,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

const FORKING = join(ROOT, 'test', 'fixtures', 'forking-agent.mjs');

describe('agents that fail', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close().catch(() => undefined);
    s = undefined;
    t.cleanup();
  });
  const start = async (agents: Record<string, unknown> = {}) => {
    t = makeEnv((dir) => ({
      agents: {
        fixture: fixtureAgent(dir),
        'exits-at-once': { driver: 'acp', command: process.execPath, args: ['-e', 'process.exit(3)'] },
        forking: {
          driver: 'acp',
          command: process.execPath,
          args: [FORKING, '--marker', `fork-${dir}`, '--scenario', SCENARIO, '--state', join(dir, 'state')],
        },
        ...agents,
      },
    }));
    s = await startServer(t);
    return s;
  };
  const run = async (agent: string, prompt: string, extra: Record<string, unknown> = {}) => {
    const r = (await s!.call('spawn_run', { agent, cwd: t.work, prompt, ...extra })) as Summary;
    return r.run_id as string;
  };
  const finished = async (id: string) => (await waitFor(s!, id, 'finished')) as Summary;

  it('exits before initialize, crashes mid-turn, crashes while asking, dies while writing, never answers', async () => {
    await start();
    const before = await finished(await run('exits-at-once', 'hello'));
    expect(before.status).toBe('failed');
    expect(before.error.code).toMatch(/AGENT_EXITED|AGENT_ERROR|AGENT_PROTOCOL_ERROR/);
    expect(before.error.message).toMatch(/exit|code 3/);

    const mid = await finished(
      await run(
        'fixture',
        steps({ message: 'working' }, { crash: { code: 2, stderr: 'boom in the middle' } }),
      ),
    );
    expect(mid.status).toBe('failed');
    expect(mid.error.code).toBe('AGENT_EXITED');
    expect(mid.error.stderr_tail ?? mid.error.message).toContain('boom in the middle');

    // Dies while its permission request is pending: the request expires, the run fails.
    const asking = await run(
      'fixture',
      steps({ permission: { title: 'Write x', kind: 'edit', locations: ['x.txt'], allowed: [] } }),
    );
    const waiting = (await waitFor(s!, asking)) as Summary;
    expect(waiting.status).toBe('waiting');
    for (const pid of pidsMatching(t.state)) process.kill(pid, 'SIGKILL');
    const died = await finished(asking);
    expect(died.status).toBe('failed');
    expect(died.waiting_for).toBeUndefined();
    expect(died.error.code).toBe('AGENT_EXITED');

    const writing = await finished(
      await run(
        'fixture',
        steps({ write_file: { path: 'w.txt', content: 'x'.repeat(100_000) } }, { crash: {} }),
      ),
    );
    expect(writing.status).toBe('failed');
    expect(writing.error.message.length).toBeGreaterThan(0);

    const silent = await finished(await run('fixture', steps({ hang: true }), { timeout: '2s' }));
    expect(silent.status).toBe('timed_out');
    expect(silent.error.message).toContain('timeout');

    // Still serving, and nothing left running.
    const status = (await s!.call('server_status')) as Summary;
    expect(status.runs.total).toBe(5);
    await eventually(() => pidsMatching(t.state).length === 0, 15_000);
  });

  it('a 100 MB flood: the run completes, the text is kept, baton stays under 400 MiB', async () => {
    await start();
    const id = await run(
      'fixture',
      steps({ flood: { chunks: 100_000, text: 'z'.repeat(1000) } }, { message: 'end' }),
    );
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMiB(s!.pid));
      } catch {
        // gone
      }
    }, 100);
    const done = await finished(id);
    clearInterval(sampler);
    expect(done.status).toBe('completed');
    console.log(`100 MB flood: baton peak RSS ${peak.toFixed(0)} MiB, ${done.last_seq} events`);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(400);
    // Kept whole: messages are stored in pieces of at most 8,000 characters, 100 MB of them.
    expect(done.last_seq).toBeGreaterThanOrEqual(100_000_000 / 8000);
    const tail = (await s!.call('get_events', { run: id, tail: true, types: ['message'], limit: 3 })) as {
      events: Summary[];
    };
    expect(tail.events.at(-1)?.data.text).toContain('end');
  });

  it('children that ignore SIGTERM die with the run: on cancel and on a crash', async () => {
    await start();
    const marker = `fork-${t.dir}`;
    const cancelled = await run('forking', steps({ hang: true }));
    await eventually(() => pidsMatching(marker).length >= 2);
    const c = (await s!.call('cancel_run', { run: cancelled })) as Summary;
    expect(c.status).toBe('cancelled');
    await eventually(() => pidsMatching(marker).length === 0, 15_000);

    const crashed = await run('forking', steps({ message: 'bye' }, { crash: { code: 9 } }));
    const done = await finished(crashed);
    expect(done.status).toBe('failed');
    await eventually(() => pidsMatching(marker).length === 0, 15_000);
  });
});
