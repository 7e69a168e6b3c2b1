// 1,000 sequential runs through one `baton mcp`: no growth in file descriptors, processes or
// memory beyond stated bounds. 100 of them start a fresh agent (spawn_run); the other 900 are
// follow-ups on warm sessions. Bounds: open fds +20, RSS +80 MiB between run 100 and run 1,000,
// never more agent processes than sessions in use.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  makeEnv,
  pidsMatching,
  rssMiB,
  startServer,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

const TOTAL = Number(process.env.SOAK_RUNS ?? 1000);
const SESSIONS = 4;

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

describe('soak', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close().catch(() => undefined);
    t.cleanup();
  });

  it(`${TOTAL} sequential runs: file descriptors, processes and memory stay bounded`, async () => {
    t = makeEnv();
    s = await startServer(t);
    const heads: string[] = [];
    let base: { fds: number; rss: number } | undefined;
    let maxAgents = 0;
    for (let i = 0; i < TOTAL; i++) {
      const lane = i % SESSIONS;
      let id: string;
      if (i % 10 === 0 || !heads[lane]) {
        // A fresh session (and agent process) now and then; the old one is closed when idle.
        id = ((await s.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt: `run ${i}` })) as Summary)
          .run_id as string;
      } else {
        id = ((await s.call('follow_up', { run: heads[lane], message: `run ${i}` })) as Summary)
          .run_id as string;
      }
      heads[lane] = id;
      const done = (await waitFor(s, id, 'finished')) as Summary;
      expect(done.status, `run ${i}`).toBe('completed');
      maxAgents = Math.max(maxAgents, pidsMatching(t.state).length);
      if (i === 99) base = { fds: fds(s.pid), rss: rssMiB(s.pid) };
    }
    const end = { fds: fds(s.pid), rss: rssMiB(s.pid) };
    console.log(
      `soak: fds ${base?.fds} → ${end.fds}, RSS ${base?.rss.toFixed(1)} → ${end.rss.toFixed(1)} MiB, at most ${maxAgents} agent processes`,
    );
    expect(base).toBeDefined();
    expect(maxAgents).toBeGreaterThan(0);
    expect(end.fds - (base?.fds ?? 0)).toBeLessThanOrEqual(20);
    expect(end.rss - (base?.rss ?? 0)).toBeLessThanOrEqual(80);
    // Warm sessions are kept (session_idle_timeout) but never more than are in use, plus the ones
    // being replaced.
    expect(maxAgents).toBeLessThanOrEqual(SESSIONS * 3);
  });
});
