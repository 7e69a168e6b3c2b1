// Profiles: named presets from the config, applied by spawn_run's `profile`; explicit parameters
// win; the profile's tool rules answer permission requests before the policy.
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv, startServer, steps, type Server, type Summary, type TestEnv } from './helpers.js';

describe('profiles', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it('fills agent, policy and timeout, adds instructions, answers by its tool rules, and records what it applied', async () => {
    t = makeEnv({
      profiles: {
        careful: {
          agent: 'fixture',
          policy: 'ask',
          timeout: '2m',
          instructions: 'Keep it short.',
          deny_tools: ['Write *'],
          allow_tools: ['read', 'Run the tests'],
        },
      },
    });
    s = await startServer(t);
    const prompt = steps(
      {
        permission: {
          title: 'Write out.txt',
          kind: 'edit',
          allowed: [{ message: 'wrote' }],
          rejected: [{ message: 'not written' }],
        },
      },
      {
        permission: {
          title: 'Run the tests',
          kind: 'execute',
          allowed: [{ message: 'tests ran' }],
          rejected: [{ message: 'no tests' }],
        },
      },
      {
        permission: {
          title: 'Look around',
          kind: 'read',
          allowed: [{ message: 'looked' }],
          rejected: [{ message: 'did not look' }],
        },
      },
    );
    const run = (await s.call('spawn_run', { profile: 'careful', cwd: t.work, prompt })) as Summary;
    expect(run).toMatchObject({ agent: 'fixture', policy: 'ask', profile: 'careful' });
    const done = (
      (await s.call('wait_run', { runs: [run.run_id], until: 'finished', timeout: 30 })) as Summary
    ).runs[0];
    // Never waited: every request was answered by the profile.
    expect(done.status).toBe('completed');
    const events = ((await s.call('get_events', { run: run.run_id, limit: 200 })) as Summary)
      .events as Summary[];
    const answers = events
      .filter((e) => e.type === 'permission_resolved')
      .map((e) => [e.data.kind, e.data.by]);
    expect(answers).toEqual([
      ['reject_once', 'profile:careful'],
      ['allow_once', 'profile:careful'],
      ['allow_once', 'profile:careful'],
    ]);
    expect(events.some((e) => e.type === 'status' && e.data.status === 'waiting')).toBe(false);
    const said = events.filter((e) => e.type === 'message').map((e) => e.data.text as string);
    expect(said[0]?.endsWith('\n\nKeep it short.')).toBe(true);
    expect(said.slice(1)).toEqual(['not written', 'tests ran', 'looked']);
    const applied = events.find((e) => e.type === 'raw' && e.data.profile === 'careful');
    expect(applied?.data.values).toMatchObject({
      agent: 'fixture',
      policy: 'ask',
      timeout: '2m',
      instructions: 'Keep it short.',
    });

    // Explicit parameters win over the profile.
    const mine = (await s.call('spawn_run', {
      profile: 'careful',
      policy: 'allow_all',
      cwd: t.work,
      prompt: steps({ message: 'hi' }),
    })) as Summary;
    expect(mine.policy).toBe('allow_all');

    const unknown = (await s.raw('spawn_run', { profile: 'nope', cwd: t.work, prompt: 'x' })) as Summary;
    expect(unknown.structuredContent.error.code).toBe('INVALID_PARAMS');
    expect(unknown.structuredContent.error.message).toContain('careful');
    const noAgent = (await s.raw('spawn_run', { cwd: t.work, prompt: 'x' })) as Summary;
    expect(noAgent.structuredContent.error.message).toContain('agent is required');
  });
});
