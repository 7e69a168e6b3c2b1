// output_schema with one corrective follow-up: an answer that does not validate is sent back once
// with its violations; the second answer decides (result.structured or structured_error).
import { afterEach, describe, expect, it } from 'vitest';
import {
  replyingAgent,
  makeEnv,
  startServer,
  steps,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

const SCHEMA = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };

describe('output_schema: one corrective follow-up', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it('invalid JSON gets one corrective follow-up; a valid second answer is the result', async () => {
    t = makeEnv((dir) => ({
      agents: {
        fixes: replyingAgent(dir, 'fixes', 'did not match', '{"ok": true}'),
        stubborn: replyingAgent(dir, 'stubborn', 'did not match', '{"ok": "still no"}'),
      },
    }));
    s = await startServer(t);
    const fixed = (await s.call('spawn_run', {
      agent: 'fixes',
      cwd: t.work,
      prompt: steps({ message: 'not JSON at all' }),
      output_schema: SCHEMA,
    })) as Summary;
    const stubborn = (await s.call('spawn_run', {
      agent: 'stubborn',
      cwd: t.work,
      prompt: steps({ message: '{"ok": 1}' }),
      output_schema: SCHEMA,
    })) as Summary;
    const f = (
      (await s.call('wait_run', { runs: [fixed.run_id], until: 'finished', timeout: 30 })) as Summary
    ).runs[0];
    expect(f.result).toMatchObject({ structured: { ok: true }, text: '{"ok": true}' });
    expect(f.result.structured_error).toBeUndefined();
    // What the agent was told: the violations and the schema.
    const prompts = ((await s.call('get_events', { run: fixed.run_id, types: ['warning'] })) as Summary)
      .events;
    expect(prompts[0].data).toMatchObject({
      kind: 'structured_output',
      errors: ['no JSON found in the last message'],
    });
    // The corrective prompt is part of the conversation.
    const said = ((await s.call('get_events', { run: fixed.run_id, types: ['message'] })) as Summary).events;
    expect(said.map((e: Summary) => e.data.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(said[2].data.text).toContain('did not match the required JSON Schema');

    // A second failure ends with structured_error listing the violations.
    const st = (await s.call('wait_run', {
      runs: [stubborn.run_id],
      until: 'finished',
      timeout: 30,
    })) as Summary;
    expect(st.runs[0].status).toBe('completed');
    expect(st.runs[0].result.structured).toBeUndefined();
    expect(st.runs[0].result.structured_error).toMatchObject({
      message: 'the final answer does not match output_schema',
      errors: ['/ok must be boolean'],
    });
    const warned = ((await s.call('get_events', { run: stubborn.run_id, types: ['warning'] })) as Summary)
      .events;
    expect(warned).toHaveLength(1);
    expect(warned[0].data.errors).toEqual(['/ok must be boolean']);
  });
});
