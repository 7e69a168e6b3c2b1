// The real Claude Code interactive UI (the exact pinned devDependency) as a terminal run inside
// tmux, talking to the scripted model server offline: the prompt is typed into its input box, its
// permission menu becomes a baton permission request, the answer picks the menu item, the file is
// written, and the run waits at the empty input box until it is cancelled.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer } from './fixtures/model-server.mjs';
import {
  ROOT,
  eventually,
  makeEnv,
  startServer,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

const CLAUDE = join(ROOT, 'node_modules', '.bin', 'claude');

type ModelServer = { url: string; close: () => Promise<void> };
let model: ModelServer;
beforeAll(async () => {
  model = (await startModelServer({})) as ModelServer;
});
afterAll(async () => {
  await model.close();
});

describe('claude-tui: the real Claude Code UI in a terminal run', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it('types the prompt, turns its permission menu into a request, writes the file, waits at the input box', async () => {
    t = makeEnv((dir) => ({
      agents: {
        // Same name as the built-in: its patterns and exit keys are kept.
        'claude-tui': {
          driver: 'terminal',
          command: CLAUDE,
          // Ask before edits (the default "auto" mode decides by itself).
          args: ['--permission-mode', 'default'],
          env: {
            HOME: join(dir, 'claude-home'),
            ANTHROPIC_BASE_URL: model.url,
            ANTHROPIC_API_KEY: 'dummy',
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
            DISABLE_TELEMETRY: '1',
            DISABLE_AUTOUPDATER: '1',
          },
        },
      },
    }));
    // What a person who has used claude once has: first-run setup done, the key approved, the
    // folder trusted.
    const claudeHome = join(t.dir, 'claude-home');
    mkdirSync(claudeHome, { recursive: true });
    writeFileSync(
      join(claudeHome, '.claude.json'),
      JSON.stringify({
        hasCompletedOnboarding: true,
        theme: 'dark',
        customApiKeyResponses: { approved: ['dummy'], rejected: [] },
        projects: { [t.work]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
      }),
    );
    s = await startServer(t);
    const agents = (await s.call('list_agents')) as Summary;
    expect(agents.agents.find((a: Summary) => a.name === 'claude-tui')).toMatchObject({ ready: true });

    const run = (await s.call('spawn_run', {
      agent: 'claude-tui',
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt written through the TUI',
    })) as Summary;
    const asked = (await s.call('wait_run', { runs: [run.run_id], timeout: 50 })) as Summary;
    const w = asked.runs[0].waiting_for;
    expect(asked.runs[0].status).toBe('waiting');
    expect(w).toMatchObject({ kind: 'permission', title: 'Do you want to create hello.txt?' });
    expect(w.options[0]).toMatchObject({ option_id: '1', name: 'Yes', kind: 'allow_once' });
    expect(w.options.at(-1)).toMatchObject({ name: 'No', kind: 'reject_once' });
    expect(existsSync(join(t.work, 'hello.txt'))).toBe(false);

    await s.call('answer_permission', { run: run.run_id, option_id: '1' });
    await eventually(() => existsSync(join(t.work, 'hello.txt')), 30_000);
    expect(readFileSync(join(t.work, 'hello.txt'), 'utf8')).toContain('written through the TUI');
    // Back at the empty input box: waiting for input, the answer on screen.
    const idle = await eventually(async () => {
      const r = (await s!.call('get_run', { run: run.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'input' ? r : undefined;
    }, 30_000);
    expect(idle.waiting_for.kind).toBe('input');
    const screen = (await s.call('read_terminal', { run: run.run_id, lines: 60 })) as Summary;
    expect(screen.screen).toContain('done: wrote hello.txt');

    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
  });
});
