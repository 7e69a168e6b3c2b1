// auto_edit's confinement (audit C15, C14, S2): relative locations mean the run's cwd, `..` after a
// symlink, hardlinked files and baton's own state folder are never auto-allowed.
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PermissionAsk } from '../drivers/driver.js';
import { decideByPolicy } from './policy.js';
import type { PermissionOption } from './types.js';

const ALLOW: PermissionOption = { option_id: 'allow', name: 'Allow', kind: 'allow_once' };
const REJECT: PermissionOption = { option_id: 'reject', name: 'Reject', kind: 'reject_once' };

function edit(...locations: string[]): PermissionAsk {
  return { title: 'Write', tool_call: { kind: 'edit', locations }, options: [ALLOW, REJECT] };
}

let root: string;
let cwd: string;
let outside: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'baton-confine-'));
  cwd = join(root, 'work');
  outside = join(root, 'outside');
  mkdirSync(join(cwd, 'src'), { recursive: true });
  mkdirSync(join(outside, 'deep'), { recursive: true });
  writeFileSync(join(cwd, 'src', 'a.ts'), 'export {};\n');
  writeFileSync(join(outside, 'secret.txt'), 'secret\n');
  symlinkSync(join(outside, 'deep'), join(cwd, 'to-deep'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('auto_edit confinement', () => {
  it("resolves a relative location against the run's cwd, not baton's own", () => {
    // baton runs in a sub-folder of the run's cwd: `../.bashrc` is outside the run's cwd for the agent.
    const batonCwd = process.cwd();
    expect(decideByPolicy('auto_edit', edit('../.bashrc'), dirname(batonCwd))).toBeUndefined();
    // A relative location inside the cwd is the cwd's file.
    expect(decideByPolicy('auto_edit', edit('src/a.ts'), cwd)).toEqual(ALLOW);
    expect(decideByPolicy('auto_edit', edit('src/new.ts'), cwd)).toEqual(ALLOW);
  });

  it('asks for ".." after a symlink (the kernel leaves the cwd where a lexical check does not)', () => {
    // cwd/to-deep/../secret.txt is outside/secret.txt for the kernel.
    expect(decideByPolicy('auto_edit', edit(`${cwd}/to-deep/../secret.txt`), cwd)).toBeUndefined();
    expect(decideByPolicy('auto_edit', edit(`${cwd}/src/../src/a.ts`), cwd)).toBeUndefined();
  });

  it('asks for a file with another hard link (it may lie outside the cwd)', () => {
    linkSync(join(outside, 'secret.txt'), join(cwd, 'hl.txt'));
    expect(decideByPolicy('auto_edit', edit(join(cwd, 'hl.txt')), cwd)).toBeUndefined();
    expect(decideByPolicy('auto_edit', edit(join(cwd, 'src', 'a.ts')), cwd)).toEqual(ALLOW);
  });

  it("asks for edits in baton's state folder inside the cwd; a work tree inside it is its own cwd", () => {
    const home = join(cwd, '.baton');
    const tree = join(home, 'worktrees', 'r_1');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(home, 'config.json'), '{}\n');
    expect(decideByPolicy('auto_edit', edit(join(home, 'config.json')), cwd, [home])).toBeUndefined();
    expect(decideByPolicy('auto_edit', edit(join(tree, 'x.ts')), cwd, [home])).toBeUndefined();
    expect(decideByPolicy('auto_edit', edit(join(cwd, 'src', 'a.ts')), cwd, [home])).toEqual(ALLOW);
    // In a work tree under the state folder, its files are the run's own; the rest of it is not.
    expect(decideByPolicy('auto_edit', edit(join(tree, 'x.ts')), tree, [home])).toEqual(ALLOW);
    expect(decideByPolicy('auto_edit', edit(join(home, 'config.json')), tree, [home])).toBeUndefined();
  });
});
