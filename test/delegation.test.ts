// Runs started by a sub-agent through baton: the agent's baton (BATON_PARENT_RUN in its
// environment) makes them children of its run; usage rolls up per session and per run tree; the
// depth limit refuses deeper runs; with delegation.offer_to_agents, ACP agents get baton as an
// MCP server in session/new.
import { afterEach, describe, expect, it } from 'vitest';
import {
  fixtureAgent,
  makeEnv,
  startServer,
  steps,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

describe('delegation and usage roll-ups', () => {
  let t: TestEnv;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    t.cleanup();
  });

  it("a child run started through the agent's baton has parent_run_id; the tree's usage includes it; depth 1 refuses a grandchild", async () => {
    t = makeEnv({ delegation: { max_depth: 1 } });
    const top = await startServer(t);
    servers.push(top);
    const parent = (await top.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'delegating' }, { prompt_usage: { input: 100, output: 10 } }),
    })) as Summary;
    await top.call('wait_run', { runs: [parent.run_id], until: 'finished', timeout: 30 });

    // What the parent's agent would start: a baton mcp with the parent's run in its environment.
    // The agent's own baton is a front of the owner (here the standalone top one).
    const sub = await startServer(
      { ...t, env: { ...t.env, BATON_PARENT_RUN: parent.run_id } },
      { daemon: true },
    );
    servers.push(sub);
    const child = (await sub.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'child work' }, { prompt_usage: { input: 40, output: 4 } }),
    })) as Summary;
    expect(child.parent_run_id).toBe(parent.run_id);
    await sub.call('wait_run', { runs: [child.run_id], until: 'finished', timeout: 30 });

    const usage = (await top.call('get_usage', { run: parent.run_id })) as Summary;
    expect(usage.run).toMatchObject({ input_tokens: 100, output_tokens: 10 });
    expect(usage.tree).toMatchObject({ runs: 2, usage: { input_tokens: 140, output_tokens: 14 } });
    expect(usage.session).toMatchObject({ runs: 1, usage: { input_tokens: 100 } });
    const status = (await top.call('server_status')) as Summary;
    expect(status.usage).toMatchObject({ input_tokens: 140, output_tokens: 14 });

    // The child's agent starting another run: depth 2 > max_depth 1.
    const subsub = await startServer(
      { ...t, env: { ...t.env, BATON_PARENT_RUN: child.run_id } },
      { daemon: true },
    );
    servers.push(subsub);
    const refused = (await subsub.raw('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'x',
    })) as Summary;
    expect(refused.structuredContent.error.code).toBe('FORBIDDEN');
    expect(refused.structuredContent.error.message).toContain('max_depth');
  });

  it('agents get BATON_PARENT_RUN in their environment, and baton as an MCP server when offer_to_agents is on', async () => {
    t = makeEnv((dir) => ({
      delegation: { offer_to_agents: true },
      agents: {
        fixture: fixtureAgent(dir),
        shell: { driver: 'terminal', command: 'sh', args: ['-c', 'echo "parent=$BATON_PARENT_RUN"'] },
      },
    }));
    const s = await startServer(t);
    servers.push(s);
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ mcp_servers: true }),
    })) as Summary;
    const done = (
      (await s.call('wait_run', { runs: [run.run_id], until: 'finished', timeout: 30 })) as Summary
    ).runs[0];
    expect(done.result.text).toContain('"name":"baton"');
    expect(done.result.text).toContain('BATON_PARENT_RUN');
    const sh = (await s.call('spawn_run', { agent: 'shell', cwd: t.work })) as Summary;
    const shDone = (
      (await s.call('wait_run', { runs: [sh.run_id], until: 'finished', timeout: 30 })) as Summary
    ).runs[0];
    expect(shDone.result.text).toContain(`parent=${sh.run_id}`);
  });
});
