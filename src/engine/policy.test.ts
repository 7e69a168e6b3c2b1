import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PermissionAsk } from '../drivers/driver.js';
import { decideByPolicy, rejectOption } from './policy.js';
import type { PermissionOption, ToolCallInfo } from './types.js';

const ALLOW: PermissionOption = { option_id: 'allow', name: 'Allow', kind: 'allow_once' };
const ALWAYS: PermissionOption = { option_id: 'always', name: 'Always allow', kind: 'allow_always' };
const REJECT: PermissionOption = { option_id: 'reject', name: 'Reject', kind: 'reject_once' };
const NEVER: PermissionOption = { option_id: 'never', name: 'Never', kind: 'reject_always' };
const ALL = [NEVER, ALWAYS, REJECT, ALLOW];

let root: string;
let cwd: string;
let outside: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'baton-policy-'));
  cwd = join(root, 'work');
  outside = join(root, 'outside');
  mkdirSync(join(cwd, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(cwd, 'src', 'a.ts'), 'export {};\n');
  writeFileSync(join(outside, 'secret.txt'), 'secret\n');
  symlinkSync(outside, join(cwd, 'link-dir'));
  symlinkSync(join(outside, 'secret.txt'), join(cwd, 'link-file.txt'));
  symlinkSync(join(cwd, 'src'), join(outside, 'back-in'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function ask(tool_call: ToolCallInfo, options: PermissionOption[] = ALL): PermissionAsk {
  return { title: tool_call.title ?? 'a tool', tool_call, options };
}

describe('decideByPolicy', () => {
  it('ask always leaves the decision to someone else', () => {
    expect(
      decideByPolicy('ask', ask({ kind: 'edit', locations: [join(cwd, 'src', 'a.ts')] }), cwd),
    ).toBeUndefined();
    expect(decideByPolicy('ask', ask({ kind: 'execute' }), cwd)).toBeUndefined();
  });

  it('allow_all picks allow_once, else allow_always, else nothing', () => {
    expect(decideByPolicy('allow_all', ask({ kind: 'execute' }), cwd)).toEqual(ALLOW);
    expect(decideByPolicy('allow_all', ask({ kind: 'edit', locations: ['/etc/passwd'] }), cwd)).toEqual(
      ALLOW,
    );
    expect(decideByPolicy('allow_all', ask({ kind: 'execute' }, [REJECT, ALWAYS]), cwd)).toEqual(ALWAYS);
    expect(decideByPolicy('allow_all', ask({ kind: 'execute' }, [REJECT, NEVER]), cwd)).toBeUndefined();
  });

  it('deny_all picks reject_once, else reject_always, else nothing', () => {
    expect(
      decideByPolicy('deny_all', ask({ kind: 'edit', locations: [join(cwd, 'src', 'a.ts')] }), cwd),
    ).toEqual(REJECT);
    expect(decideByPolicy('deny_all', ask({ kind: 'execute' }, [ALLOW, NEVER]), cwd)).toEqual(NEVER);
    expect(decideByPolicy('deny_all', ask({ kind: 'execute' }, [ALLOW, ALWAYS]), cwd)).toBeUndefined();
    expect(rejectOption(ALL)).toEqual(REJECT);
    expect(rejectOption([ALLOW])).toBeUndefined();
  });

  describe('auto_edit', () => {
    it('allows edits whose every location is inside cwd', () => {
      const inside = ask({
        kind: 'edit',
        locations: [
          join(cwd, 'src', 'a.ts'),
          join(cwd, 'src', 'new-file.ts'),
          join(cwd, 'new-dir', 'deep', 'x.ts'),
        ],
      });
      expect(decideByPolicy('auto_edit', inside, cwd)).toEqual(ALLOW);
      expect(decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [cwd] }), cwd)).toEqual(ALLOW);
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'delete', locations: [join(cwd, 'src', 'a.ts')] }), cwd),
      ).toEqual(ALLOW);
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'move', locations: [join(cwd, 'src', 'a.ts'), join(cwd, 'src', 'b.ts')] }),
          cwd,
        ),
      ).toEqual(ALLOW);
      // Only allow_always offered.
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'edit', locations: [join(cwd, 'x')] }, [ALWAYS, REJECT]),
          cwd,
        ),
      ).toEqual(ALWAYS);
    });

    it('asks when any location is outside cwd', () => {
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(outside, 'secret.txt')] }), cwd),
      ).toBeUndefined();
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'edit', locations: [join(cwd, 'src', 'a.ts'), '/etc/passwd'] }),
          cwd,
        ),
      ).toBeUndefined();
      // ".." that climbs out, and a sibling whose name starts with the cwd's name.
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(cwd, '..', 'outside', 'x')] }), cwd),
      ).toBeUndefined();
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [`${cwd}-evil/x.ts`] }), cwd),
      ).toBeUndefined();
      expect(decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [root] }), cwd)).toBeUndefined();
    });

    it('asks for a symlink inside cwd that points outside', () => {
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(cwd, 'link-file.txt')] }), cwd),
      ).toBeUndefined();
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'edit', locations: [join(cwd, 'link-dir', 'secret.txt')] }),
          cwd,
        ),
      ).toBeUndefined();
      // A file not yet created under a symlinked directory resolves through the link.
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'edit', locations: [join(cwd, 'link-dir', 'new', 'file.txt')] }),
          cwd,
        ),
      ).toBeUndefined();
    });

    it('allows a path outside cwd that is a symlink resolving inside it', () => {
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'edit', locations: [join(outside, 'back-in', 'a.ts')] }),
          cwd,
        ),
      ).toEqual(ALLOW);
    });

    it('allows when cwd itself is reached through a symlink', () => {
      const alias = join(root, 'alias');
      symlinkSync(cwd, alias);
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(cwd, 'src', 'a.ts')] }), alias),
      ).toEqual(ALLOW);
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(alias, 'src', 'a.ts')] }), cwd),
      ).toEqual(ALLOW);
      expect(
        decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(outside, 'x')] }), alias),
      ).toBeUndefined();
    });

    it('asks for tools that are not edits, even inside cwd', () => {
      const here = [join(cwd, 'src', 'a.ts')];
      for (const kind of ['execute', 'read', 'fetch', 'search', 'think', 'other']) {
        expect(decideByPolicy('auto_edit', ask({ kind, locations: here }), cwd)).toBeUndefined();
      }
      expect(decideByPolicy('auto_edit', ask({ locations: here }), cwd)).toBeUndefined();
    });

    it('asks for an edit with no locations', () => {
      expect(decideByPolicy('auto_edit', ask({ kind: 'edit' }), cwd)).toBeUndefined();
      expect(decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [] }), cwd)).toBeUndefined();
    });

    it('asks when the agent offers no allow option', () => {
      expect(
        decideByPolicy(
          'auto_edit',
          ask({ kind: 'edit', locations: [join(cwd, 'src', 'a.ts')] }, [REJECT, NEVER]),
          cwd,
        ),
      ).toBeUndefined();
    });
  });
});

describe('auto_edit and dangling symlinks', () => {
  it('asks for an edit through a dangling symlink that points outside cwd (file or folder)', () => {
    symlinkSync(join(outside, 'not-yet.txt'), join(cwd, 'dangling.txt'));
    symlinkSync(join(outside, 'newdir'), join(cwd, 'dangling-dir'));
    expect(
      decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(cwd, 'dangling.txt')] }), cwd),
    ).toBeUndefined();
    expect(
      decideByPolicy(
        'auto_edit',
        ask({ kind: 'edit', locations: [join(cwd, 'dangling-dir', 'x.txt')] }),
        cwd,
      ),
    ).toBeUndefined();
    expect(
      decideByPolicy('auto_edit', ask({ kind: 'edit', locations: [join(cwd, 'new-file.txt')] }), cwd),
    ).toEqual(ALLOW);
  });
});
