// The native drivers against agents that write lines of every wrong shape: baton records them,
// finishes the run and keeps serving (a crash of baton would end the MCP connection).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv, ROOT, startServer, waitFor, type Server, type Summary, type TestEnv } from './helpers.js';

const GARBLED = join(ROOT, 'test', 'fixtures', 'garbled-agent.mjs');

describe.each(['claude', 'codex'] as const)('the %s driver given garbled output', (as) => {
  let t: TestEnv;
  let s: Server;
  afterEach(async () => {
    await s?.close();
    t?.cleanup();
  });

  it('records the junk as raw events, completes the run, and baton keeps serving', async () => {
    const driver = as === 'claude' ? 'claude-code' : 'codex';
    t = makeEnv({
      agents: {
        garbled: {
          driver,
          command: process.execPath,
          // codex's driver appends `app-server` unless it is there: give it, the fixture ignores it.
          args: [GARBLED, '--as', as, ...(as === 'codex' ? ['app-server'] : [])],
        },
      },
    });
    s = await startServer(t);
    const run = (await s.call('spawn_run', { agent: 'garbled', cwd: t.work, prompt: 'go' })) as Summary;
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toContain('still here');
    const { events } = (await s.call('get_events', { run: run.run_id, types: ['raw'], limit: 200 })) as {
      events: Summary[];
    };
    const raw = JSON.stringify(events);
    for (const junk of ['not json at all', 'null']) expect(raw).toContain(junk);
    // Still serving: the MCP connection and the engine answer.
    const status = (await s.call('server_status')) as Summary;
    expect(status.runs.total).toBe(1);
  });
});
