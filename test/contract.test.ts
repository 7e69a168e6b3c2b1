// The driver contract, once for every agent: the fixture ACP agent and the REAL agent CLIs
// (claude-code, codex, gemini, claude-acp, codex-acp — exact pinned devDependencies), each driven
// through baton's MCP tools offline against the scripted model server (test/fixtures/model-server.mjs).
// Every test gets a fresh BATON_HOME and an isolated HOME for the agent. Where an agent genuinely
// cannot do something, its case says so with a reason: that test is an expected failure (`it.fails`),
// so it turns red the day the agent gains the capability.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer, type RecordedRequest } from './fixtures/model-server.mjs';
import { REAL_AGENT_PROTOCOLS, realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import {
  eventually,
  FIXTURE_AGENT,
  makeEnv,
  sleep,
  startServer,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
  pidsWithEnv,
} from './helpers.js';
import { ANSWER_SCHEMA, CONTRACT_SCENARIO } from './contract-steps.js';

/** The scenarios of the contract. */
type Scenario =
  | 'allow'
  | 'deny'
  | 'follow_up'
  | 'policy'
  | 'resume'
  | 'cancel'
  | 'structured'
  | 'usage'
  | 'model'
  | 'missing';

type Ctx = { dir: string; home: string; model: ModelServer };

type AgentCase = {
  /** baton agent name (a built-in, overridden in the test config to point at the model server). */
  name: string;
  /** Which protocol of the model server it speaks; none for the fixture agent. */
  protocol?: 'gemini' | 'anthropic' | 'openai';
  /** The agent's config entry (driver, command, args, env). */
  config: (c: Ctx) => Record<string, unknown>;
  /** Files the agent needs in its isolated HOME (settings, provider config). */
  setup?: (c: Ctx) => void;
  /** Scenarios this agent cannot pass, with the reason (expected failures). */
  cannot?: Partial<Record<Scenario, string>>;
  /** Usage fields the agent reports, checked to be positive numbers. */
  usage: string[];
  /** A model to ask for (one the agent offers), the model id the API then sees, how to read it from a request. */
  model?: [string, RegExp, (r: RecordedRequest) => unknown];
  /** The agent lists the models it offers (an ACP model option), so an unknown one is refused. */
  modelList?: boolean;
};

const bodyModel = (r: RecordedRequest) => r.body.model;
const pathModel = (r: RecordedRequest) => /models\/([^:]+):/.exec(r.path)?.[1];
const MODELS: Record<string, [string, RegExp, (r: RecordedRequest) => unknown]> = {
  'claude-code': ['claude-sonnet-4-5', /^claude-sonnet-4-5$/, bodyModel],
  codex: ['gpt-5.6-terra', /^gpt-5\.6-terra$/, bodyModel],
  gemini: ['gemini-2.5-pro', /^gemini-2\.5-pro$/, pathModel],
  // claude-agent-acp offers aliases (default, sonnet[1m], opus[1m], haiku); haiku is Claude Haiku.
  'claude-acp': ['haiku', /^claude-haiku-/, bodyModel],
  'codex-acp': ['gpt-5.4', /^gpt-5\.4$/, bodyModel],
};

const REAL: [string, string[], Partial<Record<Scenario, string>>][] = [
  ['claude-code', ['input_tokens', 'output_tokens', 'cost_usd'], {}],
  ['codex', ['input_tokens', 'output_tokens', 'context_size'], {}],
  [
    'gemini',
    ['input_tokens', 'output_tokens'],
    {
      resume:
        'gemini-cli 0.61.0 wipes a session that session/load reopens within the wall-clock minute it was created ("No previous sessions found")',
    },
  ],
  ['claude-acp', ['cost_usd', 'context_size'], {}],
  ['codex-acp', ['context_used', 'context_size'], {}],
];

const AGENTS: AgentCase[] = [
  {
    name: 'fixture',
    config: (c) => ({
      driver: 'acp',
      command: process.execPath,
      args: [FIXTURE_AGENT, '--scenario', CONTRACT_SCENARIO, '--state', join(c.dir, 'fixture-state')],
      env: { HOME: c.home },
    }),
    usage: ['input_tokens', 'output_tokens'],
    cannot: { model: 'the fixture agent calls no model API (it offers no model option)' },
  },
  ...REAL.map(([name, usage, cannot]) => ({
    name,
    usage,
    model: MODELS[name],
    modelList: ['gemini', 'claude-acp', 'codex-acp'].includes(name),
    protocol: REAL_AGENT_PROTOCOLS[name],
    config: (c: Ctx) => realAgentConfig(name, c.home, c.model.url),
    setup: (c: Ctx) => setupAgentHome(name, c.home, c.model.url),
    cannot,
  })),
];

describe.each(AGENTS)('contract: $name', (agent) => {
  let model: ModelServer;
  let t: TestEnv;
  let s: Server;
  let agentHome: string;
  let extraConfig: Record<string, unknown> = {};

  /** Tool-offering model requests of this agent's protocol (not titles or classifiers). */
  const turns = (): RecordedRequest[] =>
    model.requests.filter(
      (r) => r.protocol === agent.protocol && r.reply && !('side' in r.reply && r.reply.side),
    );

  const test = (scenario: Scenario, title: string, fn: () => Promise<void>) => {
    const reason = agent.cannot?.[scenario];
    if (reason) it.fails(`${title} — expected failure: ${reason}`, fn);
    else it(title, fn);
  };

  async function start(config: Record<string, unknown> = {}): Promise<void> {
    t = makeEnv((dir) => {
      agentHome = join(dir, 'agent-home');
      mkdirSync(agentHome);
      const ctx = { dir, home: agentHome, model };
      agent.setup?.(ctx);
      return { agents: { [agent.name]: agent.config(ctx) }, ...config };
    });
    s = await startServer(t);
  }

  async function spawn(prompt: string, extra: Record<string, unknown> = {}): Promise<Summary> {
    return (await s.call('spawn_run', { agent: agent.name, cwd: t.work, prompt, ...extra })) as Summary;
  }

  /** Waits for the permission request, checks it (and `before`), then answers with the first option of `kinds`. */
  async function answer(
    run: Summary,
    kinds: string[],
    before?: (waiting: Summary) => void,
  ): Promise<Summary> {
    const waiting = (await waitFor(s, run.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    before?.(waiting);
    const option = kinds
      .map((k) => (waiting.waiting_for.options as Summary[]).find((o) => o.kind === k))
      .find(Boolean);
    expect(option, `an option of kind ${kinds.join('/')}`).toBeDefined();
    await s.call('answer_permission', { run: run.run_id, option_id: option?.option_id });
    return waiting;
  }

  beforeAll(async () => {
    model = await startModelServer();
  });
  afterAll(async () => {
    await model?.close();
  });
  beforeEach(() => {
    model.requests.length = 0;
    extraConfig = {};
  });
  afterEach(async () => {
    await s?.close();
    // baton stops its agents' process groups when it exits: nothing may outlive the test.
    await eventually(() => pidsWithEnv(agentHome).length === 0, 10_000);
    t?.cleanup();
  });

  test('allow', 'write with policy ask → waiting → allow → the file exists, completed', async () => {
    await start(extraConfig);
    const run = await spawn('WRITE_FILE contract.txt hello-contract', { policy: 'ask' });
    await answer(run, ['allow_once', 'allow_always'], (waiting) => {
      expect(waiting.waiting_for.tool_call.kind).toBe('edit');
      expect(JSON.stringify(waiting.waiting_for)).toContain('contract.txt');
      // Nothing is written while the question is open.
      expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
    });
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toContain('done: wrote contract.txt');
    expect(readFileSync(join(t.work, 'contract.txt'), 'utf8').trim()).toBe('hello-contract');
    const { events } = (await s.call('get_events', { run: run.run_id, types: ['permission_resolved'] })) as {
      events: Summary[];
    };
    expect(events.map((e) => [e.data.outcome, e.data.by])).toEqual([['selected', 'caller']]);
  });

  test('deny', 'the same with deny → no file, and the run reports the denial', async () => {
    await start();
    const run = await spawn('WRITE_FILE contract.txt hello-contract', { policy: 'ask' });
    await answer(run, ['reject_once', 'reject_always']);
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
    const { events } = (await s.call('get_events', { run: run.run_id, limit: 500 })) as { events: Summary[] };
    const resolved = events.find((e) => e.type === 'permission_resolved');
    expect(resolved?.data).toMatchObject({ outcome: 'selected', kind: expect.stringMatching(/^reject/) });
    // Either the agent says it was not written (the model saw the refusal), or it ended the turn as cancelled.
    if (done.status === 'completed') expect(done.result.text).toMatch(/not written: contract\.txt/);
    else expect(done.status).toBe('cancelled');
  });

  test('follow_up', 'follow_up → the next turn carries the earlier conversation', async () => {
    await start();
    const first = await spawn('REMEMBER the word alpha-7');
    expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('completed');
    const next = (await s.call('follow_up', {
      run: first.run_id,
      message: 'what was the code word?',
    })) as Summary;
    expect(next.session_id).toBe(first.session_id);
    const done = (await waitFor(s, next.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    if (!agent.protocol) {
      expect(done.result.text).toContain('REMEMBER the word alpha-7');
    } else {
      const last = turns().at(-1);
      const body = JSON.stringify(last?.body);
      expect(body).toContain('what was the code word?');
      expect(body).toContain('alpha-7');
      expect(done.result.text).toContain('what was the code word?');
    }
  });

  test('policy', 'a deny_all run on a warm session opened by a laxer run writes nothing', async () => {
    await start();
    // auto_edit starts claude in acceptEdits; allow_all gives codex a sandbox that never asks.
    for (const lax of ['auto_edit', 'allow_all']) {
      const first = await spawn(`REMEMBER the word ${lax}`, { policy: lax });
      expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('completed');
      const strict = await spawn('WRITE_FILE contract.txt hello-contract', {
        session_id: first.session_id,
        policy: 'deny_all',
      });
      const done = (await waitFor(s, strict.run_id)) as Summary;
      expect(['completed', 'cancelled']).toContain(done.status);
      expect(existsSync(join(t.work, 'contract.txt')), `written after a ${lax} run`).toBe(false);
    }
  });

  test('resume', 'follow_up after the agent process is gone reopens the session (resume/load)', async () => {
    // gemini's failure depends on the wall clock (a reopen within the minute the session was made):
    // start early enough in a minute that the whole test stays in it, so the outcome is the same
    // every time (it takes about 5 s; past second 35 it waits for the next minute).
    if (agent.name === 'gemini' && new Date().getSeconds() > 35) await sleep(61_000 - (Date.now() % 60_000));
    await start({ session_idle_timeout: '1s' });
    const first = await spawn('REMEMBER the word alpha-7');
    expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('completed');
    await eventually(() => pidsWithEnv(agentHome).length === 0, 10_000);
    const next = (await s.call('follow_up', {
      run: first.run_id,
      message: 'what was the code word?',
    })) as Summary;
    const done = (await waitFor(s, next.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    if (!agent.protocol) expect(done.result.text).toContain('REMEMBER the word alpha-7');
    else {
      expect(JSON.stringify(turns().at(-1)?.body)).toContain('alpha-7');
      expect(done.result.text).toContain('what was the code word?');
    }
  });

  test('cancel', 'cancel mid-turn → cancelled, no agent process left', async () => {
    await start();
    const run = await spawn('SLOW 20');
    await eventually(
      async () => ((await s.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    // Mid-turn: the model is streaming its slow answer (or the fixture is sleeping).
    if (agent.protocol)
      await eventually(() => turns().some((r) => r.reply?.type === 'text' && r.reply.slowMs));
    else await sleep(300);
    expect(pidsWithEnv(agentHome).length).toBeGreaterThan(0);
    const started = Date.now();
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(8000);
    const after = (await s.call('get_run', { run: run.run_id })) as Summary;
    expect(after.status).toBe('cancelled');
    // The ladder may leave the process warm only if the agent ended its turn; either way none is left at exit.
    await s.close();
    await eventually(() => pidsWithEnv(agentHome).length === 0, 10_000);
  });

  test('structured', 'output_schema → result.structured validated', async () => {
    await start();
    const run = await spawn('ANSWER_JSON {"answer":42,"word":"baton"}', { output_schema: ANSWER_SCHEMA });
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.structured_error).toBeUndefined();
    expect(done.result.structured).toEqual({ answer: 42, word: 'baton' });
  });

  test('usage', 'usage reported by the agent reaches result.usage', async () => {
    await start();
    const run = await spawn('say hi');
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const usage = done.result.usage as Record<string, number> | undefined;
    for (const field of agent.usage) expect(usage?.[field], `usage.${field}`).toBeGreaterThan(0);
  });

  test('model', 'model → the agent asks the model API for that model', async () => {
    await start();
    const [id, expected, read] = agent.model ?? ['some-model', /some-model/, () => undefined];
    const run = await spawn('say hi', { model: id });
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const last = model.requests.filter((r) => r.protocol === agent.protocol).at(-1);
    expect(last && read(last)).toMatch(expected);
    if (agent.modelList) {
      // An ACP agent lists its models: one it does not offer fails the run with the list, at once.
      const bad = await spawn('say hi', { model: 'no-such-model' });
      const failed = (await waitFor(s, bad.run_id)) as Summary;
      expect(failed.status).toBe('failed');
      expect(failed.error.code).toBe('MODEL_NOT_AVAILABLE');
      expect(failed.error.message).toContain(`choose one of: `);
      expect(failed.error.message).toContain(id);
    }
  });

  test('missing', 'agent binary missing → spawn_run fails fast with the doctor fix', async () => {
    await start();
    await s.close();
    // The same agent with its command gone: the built-in's install hint must reach the caller.
    const cfg = JSON.parse(readFileSync(join(t.home, 'config.json'), 'utf8')) as Summary;
    cfg.agents[agent.name].command = join(t.dir, 'not-installed', 'agent-cli');
    writeFileSync(join(t.home, 'config.json'), JSON.stringify(cfg));
    s = await startServer(t);
    const started = Date.now();
    const res = await s.raw('spawn_run', { agent: agent.name, cwd: t.work, prompt: 'hi' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.isError).toBe(true);
    const error = (res.structuredContent as Summary).error;
    expect(error.code).toBe('AGENT_NOT_INSTALLED');
    const agents = ((await s.call('list_agents')) as { agents: Summary[] }).agents;
    const info = agents.find((a) => a.name === agent.name);
    expect(info).toMatchObject({ installed: false, ready: false });
    expect(error.message).toContain(`Fix: ${info?.fix}`);
    // `name`: that agent alone, the same answer; an unknown one is AGENT_NOT_FOUND.
    const one = ((await s.call('list_agents', { name: agent.name })) as { agents: Summary[] }).agents;
    expect(one).toEqual([info]);
    const none = await s.raw('list_agents', { name: 'no-such-agent' });
    expect((none.structuredContent as Summary).error.code).toBe('AGENT_NOT_FOUND');
    expect(((await s.call('list_runs')) as { runs: unknown[] }).runs).toEqual([]);
  });
});
