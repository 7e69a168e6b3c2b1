// A full disk and a read-only BATON_HOME (a small tmpfs; baton's tests run as root in CI, so
// mounting is available): clear errors, baton keeps serving, and the database is not corrupted.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  dbIntegrity,
  fixtureAgent,
  makeEnv,
  runCli,
  startServer,
  steps,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

describe('disk full and read-only BATON_HOME', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let mounted: string | undefined;
  afterEach(async () => {
    await s?.close().catch(() => undefined);
    s = undefined;
    if (mounted) execFileSync('umount', ['-l', mounted]);
    mounted = undefined;
    t.cleanup();
  });

  it('a full disk: runs end (failed with STORE_ERROR, or completed in memory with the store error logged), baton keeps serving, the database stays sound', async () => {
    t = makeEnv();
    const home = join(t.dir, 'small-home');
    mkdirSync(home);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', home]);
    mounted = home;
    writeFileSync(
      join(home, 'config.json'),
      JSON.stringify({
        roots: [t.dir],
        agents: { fixture: fixtureAgent(t.dir) },
      }),
    );
    t.env.BATON_HOME = home;
    s = await startServer(t);
    // 20 MB of output into a 3 MB home.
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ flood: { chunks: 20_000, text: 'f'.repeat(1000) } }),
    })) as Summary;
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(['failed', 'completed']).toContain(done.status);
    if (done.status === 'failed') expect(done.error.code).toBe('STORE_ERROR');
    expect(s.stderr()).toMatch(/SQLITE_FULL|ENOSPC|database or disk is full|no space/i);
    // Still serving reads.
    const status = (await s.call('server_status')) as Summary;
    expect(status.runs.total).toBeGreaterThanOrEqual(1);
    // A new run is refused or fails with the reason, never hangs.
    const next = await s.raw('spawn_run', { agent: 'fixture', cwd: t.work, prompt: 'hi' });
    if (next.isError)
      expect((next.structuredContent as Summary).error, JSON.stringify(next.structuredContent)).toMatchObject(
        { code: 'STORE_ERROR' },
      );
    else {
      const n = (await waitFor(s, (next.structuredContent as Summary).run_id, 'finished')) as Summary;
      expect(['completed', 'failed']).toContain(n.status);
    }
    await s.close();
    s = undefined;
    const copy = join(t.dir, 'copy.db');
    copyFileSync(join(home, 'baton.db'), copy);
    if (existsSync(join(home, 'baton.db-wal'))) copyFileSync(join(home, 'baton.db-wal'), `${copy}-wal`);
    expect(dbIntegrity(copy)).toBe('ok');
  });

  it('a read-only BATON_HOME: baton says so with the path, and writes nothing', async () => {
    t = makeEnv();
    const home = join(t.dir, 'ro-home');
    mkdirSync(home);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', home]);
    mounted = home;
    writeFileSync(join(home, 'config.json'), JSON.stringify({ roots: [t.dir] }));
    execFileSync('mount', ['-o', 'remount,ro', home]);
    t.env.BATON_HOME = home;
    const ls = await runCli(t, ['ls', '--json']);
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toContain('STORE_ERROR');
    expect(ls.stderr).toContain(home);
    expect(ls.stderr).toMatch(/read-only|readonly|EROFS/i);
    expect(existsSync(join(home, 'baton.db'))).toBe(false);
  });
});
