// verify_run: a read-only review run of another run's changes against its task, with a validated
// verdict; a reviewer whose answer does not validate yields fail_closed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fixtureAgent,
  replyingAgent,
  makeEnv,
  startServer,
  steps,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

describe('verify_run', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it("reviews a run's change read-only and returns the validated verdict; nonsense is fail_closed", async () => {
    t = makeEnv((dir) => ({
      agents: {
        fixture: fixtureAgent(dir),
        approves: replyingAgent(
          dir,
          'approves',
          'reviewing|did not match',
          JSON.stringify({
            verdict: 'pass_with_restrictions',
            findings: [{ severity: 'minor', message: 'no test for the new line', path: 'notes.txt' }],
            evidence: ['notes.txt:2'],
          }),
        ),
        rambles: replyingAgent(dir, 'rambles', 'reviewing|did not match', 'Looks great to me, ship it!'),
      },
    }));
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: t.work });
    writeFileSync(join(t.work, 'notes.txt'), 'first\n');
    execFileSync('git', ['add', '.'], { cwd: t.work });
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-q', '-m', 'start'], {
      cwd: t.work,
    });
    s = await startServer(t);
    const work = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      label: 'change',
      prompt: steps({ write_file: { path: 'notes.txt', content: 'first\nsecond line\n' } }),
    })) as Summary;
    await s.call('wait_run', { runs: [work.run_id], until: 'finished', timeout: 30 });

    const verdict = (await s.call('verify_run', {
      run: 'change',
      agent: 'approves',
      task: 'Add a second line to notes.txt',
    })) as Summary;
    expect(verdict).toMatchObject({
      status: 'completed',
      reviewed_run: work.run_id,
      verdict: 'pass_with_restrictions',
      findings: [{ severity: 'minor', message: 'no test for the new line', path: 'notes.txt' }],
      evidence: ['notes.txt:2'],
    });
    // The reviewer worked read-only and saw the task and the diff.
    const review = (await s.call('get_run', { run: verdict.run_id })) as Summary;
    expect(review.policy).toBe('deny_all');
    expect(review.result.verification.verdict).toBe('pass_with_restrictions');
    const asked = ((await s.call('get_events', { run: verdict.run_id, types: ['message'] })) as Summary)
      .events[0].data.text as string;
    expect(asked).toContain('Add a second line to notes.txt');
    expect(asked).toContain('+second line');

    const failed = (await s.call('verify_run', { run: 'change', agent: 'rambles' })) as Summary;
    expect(failed.verdict).toBe('fail_closed');
    expect(failed.findings[0]).toMatchObject({ severity: 'critical' });
    expect(failed.findings[0].message).toContain('did not validate');
    expect(failed.evidence).toEqual([]);

    const bad = (await s.raw('verify_run', { agent: 'approves' })) as Summary;
    expect(bad.structuredContent.error.code).toBe('INVALID_PARAMS');
  });
});
