// kill -9 of baton at random points in 50 runs: after each restart the database passes
// PRAGMA integrity_check, every event a caller was shown before the kill is still there (same
// type, same data), no run is left active, and no agent process of a killed baton survives.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alive,
  dbIntegrity,
  eventually,
  makeEnv,
  pidsMatching,
  sleep,
  startServer,
  steps,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

const ROUNDS = 10;
const RUNS_PER_ROUND = 5;

/** A deterministic pseudo-random sequence (the seed is printed when a round fails). */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % 1_000_000) / 1_000_000;
  };
}

describe('kill -9 of baton at random points', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close().catch(() => undefined);
    t.cleanup();
  });

  it(`${ROUNDS * RUNS_PER_ROUND} runs, killed mid-flight: integrity, acknowledged events kept, nothing left active`, async () => {
    t = makeEnv();
    const seed = Date.now() % 100_000;
    const random = rng(seed);
    /** Events a caller has seen, per run: what must survive. */
    const seen = new Map<string, Summary[]>();
    const all: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      s = await startServer(t);
      const ids: string[] = [];
      for (let i = 0; i < RUNS_PER_ROUND; i++) {
        const r = (await s.call('spawn_run', {
          agent: 'fixture',
          cwd: t.work,
          prompt: steps(
            { message: `round ${round} run ${i}` },
            { tool_call: { id: `t${i}`, title: 'step one', kind: 'read' } },
            { flood: { chunks: 200 + Math.floor(random() * 800), text: 'y' } },
            { sleep: Math.floor(random() * 600) },
            { tool_update: { id: `t${i}`, status: 'completed' } },
            { message: 'done' },
          ),
        })) as Summary;
        ids.push(r.run_id);
      }
      all.push(...ids);
      // Read events as a caller would until the kill.
      const killAt = Date.now() + 150 + Math.floor(random() * 1500);
      while (Date.now() < killAt) {
        for (const id of ids) {
          const known = seen.get(id) ?? [];
          const after = known.at(-1)?.seq ?? 0;
          const page = (await s.call('get_events', { run: id, after_seq: after, limit: 1000 })) as {
            events: Summary[];
          };
          seen.set(id, [...known, ...page.events]);
        }
        await sleep(20);
      }
      const pid = s.pid;
      process.kill(pid, 'SIGKILL');
      await eventually(() => !alive(pid));
      await s.close().catch(() => undefined);
      s = undefined;
    }

    // Callers did see events before the kills (else the check below would check nothing).
    expect([...seen.values()].flat().length).toBeGreaterThan(ROUNDS * RUNS_PER_ROUND);
    // A new baton recovers: every run final or interrupted, every seen event intact.
    s = await startServer(t);
    for (const id of all) {
      const run = (await s.call('get_run', { run: id })) as Summary;
      expect(['completed', 'interrupted'], `run ${id} (seed ${seed})`).toContain(run.status);
      const stored: Summary[] = [];
      for (let after = 0; ;) {
        const page = (await s.call('get_events', { run: id, after_seq: after, limit: 1000 })) as {
          events: Summary[];
          next_seq: number;
          has_more: boolean;
        };
        stored.push(...page.events);
        after = page.next_seq;
        if (!page.has_more) break;
      }
      const bySeq = new Map(stored.map((e) => [e.seq, e]));
      for (const e of seen.get(id) ?? []) {
        const kept = bySeq.get(e.seq);
        expect(kept, `event ${e.seq} of ${id} (seed ${seed})`).toBeDefined();
        expect({ type: kept?.type, data: kept?.data }).toEqual({ type: e.type, data: e.data });
      }
    }
    // The agents of the killed batons were stopped by the recovery.
    await eventually(() => pidsMatching(t.state).length === 0, 15_000);
    await s.close();
    s = undefined;
    expect(dbIntegrity(join(t.home, 'baton.db'))).toBe('ok');
  });
});
