// Runs in git repositories: worktree isolation, changed files and diffs, overlap warnings. Real git,
// the fixture ACP agent writing files through baton.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv, startServer, steps, type Server, type Summary, type TestEnv } from './helpers.js';

function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  });
}

/** A repository in the test's work folder with a few committed files (and an ignored .env). */
function repo(t: TestEnv): void {
  gitIn(t.work, 'init', '-q', '-b', 'main');
  writeFileSync(join(t.work, 'shared.txt'), 'one\ntwo\nthree\n');
  writeFileSync(join(t.work, 'b.txt'), 'b\n');
  writeFileSync(join(t.work, '.gitignore'), '.env\n');
  gitIn(t.work, 'add', '.');
  gitIn(t.work, 'commit', '-q', '-m', 'start');
  writeFileSync(join(t.work, '.env'), 'SECRET=1\n');
}

async function finished(s: Server, run: string): Promise<Summary> {
  return ((await s.call('wait_run', { runs: [run], until: 'finished', timeout: 30 })) as Summary).runs[0];
}

describe('runs in git repositories', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it('two worktree runs edit the same file without conflict; each lists only its own change; kept until discarded', async () => {
    t = makeEnv();
    repo(t);
    s = await startServer(t);
    const edit = (text: string) =>
      steps({ write_file: { path: 'shared.txt', content: `one\n${text}\nthree\n` } });
    const a = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: edit('two by a'),
      isolation: 'worktree',
      label: 'wa',
      include: ['.env'],
    })) as Summary;
    const b = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: edit('two by b'),
      isolation: 'worktree',
      label: 'wb',
    })) as Summary;
    expect(a.cwd).not.toBe(t.work);
    const [da, db] = [await finished(s, a.run_id), await finished(s, b.run_id)];
    expect(da.status).toBe('completed');
    expect(db.status).toBe('completed');
    for (const d of [da, db]) {
      expect(d.result.changed_files).toEqual([
        { path: 'shared.txt', status: 'modified', additions: 1, deletions: 1 },
      ]);
    }
    // Each work tree has its own version; the repository's own files are untouched.
    expect(readFileSync(join(da.cwd, 'shared.txt'), 'utf8')).toContain('two by a');
    expect(readFileSync(join(db.cwd, 'shared.txt'), 'utf8')).toContain('two by b');
    expect(readFileSync(join(t.work, 'shared.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(existsSync(join(da.cwd, '.env'))).toBe(true); // included
    expect(existsSync(join(db.cwd, '.env'))).toBe(false);
    expect(gitIn(t.work, 'branch', '--list', 'baton/*')).toContain('baton/wa');
    const diff = (await s.call('get_diff', { run: 'wa' })) as Summary;
    expect(diff.diff).toContain('+two by a');
    expect(diff.diff).toContain('-two');
    // A follow-up works in the same work tree.
    const more = (await s.call('follow_up', {
      run: 'wa',
      message: steps({ write_file: { path: 'new.txt', content: 'x\n' } }),
    })) as Summary;
    const dm = await finished(s, more.run_id);
    expect(dm.cwd).toBe(da.cwd);
    expect(dm.result.changed_files).toEqual([
      { path: 'new.txt', status: 'added', additions: 1, deletions: 0 },
    ]);

    const discarded = (await s.call('discard_run', { run: 'wa' })) as Summary;
    expect(discarded).toMatchObject({ discarded: true, branch: 'baton/wa' });
    expect(existsSync(da.cwd)).toBe(false);
    expect(gitIn(t.work, 'branch', '--list', 'baton/wa')).toBe('');
    expect(existsSync(db.cwd)).toBe(true);
  });

  it("the config's worktree setup runs in the new work tree before the agent; its failure fails the run", async () => {
    t = makeEnv({ worktrees: { setup: 'test -f .env && echo ready > .setup-done', include: ['.env'] } });
    repo(t);
    s = await startServer(t);
    const ok = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ read_file: { path: '.setup-done' } }),
      isolation: 'worktree',
    })) as Summary;
    const done = await finished(s, ok.run_id);
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('ready');
    await s.close();
    // Without .env to copy, the setup command fails: so does the run, with its output.
    t.cleanup();
    t = makeEnv({ worktrees: { setup: 'echo no env here; test -f .env' } });
    repo(t);
    s = await startServer(t);
    const bad = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'hi',
      isolation: 'worktree',
    })) as Summary;
    const failed = await finished(s, bad.run_id);
    expect(failed.status).toBe('failed');
    expect(failed.error.message).toContain('no env here');
  });

  it('worktree isolation outside a git repository: NOT_A_GIT_REPO', async () => {
    t = makeEnv();
    s = await startServer(t);
    const r = (await s.raw('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'hi',
      isolation: 'worktree',
    })) as Summary;
    expect(r.structuredContent.error.code).toBe('NOT_A_GIT_REPO');
    expect(r.structuredContent.error.message).toContain('git init');
  });

  it('a run without isolation that edits two files and creates one reports all three with right counts', async () => {
    t = makeEnv();
    repo(t);
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps(
        { write_file: { path: 'shared.txt', content: 'one\nTWO\nthree\nfour\n' } },
        { write_file: { path: 'b.txt', content: 'b\nc\nd\n' } },
        { write_file: { path: 'sub/new.txt', content: 'n1\nn2\n' } },
      ),
    })) as Summary;
    const done = await finished(s, run.run_id);
    expect(done.result.changed_files).toEqual([
      { path: 'b.txt', status: 'modified', additions: 2, deletions: 0 },
      { path: 'shared.txt', status: 'modified', additions: 2, deletions: 1 },
      { path: 'sub/new.txt', status: 'added', additions: 2, deletions: 0 },
    ]);
    const one = (await s.call('get_diff', { run: run.run_id, path: 'sub/new.txt' })) as Summary;
    expect(one.diff).toContain('+n2');
    expect(one.diff).not.toContain('shared.txt');
  });

  it('two concurrent runs without isolation touching one file both carry the overlap warning', async () => {
    t = makeEnv();
    repo(t);
    s = await startServer(t);
    const touch = (who: string, wait: number) =>
      steps(
        {
          permission: {
            title: 'Edit shared.txt',
            kind: 'edit',
            locations: ['shared.txt'],
            allowed: [{ write_file: { path: 'shared.txt', content: `by ${who}\n` } }],
          },
        },
        { sleep: wait },
      );
    const a = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: touch('a', 1500),
      policy: 'allow_all',
    })) as Summary;
    const b = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: touch('b', 200),
      policy: 'allow_all',
    })) as Summary;
    const [da, db] = [await finished(s, a.run_id), await finished(s, b.run_id)];
    expect(da.result.overlaps).toEqual([{ path: 'shared.txt', run_id: b.run_id }]);
    expect(db.result.overlaps).toEqual([{ path: 'shared.txt', run_id: a.run_id }]);
    for (const [run, other] of [
      [a.run_id, b.run_id],
      [b.run_id, a.run_id],
    ]) {
      const w = (await s.call('get_events', { run, types: ['warning'] })) as Summary;
      expect(w.events[0].data).toMatchObject({ kind: 'overlap', path: 'shared.txt', other_run: other });
    }
  });
});
