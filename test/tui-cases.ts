// The built-in terminal agents (claude-tui, codex-tui, gemini-tui) as the tests configure them: the
// real pinned CLIs in an isolated home, against the scripted model server, in the state a person
// who has used each once leaves them (first-run setup done, the folder trusted).
import { tuiEntry } from './fixtures/real-agents.mjs';

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
      entry: (home, work) => tuiEntry('claude-tui', home, work, modelUrl()),
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
      entry: (home, work) => tuiEntry('codex-tui', home, work, modelUrl()),
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
      entry: (home, work) => tuiEntry('gemini-tui', home, work, modelUrl()),
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
