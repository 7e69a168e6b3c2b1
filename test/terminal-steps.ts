// Steps shared by the tests of terminal runs (here and on runners): baton's tmux server for a
// home, a run's state once it holds, and the kill -9 of a daemon owner.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { alive, daemonPid, eventually, type Server, type Summary, type TestEnv } from './helpers.js';

/** The socket name of baton's tmux server for the BATON_HOME `home` (`tmux -L`). */
export function tmuxSocketName(home: string): string {
  return `baton-${createHash('sha256').update(home).digest('hex').slice(0, 12)}`;
}

/** Session names on the test's own tmux server (an empty list when it runs none). */
export function tmuxSessions(t: TestEnv): string[] {
  try {
    return execFileSync('tmux', ['-L', tmuxSocketName(t.home), 'list-sessions', '-F', '#{session_name}'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // no server: no sessions
  }
}

/** Stops the test's tmux server if a failed test left it (never one of another test). */
export function killTmuxServer(t: TestEnv): void {
  try {
    execFileSync('tmux', ['-L', tmuxSocketName(t.home), 'kill-server'], { stdio: 'ignore' });
  } catch {
    // no server left: the normal case
  }
}

/** The run's summary once `ok` holds for it; calls failing while the front reconnects are retried. */
export async function runWhen(
  s: Server,
  run: string,
  ok: (r: Summary) => boolean,
  ms = 30_000,
): Promise<Summary> {
  return eventually(async () => {
    const res = await s.raw('get_run', { run }).catch(() => undefined);
    const r = res && !res.isError ? (res.structuredContent as Summary) : undefined;
    return r && ok(r) ? r : undefined;
  }, ms);
}

/** Kills the daemon owner (kill -9) and waits until it is gone; returns its pid. */
export async function killOwner(t: TestEnv): Promise<number> {
  const owner = daemonPid(t.home) as number;
  expect(owner).toBeGreaterThan(0);
  process.kill(owner, 'SIGKILL');
  await eventually(() => !alive(owner));
  return owner;
}

/** The notes of the run's raw events saying which owner adopted it. */
export async function adoptions(s: Server, run: string): Promise<Summary[]> {
  const ev = (await s.call('get_events', { run, types: ['raw'], limit: 1000 })) as Summary;
  return ev.events.filter((e: Summary) => e.data.adopted_by).map((e: Summary) => e.data);
}

/** A terminal agent that runs `sh -c script` with `env`, on `runner` (its $0 names its processes). */
export function shTerminalAgent(script: string, env: Record<string, string>, runner: unknown): Summary {
  return { driver: 'terminal', command: '/bin/sh', args: ['-c', script, 'baton-term-test'], env, runner };
}

/**
 * A program that asks "Deploy? [y/N]", writes the answer, `$<mark>` and whether baton's own
 * LOCAL_ONLY_SECRET reached it to answer.txt in its folder, runs `extra`, prints answered=<answer>
 * and exits 3 ({@link answerDeploy}).
 */
export function deployQuestion(mark: string, extra = ''): string {
  return `printf "Deploy? [y/N] "; read a; echo "$a $${mark} \${LOCAL_ONLY_SECRET:-unset}" > answer.txt; ${extra}${extra ? '; ' : ''}echo answered=$a; exit 3`;
}

/**
 * The steps of a {@link deployQuestion} run: it waits with the question as a permission request
 * (y and n); `meanwhile` looks at it then; answer_permission types y; it completes with exit 3.
 */
export async function answerDeploy(
  s: Server,
  run: string,
  meanwhile: (asked: Summary) => void | Promise<void> = () => undefined,
): Promise<Summary> {
  const asked = await runWhen(s, run, (r) => r.waiting_for?.kind === 'permission');
  expect(asked.waiting_for.title).toBe('Deploy? [y/N]');
  expect(asked.waiting_for.options.map((o: Summary) => o.option_id)).toEqual(['y', 'n']);
  await meanwhile(asked);
  await s.call('answer_permission', { run, option_id: 'y', request_id: asked.waiting_for.request_id });
  const done = await runWhen(s, run, (r) => ['completed', 'failed', 'interrupted'].includes(r.status));
  expect(done, JSON.stringify(done.error)).toMatchObject({
    status: 'completed',
    result: { stop_reason: 'exit 3' },
  });
  expect(done.result.text).toContain('answered=y');
  return done;
}
