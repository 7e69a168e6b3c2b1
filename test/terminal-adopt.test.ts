// Terminal runs outlive their owner: a new owner (the daemon a front starts after a kill -9) adopts
// baton's tmux sessions, so the program goes on as the same run. The built CLI, real tmux.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  adoptions,
  killOwner,
  killTmuxServer,
  runWhen,
  tmuxSessions,
  tmuxSocketName,
} from './terminal-steps.js';
import {
  alive,
  daemonPid,
  eventually,
  groupGone,
  makeEnv,
  pidsMatching,
  runCli,
  startServer,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

/**
 * Terminal agents whose programs carry the test's temp dir as `$0`, so their processes (and the
 * wrapper, whose argv holds the program's) are found by it.
 */
function env(): TestEnv {
  const agent = (script: string) => (dir: string) => ({
    driver: 'terminal',
    command: 'sh',
    args: ['-c', script, dir],
  });
  const agents = {
    confirm: agent("printf 'Delete everything? [y/N] '; read a; echo answered=$a; sleep 1"),
    // Long enough for a new owner to start and adopt them on a loaded machine.
    sleepy: agent('sleep 8; echo done'),
    quick: agent('sleep 3; echo bye; exit 7'),
    long: agent('sleep 600'),
  };
  return makeEnv((dir) => ({
    terminal: { width: 100, height: 30 },
    agents: Object.fromEntries(Object.entries(agents).map(([name, make]) => [name, make(dir)])),
  }));
}

/** The pids of the test's programs and their wrappers (not the tmux server, whose argv may name them). */
function programs(t: TestEnv): number[] {
  return pidsMatching(t.dir)
    .filter((pid) => {
      try {
        return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('tmux');
      } catch {
        return false; // gone
      }
    })
    .sort();
}

/** The agent pid of the run's `running` status events, in order. */
async function statusPids(s: Server, run: string): Promise<number[]> {
  const ev = (await s.call('get_events', { run, types: ['status'], limit: 1000 })) as Summary;
  return ev.events.filter((e: Summary) => e.data.pid).map((e: Summary) => e.data.pid as number);
}

describe('terminal runs outlive the owner (adopted by the next one)', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
    // A failed test may leave a session (and its server) behind: never one of another test.
    killTmuxServer(t);
  });

  it('kill -9 while the program waits on [y/N]: the next owner asks again (a new request), answer y completes it', async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'confirm', cwd: t.work })) as Summary).run_id as string;
    const asked = await runWhen(s, run, (r) => r.waiting_for?.kind === 'permission');
    expect(asked.waiting_for.title).toBe('Delete everything? [y/N]');
    const before = programs(t);
    expect(before.length).toBeGreaterThanOrEqual(2); // the wrapper and the program
    const [pid] = await statusPids(s, run);

    const owner = await killOwner(t);
    // The front starts a new owner by itself; it adopts the session and the prompt is asked again.
    const again = await runWhen(
      s,
      run,
      (r) =>
        r.waiting_for?.kind === 'permission' && r.waiting_for.request_id !== asked.waiting_for.request_id,
    );
    const next = daemonPid(t.home) as number;
    expect(next).not.toBe(owner);
    expect(again).toMatchObject({ status: 'waiting', waiting_for: { title: 'Delete everything? [y/N]' } });
    expect(again.waiting_for.options.map((o: Summary) => o.option_id)).toEqual(['y', 'n']);
    // The same program, not a new one.
    expect(programs(t)).toEqual(before);
    expect(await statusPids(s, run)).toEqual([pid, pid]);
    const [note] = await adoptions(s, run);
    expect(note?.adopted_by).toBe(next);
    expect(note?.note).toContain(`baton (pid ${owner}) stopped; pid ${next} adopted`);
    const screen = (await s.call('read_terminal', { run })) as Summary;
    expect(screen.screen).toContain('Delete everything? [y/N]');
    // The dead owner's request expired: answering it is refused.
    const stale = await s.raw('answer_permission', {
      run,
      option_id: 'y',
      request_id: asked.waiting_for.request_id,
    });
    expect(stale.isError).toBe(true);
    expect((stale.structuredContent as Summary).error.code).toBe('ALREADY_ANSWERED');

    await s.call('answer_permission', { run, option_id: 'y', request_id: again.waiting_for.request_id });
    const done = await runWhen(s, run, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
    expect(done).toMatchObject({ status: 'completed', result: { stop_reason: 'exit 0' } });
    expect(done.result.text).toContain('answered=y');
    await eventually(() => tmuxSessions(t).length === 0);
    await eventually(() => programs(t).length === 0 && groupGone(pid as number));
  });

  it('kill -9 while the program runs: the next owner goes on watching it; it completes with exit 0', async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'sleepy', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    const before = programs(t);
    const [pid] = await statusPids(s, run);
    await killOwner(t);
    // Adopted (the note), and still running the same program.
    await eventually(async () => (await adoptions(s!, run).catch(() => [])).length === 1);
    const adopted = (await s.call('get_run', { run })) as Summary;
    expect(adopted.status).toBe('running');
    expect(programs(t)).toEqual(before);
    // Interactive calls work on the adopted session.
    await s.call('send_keys', { run, text: 'typed after the crash' });
    const screen = (await s.call('read_terminal', { run })) as Summary;
    expect(screen.screen).toContain('typed after the crash');
    const done = await runWhen(s, run, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
    expect(done).toMatchObject({ status: 'completed', result: { stop_reason: 'exit 0' } });
    expect(done.result.text).toContain('done');
    expect(await adoptions(s, run)).toHaveLength(1);
    expect(await statusPids(s, run)).toEqual([pid, pid]);
    await eventually(() => tmuxSessions(t).length === 0);
    await eventually(() => programs(t).length === 0 && groupGone(pid as number));
  });

  it("kill -9 while watching the user's own tmux session (adopt_terminal): the next owner watches it again; it is never killed", async () => {
    t = makeEnv((dir) => ({
      terminal: { width: 100, height: 30, external: true, external_socket: join(dir, 'user-tmux.sock') },
    }));
    const socket = join(t.dir, 'user-tmux.sock');
    const user = (args: string[]) =>
      execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const loop = `printf '> '; while read l; do echo "got:$l"; printf '> '; done`;
    user(['new-session', '-d', '-s', 'mine', '-x', '100', '-y', '30', '-c', t.work, 'sh', '-c', loop]);
    try {
      s = await startServer(t, { daemon: true });
      const run = ((await s.call('adopt_terminal', { target: 'mine' })) as Summary).run_id as string;
      await runWhen(s, run, (r) => r.status === 'waiting');
      const panePid = user(['display-message', '-p', '-t', '=mine:', '#{pane_pid}']).trim();
      await killOwner(t);
      // The next owner takes it again (the note), as the same run, waiting at its prompt.
      await eventually(async () => (await adoptions(s!, run).catch(() => [])).length === 1);
      const again = await runWhen(s, run, (r) => r.status === 'waiting');
      expect(again.waiting_for).toMatchObject({ kind: 'input' });
      await s.call('send_keys', { run, text: 'after-the-crash', enter: true });
      await eventually(() => user(['capture-pane', '-p', '-t', '=mine:']).includes('got:after-the-crash'));
      // Cancel detaches: the user's program is the same one, still there.
      expect(((await s.call('cancel_run', { run, force: true })) as Summary).status).toBe('cancelled');
      expect(user(['display-message', '-p', '-t', '=mine:', '#{pane_pid}']).trim()).toBe(panePid);
      expect(alive(Number(panePid))).toBe(true);
    } finally {
      try {
        user(['kill-server']);
      } catch {
        // already gone
      }
    }
  });

  it('an adopted run takes follow_up (typed into it) and cancel_run: cancelled, no session or process left', async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'long', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    const [pid] = await statusPids(s, run);
    await killOwner(t);
    await eventually(async () => (await adoptions(s!, run).catch(() => [])).length === 1);
    const same = (await s.call('follow_up', { run, message: 'echo typed-in' })) as Summary;
    expect(same.run_id).toBe(run);
    await eventually(async () =>
      ((await s!.call('read_terminal', { run })) as Summary).screen.includes('echo typed-in'),
    );
    const cancelled = (await s.call('cancel_run', { run })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    await eventually(() => tmuxSessions(t).length === 0);
    await eventually(() => programs(t).length === 0 && groupGone(pid as number));
  });

  it("a follow-up run's new program is the one adopted (the session records its latest tmux session)", async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const first = ((await s.call('spawn_run', { agent: 'quick', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, first, (r) => r.status === 'completed');
    const next = ((await s.call('follow_up', { run: first, message: 'again' })) as Summary).run_id as string;
    expect(next).not.toBe(first);
    await runWhen(s, next, (r) => r.status === 'running');
    await killOwner(t);
    const done = await runWhen(s, next, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
    expect(done).toMatchObject({ status: 'completed', result: { stop_reason: 'exit 7' } });
    expect(await adoptions(s, next)).toHaveLength(1);
    await eventually(() => tmuxSessions(t).length === 0);
  });

  it('the program exits while no owner runs: the next owner completes the run with its exit code and last screen', async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'quick', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    // No front left to start a new owner.
    await s.close();
    s = undefined;
    await killOwner(t);
    // The program, then its wrapper (it waits 5 s for an owner to read the screen) exit; tmux keeps
    // the dead pane.
    await eventually(() => programs(t).length === 0, 15_000);
    expect(tmuxSessions(t)).toHaveLength(1);

    s = await startServer(t, { daemon: true });
    const done = await runWhen(s, run, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
    expect(done).toMatchObject({ status: 'completed', result: { stop_reason: 'exit 7' } });
    expect(done.result.text).toContain('bye');
    expect(await adoptions(s, run)).toHaveLength(1);
    await eventually(() => tmuxSessions(t).length === 0);
  });

  it("the program exits and baton's tmux server is gone too: completed with the exit code, the screen unknown", async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'quick', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    await s.close();
    s = undefined;
    await killOwner(t);
    await eventually(() => programs(t).length === 0, 15_000);
    execFileSync('tmux', ['-L', tmuxSocketName(t.home), 'kill-server']);

    s = await startServer(t, { daemon: true });
    const done = await runWhen(s, run, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
    expect(done).toMatchObject({ status: 'completed', result: { stop_reason: 'exit 7' } });
    expect(done.result.text).toContain('its last screen is unknown');
    expect(tmuxSessions(t)).toEqual([]);
  });

  it('the tmux session is gone and the program left no exit status: interrupted, as without adoption', async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'long', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    await s.close();
    s = undefined;
    const owner = await killOwner(t);
    // Stopping tmux hangs the program up (and its wrapper, before it writes a status).
    execFileSync('tmux', ['-L', tmuxSocketName(t.home), 'kill-server']);
    await eventually(() => programs(t).length === 0);

    s = await startServer(t, { daemon: true });
    const after = await runWhen(s, run, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
    expect(after).toMatchObject({ status: 'interrupted', error: { code: 'INTERRUPTED' } });
    expect(after.error.message).toContain(`baton (pid ${owner}) stopped while this run was running`);
  });

  it('a clean stop (baton daemon stop --force) still stops terminal runs: cancelled, no tmux session left', async () => {
    t = env();
    s = await startServer(t, { daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'long', cwd: t.work })) as Summary).run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    const [pid] = await statusPids(s, run);
    await s.close();
    s = undefined;
    const stopped = await runCli(t, ['daemon', 'stop', '--force']);
    expect(stopped.code).toBe(0);
    await eventually(() => programs(t).length === 0 && groupGone(pid as number));
    expect(tmuxSessions(t)).toEqual([]);
    s = await startServer(t, { daemon: true });
    const after = (await s.call('get_run', { run })) as Summary;
    expect(after).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    expect(await adoptions(s, run)).toEqual([]);
  });
});
