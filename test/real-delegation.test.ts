// Delegation end to end: the real Claude Code ACP adapter, offered baton as an MCP server in
// session/new (delegation.offer_to_agents), calls its spawn_run (scripted model server, offline);
// the run it starts is a child of its own run.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer } from './fixtures/model-server.mjs';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import { eventually, makeEnv, startServer, type Server, type Summary, type TestEnv } from './helpers.js';

let model: ModelServer;
beforeAll(async () => {
  model = await startModelServer();
});
afterAll(async () => {
  await model.close();
});

describe('delegation with a real agent', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it("claude-acp calls the baton it was offered; the run it starts has the agent's run as parent", async () => {
    t = makeEnv((dir) => {
      const home = join(dir, 'claude-home');
      mkdirSync(home, { recursive: true });
      setupAgentHome('claude-acp', home, model.url);
      return {
        delegation: { offer_to_agents: true },
        agents: { 'claude-acp': realAgentConfig('claude-acp', home, model.url) },
      };
    });
    s = await startServer(t);
    const args = { agent: 'demo', cwd: t.work, prompt: 'hello from a sub-agent', label: 'grandchild' };
    const parent = (await s.call('spawn_run', {
      agent: 'claude-acp',
      cwd: t.work,
      prompt: `CALL_TOOL spawn_run ${JSON.stringify(args)}`,
      policy: 'allow_all',
    })) as Summary;
    const done = (
      (await s.call('wait_run', { runs: [parent.run_id], until: 'finished', timeout: 55 })) as Summary
    ).runs[0];
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toMatch(/tool said: .*"run_id":"r_/);
    const child = (await eventually(async () => {
      const r = (await s!.call('get_run', { run: 'grandchild' }).catch(() => undefined)) as
        Summary | undefined;
      return r;
    })) as Summary;
    expect(child.parent_run_id).toBe(parent.run_id);
    const usage = (await s.call('get_usage', { run: parent.run_id })) as Summary;
    expect(usage.tree.runs).toBe(2);
  });
});
