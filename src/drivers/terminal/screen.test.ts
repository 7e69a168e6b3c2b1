import { describe, expect, it } from 'vitest';
import { choiceKind, detectLettered, detectMenu } from './screen.js';

describe('detectMenu', () => {
  it("reads a dialog whose heading is no question (Codex's hook review) only when asked to (titled)", () => {
    const screen = [
      '  Hooks need review',
      '  1 hook is new or changed.',
      '  Hooks can run outside the sandbox after you trust them.',
      '',
      '› 1. Review hooks',
      '  2. Trust all and continue',
      "  3. Continue without trusting (hooks won't run)",
      '',
      '  enter confirm · esc skip',
    ].join('\n');
    // An agent's numbered answer on screen is no question: without `titled`, nothing is asked.
    expect(detectMenu(screen)).toBeUndefined();
    expect(detectMenu(screen, { titled: true })).toEqual({
      question: 'Hooks need review',
      options: [
        { key: '1', name: 'Review hooks' },
        { key: '2', name: 'Trust all and continue' },
        { key: '3', name: "Continue without trusting (hooks won't run)" },
      ],
    });
  });

  it("reads Claude Code's permission menu: the question and every numbered choice", () => {
    const screen = [
      '● Write(hello.txt)',
      ' Create file',
      ' hello.txt',
      '  1 hi there',
      ' Do you want to create hello.txt?',
      ' ❯ 1. Yes',
      '   2. Yes, and switch to accept edits (auto-approve file edits) for this session (shift+tab)',
      '   3. No',
      ' Esc to cancel · Tab to amend',
    ].join('\n');
    expect(detectMenu(screen)).toEqual({
      question: 'Do you want to create hello.txt?',
      options: [
        { key: '1', name: 'Yes' },
        {
          key: '2',
          name: 'Yes, and switch to accept edits (auto-approve file edits) for this session (shift+tab)',
        },
        { key: '3', name: 'No' },
      ],
    });
  });

  it('ignores numbered lists without a question, single items, and numbering that does not start at 1', () => {
    expect(detectMenu('Plan:\n1. read\n2. write\n> ')).toBeUndefined();
    expect(detectMenu('Continue?\n1. Yes\n')).toBeUndefined();
    expect(detectMenu('Pick one?\n2. a\n3. b')).toBeUndefined();
    expect(detectMenu('Pick one?\n1) a\n2) b')).toEqual({
      question: 'Pick one?',
      options: [
        { key: '1', name: 'a' },
        { key: '2', name: 'b' },
      ],
    });
  });

  it("reads Gemini CLI's boxed dialog (│ borders, ● marker) and Codex's approval menu", () => {
    const gemini = [
      '╭──────────────────────────────────────────────────────────╮',
      '│ ? WriteFile  Writing to hello.txt                        │',
      '│ ╭──────────────────────────────────────────────────────╮ │',
      '│ │ 1 written through the gemini TUI                     │ │',
      '│ ╰──────────────────────────────────────────────────────╯ │',
      '│ Apply this change?                                       │',
      '│                                                          │',
      '│ ● 1. Allow once                                          │',
      '│   2. Allow for this session                              │',
      '│   3. Modify with external editor                         │',
      '│   4. No, suggest changes (esc)                           │',
      '╰──────────────────────────────────────────────────────────╯',
    ].join('\n');
    expect(detectMenu(gemini)).toEqual({
      question: 'Apply this change?',
      options: [
        { key: '1', name: 'Allow once' },
        { key: '2', name: 'Allow for this session' },
        { key: '3', name: 'Modify with external editor' },
        { key: '4', name: 'No, suggest changes (esc)' },
      ],
    });
    const codex = [
      '  Would you like to make the following edits?',
      '',
      '  Destination: /work/hello.txt',
      '',
      '› 1. Yes, proceed (y)',
      "  2. Yes, and don't ask again for these files (a)",
      '  3. No, and tell Codex what to do differently (esc)',
      '',
      '  Press enter to confirm or esc to cancel',
    ].join('\n');
    expect(detectMenu(codex)?.question).toBe('Would you like to make the following edits?');
    expect(detectMenu(codex)?.options.map((o) => o.key)).toEqual(['1', '2', '3']);
  });
});

describe('choiceKind', () => {
  it('allows, always allows, rejects, and leaves out a choice that is neither', () => {
    expect(choiceKind('Yes, proceed (y)')).toBe('allow_once');
    expect(choiceKind('Allow for this session')).toBe('allow_always');
    expect(choiceKind("Yes, and don't ask again for these files (a)")).toBe('allow_always');
    expect(choiceKind('No, suggest changes (esc)')).toBe('reject_once');
    expect(choiceKind('Modify with external editor')).toBeUndefined();
    // Unknown words fail closed.
    expect(choiceKind('Something else')).toBe('reject_once');
  });
});

describe('detectLettered', () => {
  it("reads aider's lettered questions, and nothing else", () => {
    expect(detectLettered("Create new file hello.txt? (Y)es/(N)o/(D)on't ask again [Yes]: ")).toEqual({
      question: 'Create new file hello.txt?',
      options: [
        { key: 'y', name: 'Yes' },
        { key: 'n', name: 'No' },
        { key: 'd', name: "Don't ask again" },
      ],
    });
    expect(
      detectLettered("Run shell command? (Y)es/(N)o/(A)ll/(S)kip all/(D)on't ask again [Yes]:")?.options.map(
        (o) => o.key,
      ),
    ).toEqual(['y', 'n', 'a', 's', 'd']);
    expect(detectLettered('Continue? [y/N]')).toBeUndefined();
    expect(detectLettered('> ')).toBeUndefined();
  });
});
