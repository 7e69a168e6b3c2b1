// The real Claude Code, Codex and Gemini CLI interactive UIs (the exact pinned devDependencies) as
// terminal runs of the built-in entries claude-tui, codex-tui and gemini-tui, inside tmux, against the scripted model server
// offline: the prompt is typed into the input box, the approval menu becomes a permission request,
// the answer picks the menu item, the file is written, the run waits at the empty input box, and
// cancel leaves no process behind.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer } from './fixtures/model-server.mjs';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import {
  eventually,
  makeEnv,
  pidsWithEnv,
  startServer,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

type ModelServer = { url: string; close: () => Promise<void> };
let model: ModelServer;
beforeAll(async () => {
  model = (await startModelServer({})) as ModelServer;
});
afterAll(async () => {
  await model.close();
});

type Case = {
  agent: 'claude-tui' | 'codex-tui' | 'gemini-tui';
  /** The baton config entry (same name as the built-in: its patterns and exit keys are kept). */
  entry: (home: string, work: string) => Record<string, unknown>;
  title: string;
  /** The options offered, in order (`undefined` entries: any name, checked by kind only). */
  options: { name?: string; kind: string }[];
};

const CASES: Case[] = [
  {
    agent: 'claude-tui',
    entry: (home, work) => {
      // What a person who has used claude once has: first-run setup done, the key approved, the
      // folder trusted.
      writeFileSync(
        join(home, '.claude.json'),
        JSON.stringify({
          hasCompletedOnboarding: true,
          theme: 'dark',
          customApiKeyResponses: { approved: ['dummy'], rejected: [] },
          projects: { [work]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
        }),
      );
      const base = realAgentConfig('claude-code', home, model.url) as { env: Record<string, string> };
      return {
        driver: 'terminal',
        command: join(import.meta.dirname, '..', 'node_modules', '.bin', 'claude'),
        // Ask before edits (the default "auto" mode decides by itself).
        args: ['--permission-mode', 'default'],
        env: base.env,
      };
    },
    title: 'Do you want to create hello.txt?',
    options: [
      { name: 'Yes', kind: 'allow_once' },
      { kind: 'allow_always' },
      { name: 'No', kind: 'reject_once' },
    ],
  },
  {
    agent: 'codex-tui',
    entry: (home, work) => {
      setupAgentHome('codex', home, model.url);
      // What a person who has used codex once has: the model notice seen, the folder trusted.
      appendFileSync(
        join(home, '.codex', 'config.toml'),
        [
          '[notice.model_migrations]',
          '"gpt-5.5" = "gpt-6-sol"',
          '[tui]',
          'screen_reader_detection_done = true',
          '[tui.model_availability_nux]',
          '"gpt-6.1-sol" = 1',
          `[projects."${work}"]`,
          'trust_level = "trusted"',
          '',
        ].join('\n'),
      );
      // codex refuses to put its helper binaries under /tmp (CODEX_HOME is there in tests).
      mkdirSync(join(home, 'tmp'));
      const base = realAgentConfig('codex', home, model.url) as { env: Record<string, string> };
      return {
        driver: 'terminal',
        command: join(import.meta.dirname, '..', 'node_modules', '.bin', 'codex'),
        // Ask before edits (the default workspace mode writes without asking).
        args: [
          '--no-daemon',
          '--sandbox',
          'read-only',
          '--ask-for-approval',
          'on-request',
          '-c',
          'check_for_update_on_startup=false',
        ],
        env: { ...base.env, TMPDIR: join(home, 'tmp') },
      };
    },
    title: 'Would you like to make the following edits?',
    options: [
      { name: 'Yes, proceed (y)', kind: 'allow_once' },
      { name: "Yes, and don't ask again for these files (a)", kind: 'allow_always' },
      { name: 'No, and tell Codex what to do differently (esc)', kind: 'reject_once' },
    ],
  },
  {
    agent: 'gemini-tui',
    entry: (home) => {
      setupAgentHome('gemini', home, model.url);
      const file = join(home, '.gemini', 'settings.json');
      const settings = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
      settings.general = { ...settings.general, enableAutoUpdateNotification: false };
      settings.ui = { showCompatibilityWarnings: false };
      writeFileSync(file, JSON.stringify(settings));
      const base = realAgentConfig('gemini', home, model.url) as { env: Record<string, string> };
      return {
        driver: 'terminal',
        command: join(import.meta.dirname, '..', 'node_modules', '.bin', 'gemini'),
        args: ['--approval-mode', 'default'],
        env: base.env,
      };
    },
    title: 'Apply this change?',
    // "3. Modify with external editor" opens a dialog: it is not offered.
    options: [
      { name: 'Allow once', kind: 'allow_once' },
      { name: 'Allow for this session', kind: 'allow_always' },
      { name: 'No, suggest changes (esc)', kind: 'reject_once' },
    ],
  },
];

describe.each(CASES)('$agent: the real interactive UI in a terminal run', (c) => {
  let t: TestEnv;
  let s: Server | undefined;
  let home: string;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    // The program and everything it started are gone with the run (gemini needs a moment: it
    // ignores SIGHUP and takes SIGTERM in a few seconds).
    await eventually(() => pidsWithEnv(home).length === 0, 20_000);
    t.cleanup();
  });

  it('types the prompt, turns its approval menu into a request, writes the file, waits at the input box', async () => {
    t = makeEnv((dir) => {
      home = join(dir, `${c.agent}-home`);
      mkdirSync(home, { recursive: true });
      return { agents: { [c.agent]: c.entry(home, join(dir, 'work')) } };
    });
    s = await startServer(t);
    const agents = (await s.call('list_agents')) as Summary;
    expect(agents.agents.find((a: Summary) => a.name === c.agent)).toMatchObject({ ready: true });

    const run = (await s.call('spawn_run', {
      agent: c.agent,
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt written through the TUI',
    })) as Summary;
    const asked = (await s.call('wait_run', { runs: [run.run_id], timeout: 50 })) as Summary;
    const w = asked.runs[0].waiting_for;
    expect(asked.runs[0].status).toBe('waiting');
    expect(w).toMatchObject({ kind: 'permission', title: c.title });
    expect(w.options.map((o: Summary) => ({ name: o.name, kind: o.kind }))).toEqual(
      c.options.map((o) => ({ name: o.name ?? expect.any(String), kind: o.kind })),
    );
    expect(w.options[0].option_id).toBe('1');
    expect(existsSync(join(t.work, 'hello.txt'))).toBe(false);

    await s.call('answer_permission', { run: run.run_id, option_id: '1' });
    // The CLI may create the file and write it in two steps: wait for the content.
    const file = join(t.work, 'hello.txt');
    await eventually(
      () => existsSync(file) && readFileSync(file, 'utf8').includes('written through the TUI'),
      30_000,
    );
    // Back at the empty input box: waiting for input, the answer on screen.
    const idle = await eventually(async () => {
      const r = (await s!.call('get_run', { run: run.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'input' ? r : undefined;
    }, 30_000);
    expect(idle.waiting_for.kind).toBe('input');
    const screen = (await s.call('read_terminal', { run: run.run_id, lines: 80 })) as Summary;
    expect(screen.screen).toContain('done: wrote hello.txt');

    // The program runs with the isolated HOME (what afterEach checks is gone).
    expect(pidsWithEnv(home).length).toBeGreaterThan(0);
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
  });
});
