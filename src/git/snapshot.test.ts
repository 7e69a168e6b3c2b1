import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execBounded } from '../process/exec.js';
import { changedFiles, sideEnd, sideStart, snapshotTree, type SideExec } from './git.js';

const dir = mkdtempSync(join(tmpdir(), 'baton-snap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' });

/**
 * "The other side" as the ssh and kubernetes runners run it — a program in a folder with only the
 * given variables — on this machine, with its own temporary folder (TMPDIR) to count leftovers in.
 */
const sideTmp = mkdtempSync(join(tmpdir(), 'baton-side-tmp-'));
afterAll(() => rmSync(sideTmp, { recursive: true, force: true }));
let calls = 0;
const side: SideExec = (command, args, opts) => {
  calls++;
  return execBounded(command, args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH, TMPDIR: sideTmp, ...opts.env },
    ...(opts.maxBuffer ? { maxBuffer: opts.maxBuffer } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
};

describe('snapshotTree on the other side: one script', () => {
  it('writes the same tree as here (tracked, changed, untracked, not ignored) in one call, leaving nothing', async () => {
    git('init', '-q');
    writeFileSync(join(dir, '.gitignore'), 'ignored.txt\n');
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init');
    writeFileSync(join(dir, 'a.txt'), 'changed\n');
    writeFileSync(join(dir, 'new.txt'), 'new\n');
    writeFileSync(join(dir, 'ignored.txt'), 'ignored\n');
    const index = readFileSync(join(dir, '.git', 'index'));
    const here = await snapshotTree(dir);
    const there = await snapshotTree(dir, side);
    expect(there).toBe(here);
    expect(calls).toBe(1);
    expect(git('ls-tree', '--name-only', there).split('\n').filter(Boolean)).toEqual([
      '.gitignore',
      'a.txt',
      'new.txt',
    ]);
    // The user's index untouched, no temporary index left.
    expect(readFileSync(join(dir, '.git', 'index')).equals(index)).toBe(true);
    expect(readdirSync(sideTmp)).toEqual([]);
  });

  it('a folder with no commit yet, and one that is not a repository (a GIT_ERROR saying why)', async () => {
    const fresh = mkdtempSync(join(dir, 'fresh-'));
    execFileSync('git', ['-C', fresh, 'init', '-q']);
    writeFileSync(join(fresh, 'x.txt'), 'x\n');
    const tree = await snapshotTree(fresh, side);
    expect(tree).toBe(await snapshotTree(fresh));
    const plain = mkdtempSync(join(tmpdir(), 'baton-plain-'));
    try {
      await expect(snapshotTree(plain, side)).rejects.toMatchObject({ code: 'GIT_ERROR' });
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
    expect(readdirSync(sideTmp)).toEqual([]);
  });

  it("a run's start and a turn's end are one session each, with what git answers here", async () => {
    const repo = mkdtempSync(join(tmpdir(), 'baton-side-repo-'));
    try {
      const g = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
      g('init', '-q');
      writeFileSync(join(repo, 'keep.txt'), 'one\ntwo\n');
      writeFileSync(join(repo, 'old name.txt'), 'moved\nalong\nwith\nit\n');
      g('add', '.');
      g('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init');
      const sub = join(repo, 'sub');
      execFileSync('mkdir', [sub]);
      calls = 0;
      const start = await sideStart(sub, side);
      expect(calls).toBe(1);
      expect(start).toEqual({
        root: execFileSync('git', ['-C', sub, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim(),
        tree: await snapshotTree(repo),
      });
      writeFileSync(join(repo, 'keep.txt'), 'one\nTWO\nthree\n');
      execFileSync('mv', [join(repo, 'old name.txt'), join(repo, 'new name.txt')]);
      writeFileSync(join(repo, 'sub', 'added.txt'), 'a\n');
      calls = 0;
      const end = await sideEnd(start!.root, start!.tree, side);
      expect(calls).toBe(1);
      const here = await snapshotTree(repo);
      expect(end.tree).toBe(here);
      expect(end.files).toEqual(await changedFiles(repo, start!.tree, here));
      expect(end.files.map((f) => `${f.status} ${f.path}`).sort()).toEqual([
        'added sub/added.txt',
        'modified keep.txt',
        'renamed new name.txt',
      ]);
      // Not a repository: no start, no error.
      const plain = mkdtempSync(join(tmpdir(), 'baton-plain-'));
      expect(await sideStart(plain, side)).toBeUndefined();
      rmSync(plain, { recursive: true, force: true });
      expect(readdirSync(sideTmp)).toEqual([]);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});
