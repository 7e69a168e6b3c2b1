import { describe, expect, it } from 'vitest';
import { detectMenu } from './terminal.js';

describe('detectMenu', () => {
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
});
