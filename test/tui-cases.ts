// The built-in terminal agents (claude-tui, codex-tui, gemini-tui) as the tests configure them: the
// real pinned CLIs in an isolated home, against the scripted model server, in the state a person
// who has used each once leaves them (first-run setup done, the folder trusted).
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';

export type Case = {
  agent: 'claude-tui' | 'codex-tui' | 'gemini-tui';
  /** The baton config entry (same name as the built-in: its patterns and exit keys are kept). */
  entry: (home: string, work: string) => Record<string, unknown>;
  title: string;
  /** The options offered, in order (`undefined` entries: any name, checked by kind only). */
  options: { name?: string; kind: string }[];
  /** The hook event that ends a turn, for agents whose own hooks report to baton. */
  hook?: string;
};

/** The built-in TUI agents as the tests run them offline (`modelUrl`: the scripted model server). */
export function tuiCases(modelUrl: () => string): Case[] {
  return [
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
        const base = realAgentConfig('claude-code', home, modelUrl()) as { env: Record<string, string> };
        return {
          driver: 'terminal',
          command: join(import.meta.dirname, '..', 'node_modules', '.bin', 'claude'),
          // Ask before edits (the default "auto" mode decides by itself).
          args: ['--permission-mode', 'default'],
          env: base.env,
        };
      },
      title: 'Do you want to create hello.txt?',
      hook: 'Stop',
      options: [
        { name: 'Yes', kind: 'allow_once' },
        { kind: 'allow_always' },
        { name: 'No', kind: 'reject_once' },
      ],
    },
    {
      agent: 'codex-tui',
      entry: (home, work) => {
        setupAgentHome('codex', home, modelUrl());
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
        const base = realAgentConfig('codex', home, modelUrl()) as { env: Record<string, string> };
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
      hook: 'Stop',
      options: [
        { name: 'Yes, proceed (y)', kind: 'allow_once' },
        { name: "Yes, and don't ask again for these files (a)", kind: 'allow_always' },
        { name: 'No, and tell Codex what to do differently (esc)', kind: 'reject_once' },
      ],
    },
    {
      agent: 'gemini-tui',
      entry: (home) => {
        setupAgentHome('gemini', home, modelUrl());
        const file = join(home, '.gemini', 'settings.json');
        const settings = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
        settings.general = { ...settings.general, enableAutoUpdateNotification: false };
        settings.ui = { showCompatibilityWarnings: false };
        writeFileSync(file, JSON.stringify(settings));
        const base = realAgentConfig('gemini', home, modelUrl()) as { env: Record<string, string> };
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
}
