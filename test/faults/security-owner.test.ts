// The owner socket (issue 14, audit C4.2, C10, C11, redone on the one-owner design): a front can
// never name `by` (the owner derives it from the front's kind), BATON_PARENT_RUN travels with the
// CLI to the daemon so delegation.max_depth holds, and another local user cannot squat the lock.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  daemonPid,
  eventually,
  makeEnv,
  rawFront,
  runCli,
  steps,
  type Summary,
  type TestEnv,
} from '../helpers.js';

const ASK = steps({ permission: { title: 'Write out.txt', kind: 'edit' } });

describe('security: the owner socket', () => {
  let t: TestEnv | undefined;
  const squatters: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const s of squatters.splice(0)) s.kill('SIGKILL');
    t?.cleanup();
    t = undefined;
  });

  it('C4.2: a front cannot name who answered; the owner records its own channel', async () => {
    t = makeEnv();
    expect((await runCli(t, ['daemon', 'start'])).code).toBe(0);
    const cli = await rawFront(t.home, { kind: 'cli' });
    const spawned = await cli.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt: ASK });
    const run = spawned.result?.run_id as string;
    expect(run, JSON.stringify(spawned)).toMatch(/^r_/);
    await eventually(async () => (await cli.call('get_run', { run })).result?.status === 'waiting');

    // `by` in the arguments (what the old control socket took) is an unknown parameter.
    const named = await cli.call('answer_permission', { run, option_id: 'allow_once', by: 'dashboard' });
    expect(named.error?.code).toBe('INVALID_PARAMS');
    expect(named.error?.message).toContain('by');
    // A channel of another front, or a policy, is refused.
    for (const via of ['policy:allow_all', 'profile:x', 'dashboard', 'caller']) {
      const r = await cli.call('answer_permission', { run, option_id: 'allow_once' }, via);
      expect(r.error?.code, via).toBe('FORBIDDEN');
    }
    expect((await cli.call('get_run', { run })).result?.status).toBe('waiting');
    // Its own channel: recorded as such.
    const ok = await cli.call('answer_permission', { run, option_id: 'allow_once' }, 'script');
    expect(ok.error, JSON.stringify(ok)).toBeUndefined();
    const events = await cli.call('get_events', { run, types: ['permission_resolved'] });
    const resolved = (events.result?.events as Summary[])[0];
    expect(resolved?.data).toMatchObject({ option_id: 'allow_once', by: 'script' });
    cli.close();
  });

  it('C10: BATON_PARENT_RUN travels with the CLI to the daemon, so delegation.max_depth holds', async () => {
    t = makeEnv({ delegation: { max_depth: 0 } });
    const parent = await runCli(t, ['run', 'fixture', 'the parent', '--json']);
    expect(parent.code, parent.stderr).toBe(0);
    const parentId = (JSON.parse(parent.stdout) as Summary).run_id as string;
    // The daemon is up (the first run started it): the child's CLI is a front of it.
    expect(daemonPid(t.home)).toBeDefined();
    const child = await runCli({ ...t, env: { ...t.env, BATON_PARENT_RUN: parentId } }, [
      'run',
      'fixture',
      'a grandchild',
      '--json',
    ]);
    expect(child.code).not.toBe(0);
    expect(child.stderr).toContain('FORBIDDEN');
    expect(child.stderr).toContain('delegation.max_depth');
    const listed = JSON.parse((await runCli(t, ['ls', '--json'])).stdout) as { runs: Summary[] };
    expect(listed.runs.map((r) => r.run_id)).toEqual([parentId]);
  });

  it('C11: another local user cannot take the owner lock first (the name is a secret in the 0700 home)', async () => {
    t = makeEnv();
    const env = t;
    // The names an attacker can compute from the path: the old lock's, and guesses at the new one.
    const digest = createHash('sha256').update(env.home).digest('hex');
    const names = [`baton-daemon-${digest.slice(0, 24)}`, `baton-owner-${digest.slice(0, 32)}`];
    const squat = spawn(
      'su',
      [
        'nobody',
        '-s',
        '/bin/sh',
        '-c',
        `exec ${process.execPath} -e 'const n=require("net");for(const x of process.argv.slice(1))n.createServer().listen("\\0"+x);console.log("ready")' ${names.join(' ')}`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    squatters.push(squat);
    await new Promise((r) => squat.stdout?.once('data', r));
    const started = await runCli(env, ['daemon', 'start', '--json']);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ started: true });
    const run = await runCli(env, ['run', 'fixture', 'hello', '--json']);
    expect(run.code, run.stderr).toBe(0);
    // The key the lock's name comes from cannot be read by that user.
    expect(statSync(join(env.home, 'owner.lock')).mode & 0o777).toBe(0o600);
    expect(statSync(env.home).mode & 0o777).toBe(0o700);
    let read = '';
    try {
      read = execFileSync('su', ['nobody', '-s', '/bin/sh', '-c', `cat ${join(env.home, 'owner.lock')}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      read = '';
    }
    expect(read).toBe('');
  });
});
