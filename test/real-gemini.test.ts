// The real Gemini CLI (`@google/gemini-cli`, a devDependency) driven end to end through baton over
// ACP (`gemini --acp`), offline: the model is the scripted test/fixtures/model-server.mjs, and
// gemini's HOME is an isolated temp dir (never the real ~/.gemini).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer } from './fixtures/model-server.mjs';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import {
  eventually,
  makeEnv,
  startServer,
  waitFor,
  type Server,
  type TestEnv,
  type Summary,
  pidsWithEnv,
} from './helpers.js';

describe('the real Gemini CLI through baton (offline)', () => {
  let model: ModelServer;
  let t: TestEnv;
  let s: Server;
  let geminiHome: string;

  beforeAll(async () => {
    model = await startModelServer();
  });
  afterAll(async () => {
    await model?.close();
  });

  beforeEach(async () => {
    model.requests.length = 0;
    // The agent's env (test/fixtures/real-agents.mjs) sets HOME and the model server; baton's own env
    // (from makeEnv) is only PATH, HOME and BATON_HOME, so nothing of the developer's setup leaks in.
    t = makeEnv((dir) => {
      geminiHome = join(dir, 'gemini-home');
      mkdirSync(geminiHome);
      setupAgentHome('gemini', geminiHome, model.url);
      return { agents: { gemini: realAgentConfig('gemini', geminiHome, model.url) } };
    });
    s = await startServer(t);
  });
  afterEach(async () => {
    await s.close();
    // baton stops its agents' process groups when it exits: no gemini process may outlive the test.
    await eventually(() => pidsWithEnv(geminiHome).length === 0, 10_000);
    t.cleanup();
  });

  it('asks permission for write_file, writes the file through baton once allowed, and completes', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'gemini',
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt hi-from-gemini',
      policy: 'ask',
    })) as Summary;

    const waiting = (await waitFor(s, spawned.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    expect(waiting.waiting_for.tool_call).toMatchObject({
      kind: 'edit',
      locations: [join(t.work, 'hello.txt')],
    });
    expect(waiting.waiting_for.options.map((o: Summary) => [o.option_id, o.kind])).toEqual([
      ['proceed_always', 'allow_always'],
      ['proceed_once', 'allow_once'],
      ['cancel', 'reject_once'],
    ]);
    expect(existsSync(join(t.work, 'hello.txt'))).toBe(false);
    // the agent is alive (and findable, so the leak check in afterEach means something)
    expect(pidsWithEnv(geminiHome).length).toBeGreaterThan(0);

    await s.call('answer_permission', { run: spawned.run_id, option_id: 'proceed_once' });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('done: wrote hello.txt');
    expect(done.result.stop_reason).toBe('end_turn');
    expect(readFileSync(join(t.work, 'hello.txt'), 'utf8')).toBe('hi-from-gemini');

    const { events } = (await s.call('get_events', { run: spawned.run_id, limit: 500 })) as {
      events: Summary[];
    };
    // gemini announces a tool call that needs confirmation only inside its permission request
    // (no separate `tool_call` update), then reports it done with a `tool_call_update`.
    const req = events.find((e) => e.type === 'permission_request');
    const callId = req?.data.tool_call.tool_call_id as string;
    expect(callId).toMatch(/write_file/);
    expect(events.find((e) => e.type === 'permission_resolved')?.data).toMatchObject({
      option_id: 'proceed_once',
      by: 'caller',
    });
    const update = events.find((e) => e.type === 'tool_update' && e.data.tool_call_id === callId);
    expect(update?.data).toMatchObject({ kind: 'edit', status: 'completed' });
    expect(update?.data.content).toEqual([
      { type: 'diff', path: join(t.work, 'hello.txt'), old_text: '', new_text: 'hi-from-gemini' },
    ]);

    const turns = model.requests.filter((r) => r.path.endsWith(':streamGenerateContent'));
    expect(turns.map((r) => r.reply)).toEqual([
      { type: 'write_file', path: 'hello.txt', content: 'hi-from-gemini' },
      { type: 'text', text: 'done: wrote hello.txt' },
    ]);
    const call = turns[1]?.body.contents as { parts: { functionResponse?: unknown }[] }[];
    expect(JSON.stringify(call)).toContain('"functionResponse":{"name":"write_file"');
    expect(turns.every((r) => r.query === '?alt=sse' && r.headers['x-goog-api-key'] === 'dummy')).toBe(true);
  });

  it('a plain prompt completes with the echoed text', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'gemini',
      cwd: t.work,
      prompt: 'say hello back',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('echo: say hello back');
    const paths = model.requests.map((r) => r.path);
    expect(paths).toContain('/v1beta/models/gemini-3.5-flash-lite:generateContent');
    expect(paths.some((p) => p.endsWith(':streamGenerateContent'))).toBe(true);
  });
});
