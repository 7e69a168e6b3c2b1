// Confinement holes from the 2026-12 audit (C1, C2, C12, C14, S2): a run's files stay inside its
// working directory (or its own work tree), never inside baton's own state folder, whatever a
// branch commits as a symlink or a hardlink points to. Real git, the fixture ACP agent, the built CLI.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv, startServer, steps, waitFor, type Server, type Summary, type TestEnv } from './helpers.js';

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

async function finished(s: Server, run: string): Promise<Summary> {
  return (await waitFor(s, run, 'finished')) as Summary;
}

/** The error of a refused tool call. */
async function refusal(s: Server, tool: string, args: Record<string, unknown>): Promise<Summary> {
  const res = await s.raw(tool, args);
  expect(res.isError, JSON.stringify(res.structuredContent)).toBe(true);
  return (res.structuredContent as Summary).error as Summary;
}

describe('confinement', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it('C1: a base_ref that makes the cwd a symlink out of the work tree is refused, and its work tree removed', async () => {
    t = makeEnv();
    const outside = join(t.dir, 'outside');
    mkdirSync(outside);
    gitIn(t.work, 'init', '-q', '-b', 'main');
    mkdirSync(join(t.work, 'pkg'));
    writeFileSync(join(t.work, 'pkg', 'a.txt'), 'a\n');
    gitIn(t.work, 'add', '.');
    gitIn(t.work, 'commit', '-q', '-m', 'start');
    // Branch evil: pkg is a symlink out of the repository (still inside the roots); branch up: pkg
    // is `../..`, which from the work tree is $BATON_HOME itself.
    for (const [branch, target] of [
      ['evil', outside],
      ['up', '../..'],
    ] as const) {
      gitIn(t.work, 'checkout', '-q', '-b', branch);
      gitIn(t.work, 'rm', '-q', '-r', 'pkg');
      symlinkSync(target, join(t.work, 'pkg'));
      gitIn(t.work, 'add', 'pkg');
      gitIn(t.work, 'commit', '-q', '-m', branch);
      gitIn(t.work, 'checkout', '-q', '-f', 'main');
    }
    s = await startServer(t);
    for (const base_ref of ['evil', 'up']) {
      const run = (await s.call('spawn_run', {
        agent: 'fixture',
        cwd: join(t.work, 'pkg'),
        prompt: steps({ write_file: { path: 'baton-demo.md', content: 'escaped\n' } }),
        policy: 'auto_edit',
        isolation: 'worktree',
        base_ref,
        label: `c1-${base_ref}`,
      })) as Summary;
      const done = await finished(s, run.run_id);
      expect(done.status, base_ref).toBe('failed');
      expect(done.error.code, base_ref).toBe('CWD_NOT_ALLOWED');
      expect(done.error.message, base_ref).toContain('outside its work tree');
      // The tree it made is gone, with its branch.
      expect(existsSync(join(t.home, 'worktrees', run.run_id)), base_ref).toBe(false);
      expect(gitIn(t.work, 'branch', '--list', `baton/c1-${base_ref}`)).toBe('');
    }
    expect(existsSync(join(outside, 'baton-demo.md'))).toBe(false);
    expect(existsSync(join(t.home, 'baton-demo.md'))).toBe(false);
  });

  it('C1: a follow-up in a work tree whose cwd has since become a symlink out of it is refused', async () => {
    t = makeEnv();
    const outside = join(t.dir, 'outside');
    mkdirSync(outside);
    gitIn(t.work, 'init', '-q', '-b', 'main');
    mkdirSync(join(t.work, 'pkg'));
    writeFileSync(join(t.work, 'pkg', 'a.txt'), 'a\n');
    gitIn(t.work, 'add', '.');
    gitIn(t.work, 'commit', '-q', '-m', 'start');
    s = await startServer(t);
    const ok = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: join(t.work, 'pkg'),
      prompt: steps({ write_file: { path: 'in.txt', content: 'in\n' } }),
      isolation: 'worktree',
      label: 'c1-ok',
    })) as Summary;
    const first = await finished(s, ok.run_id);
    expect(first.status).toBe('completed');
    expect(readFileSync(join(first.cwd, 'in.txt'), 'utf8')).toBe('in\n');
    const tree = join(t.home, 'worktrees', ok.run_id);
    execFileSync('rm', ['-rf', join(tree, 'pkg')]);
    symlinkSync(outside, join(tree, 'pkg'));
    const err = await refusal(s, 'follow_up', {
      run: 'c1-ok',
      message: steps({ write_file: { path: 'again.md', content: 'escaped\n' } }),
    });
    expect(err.code).toBe('CWD_NOT_ALLOWED');
    expect(existsSync(join(outside, 'again.md'))).toBe(false);
  });

  /**
   * A repository whose branch evil commits .env as a symlink to a file outside and conf as a symlink
   * to a folder outside, while main has untracked regular .env and conf/local.env and an untracked
   * symlink creds to a secret outside. Returns the finished worktree run from evil and its notes.
   */
  async function includeRun(): Promise<{ outside: string; tree: string; notes: string }> {
    const outside = join(t.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim.txt'), 'ORIGINAL\n');
    writeFileSync(join(outside, 'secret'), 'OUTSIDE-SECRET\n');
    gitIn(t.work, 'init', '-q', '-b', 'main');
    writeFileSync(join(t.work, '.gitignore'), '.env\nconf/\n');
    writeFileSync(join(t.work, 'a.txt'), 'a\n');
    gitIn(t.work, 'add', '.');
    gitIn(t.work, 'commit', '-q', '-m', 'start');
    gitIn(t.work, 'checkout', '-q', '-b', 'evil');
    symlinkSync(join(outside, 'victim.txt'), join(t.work, '.env'));
    symlinkSync(outside, join(t.work, 'conf'));
    gitIn(t.work, 'add', '-f', '.env', 'conf');
    gitIn(t.work, 'commit', '-q', '-m', 'evil');
    gitIn(t.work, 'checkout', '-q', 'main');
    writeFileSync(join(t.work, '.env'), 'SECRET=from-main-worktree\n');
    mkdirSync(join(t.work, 'conf'));
    writeFileSync(join(t.work, 'conf', 'local.env'), 'LOCAL=1\n');
    symlinkSync(join(outside, 'secret'), join(t.work, 'creds'));
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'hi',
      isolation: 'worktree',
      base_ref: 'evil',
      include: ['.env', 'creds', 'conf/local.env'],
    })) as Summary;
    const done = await finished(s, run.run_id);
    expect(done.status).toBe('completed');
    const { events } = (await s.call('get_events', { run: run.run_id, limit: 200 })) as { events: Summary[] };
    const notes = JSON.stringify(events.filter((e) => e.type === 'warning' || e.type === 'raw'));
    return { outside, tree: done.cwd as string, notes };
  }

  it('C2: include never writes through a symlink the branch committed (file or folder)', async () => {
    t = makeEnv();
    const { outside, tree, notes } = await includeRun();
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('ORIGINAL\n');
    expect(existsSync(join(outside, 'local.env'))).toBe(false);
    // The regular .env replaced the committed symlink inside the tree.
    expect(lstatSync(join(tree, '.env')).isFile()).toBe(true);
    expect(readFileSync(join(tree, '.env'), 'utf8')).toBe('SECRET=from-main-worktree\n');
    expect(notes).toContain('copied into the work tree: .env');
    expect(notes).toMatch(/not copied.*conf\/local\.env/);
  });

  it('C2: include never copies an untracked symlink (a file outside the repository) into the tree', async () => {
    t = makeEnv();
    const { tree, notes } = await includeRun();
    expect(() => lstatSync(join(tree, 'creds'))).toThrow();
    expect(notes).toMatch(/not copied.*creds.*symlink/);
  });

  it('C14: fs/write_text_file refuses a hardlinked file; the file outside keeps its content', async () => {
    t = makeEnv();
    const outside = join(t.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'hl-target.txt'), 'ORIGINAL\n');
    linkSync(join(outside, 'hl-target.txt'), join(t.work, 'hl.txt'));
    writeFileSync(join(t.work, 'plain.txt'), 'old\n');
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ write_file: { path: 'hl.txt', content: 'WRITTEN-THROUGH-HARDLINK\n' } }),
    })) as Summary;
    const done = await finished(s, run.run_id);
    expect(done.status).toBe('failed');
    expect(JSON.stringify(done.error)).toContain('hard link');
    expect(readFileSync(join(outside, 'hl-target.txt'), 'utf8')).toBe('ORIGINAL\n');
    // Plain files and new files are still written.
    const ok = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps(
        { write_file: { path: 'plain.txt', content: 'new\n' } },
        { write_file: { path: 'sub/new.txt', content: 'created\n' } },
        { read_file: { path: 'sub/new.txt' } },
      ),
    })) as Summary;
    const okDone = await finished(s, ok.run_id);
    expect(okDone.status).toBe('completed');
    expect(okDone.result.text).toContain('created');
    expect(readFileSync(join(t.work, 'plain.txt'), 'utf8')).toBe('new\n');
  });

  it("C12: a follow-up re-checks allow_any_command for the run's command", async () => {
    t = makeEnv({ terminal: { allow_any_command: true } });
    const log = join(t.dir, 'anycmd.log');
    s = await startServer(t);
    const term = (await s.call('spawn_run', {
      agent: 'terminal',
      cwd: t.work,
      command: ['sh', '-c', `echo ran >> ${log}`],
    })) as Summary;
    expect((await finished(s, term.run_id)).status).toBe('completed');
    await s.close();
    // The config now allows no arbitrary command.
    const configPath = join(t.home, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(configPath, JSON.stringify({ ...config, terminal: {} }));
    s = await startServer(t);
    const forbidden = await refusal(s, 'follow_up', { run: term.run_id, message: 'again' });
    expect(forbidden.code).toBe('FORBIDDEN');
    expect(forbidden.message).toContain('allow_any_command');
    expect(readFileSync(log, 'utf8')).toBe('ran\n');
  });

  it("C12: a follow-up re-checks the roots for the run's cwd", async () => {
    t = makeEnv();
    const proj = join(t.dir, 'proj');
    mkdirSync(proj);
    s = await startServer(t);
    const fx = (await s.call('spawn_run', { agent: 'fixture', cwd: proj, prompt: 'hi' })) as Summary;
    expect((await finished(s, fx.run_id)).status).toBe('completed');
    await s.close();
    // The config now has only the work folder as a root.
    const configPath = join(t.home, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(configPath, JSON.stringify({ ...config, roots: [t.work] }));
    s = await startServer(t);
    const outOfRoots = await refusal(s, 'follow_up', { run: fx.run_id, message: 'again' });
    expect(outOfRoots.code).toBe('CWD_NOT_ALLOWED');
    expect(outOfRoots.message).toContain('outside the allowed roots');
  });

  it("S2: baton's own state folder is never a run's cwd, and fs/* and auto_edit never reach into it", async () => {
    t = makeEnv();
    s = await startServer(t);
    for (const cwd of [t.home, join(t.home, 'worktrees')]) {
      mkdirSync(cwd, { recursive: true });
      const err = await refusal(s, 'spawn_run', { agent: 'fixture', cwd, prompt: 'hi' });
      expect(err.code, cwd).toBe('CWD_NOT_ALLOWED');
      expect(err.message, cwd).toContain('BATON_HOME');
    }
    // A cwd that contains $BATON_HOME ($HOME with ~/.baton): writes and reads inside it are refused.
    const config = readFileSync(join(t.home, 'config.json'), 'utf8');
    const write = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.dir,
      prompt: steps({
        write_file: { path: 'home/config.json', content: '{"terminal":{"allow_any_command":true}}' },
      }),
    })) as Summary;
    const wd = await finished(s, write.run_id);
    expect(wd.status).toBe('failed');
    expect(JSON.stringify(wd.error)).toContain('state folder');
    expect(readFileSync(join(t.home, 'config.json'), 'utf8')).toBe(config);
    const read = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.dir,
      prompt: steps({ read_file: { path: 'home/config.json' } }),
    })) as Summary;
    const rd = await finished(s, read.run_id);
    expect(rd.status).toBe('failed');
    expect(JSON.stringify(rd.error)).toContain('state folder');
    // auto_edit asks (does not allow) an edit of the config; an edit elsewhere in the cwd is allowed.
    const edit = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.dir,
      policy: 'auto_edit',
      prompt: steps(
        { permission: { title: 'Write a.txt', kind: 'edit', locations: ['work/a.txt'] } },
        { permission: { title: 'Write config.json', kind: 'edit', locations: ['home/config.json'] } },
      ),
    })) as Summary;
    const waiting = (await waitFor(s, edit.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.title).toBe('Write config.json');
    await s.call('cancel_run', { run: edit.run_id });
  });
});
