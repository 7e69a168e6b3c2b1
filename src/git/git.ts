import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChangedFile } from '../engine/types.js';
import { BatonError } from '../errors.js';
import { ExecFailure, execBounded, execQuiet } from '../process/exec.js';

/** What git needs whichever machine it runs on. */
const GIT_VARS = { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' };
const GIT_ENV = { ...process.env, ...GIT_VARS };
const GIT_LIMITS = { maxBuffer: 64 * 1024 * 1024, timeoutMs: 60_000 };

/**
 * Runs a short helper program where a run's files are (a runner's host: see `Runner.exec`), with
 * bounded output and time: `env` is added to that side's environment (this process's environment
 * never travels). Resolves with stdout; rejects with an `ExecFailure`.
 */
export type SideExec = (
  command: string,
  args: readonly string[],
  opts: { cwd: string; env?: Record<string, string>; maxBuffer?: number; timeoutMs?: number },
) => Promise<string>;

/**
 * Runs git in `cwd` (here, or on the other side through `side`); resolves with stdout, rejects
 * with a BatonError carrying git's message.
 */
export function git(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  side?: SideExec,
): Promise<string> {
  // Node reports a missing cwd as the program missing (spawn git ENOENT): say what is gone.
  if (!side && !existsSync(cwd)) {
    return Promise.reject(new BatonError('GIT_ERROR', `the folder ${cwd} is gone (a discarded work tree?)`));
  }
  const ran = side
    ? side('git', args, { cwd, env: { ...GIT_VARS, ...env }, ...GIT_LIMITS })
    : execBounded('git', args, { cwd, env: { ...GIT_ENV, ...env }, ...GIT_LIMITS });
  return ran.catch((err: unknown) => {
    const missing = err instanceof ExecFailure && err.missing;
    throw new BatonError(
      missing ? 'NOT_SUPPORTED' : 'GIT_ERROR',
      missing ? 'git is not installed' : `git ${args[0]}: ${(err as Error).message}`,
    );
  });
}

/** True when `ref` names a commit in the repository at `root`. */
export function commitExists(root: string, ref: string): boolean {
  return (
    execQuiet('git', ['rev-parse', '--verify', '-q', `${ref}^{commit}`], { cwd: root, env: GIT_ENV }) !==
    undefined
  );
}

/**
 * The top folder of the git work tree holding `cwd`, or undefined when it is not in one. Blocks
 * the event loop: only for admission, whose checks must run without a gap before the insert.
 */
export function repoRootSync(cwd: string): string | undefined {
  return execQuiet('git', ['rev-parse', '--show-toplevel'], { cwd, env: GIT_ENV })?.trim();
}

/** {@link repoRootSync} without blocking the owner's event loop (every run start asks). */
export async function repoRoot(cwd: string): Promise<string | undefined> {
  if (!existsSync(cwd)) return undefined;
  const out = await execBounded('git', ['rev-parse', '--show-toplevel'], {
    cwd,
    env: GIT_ENV,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  return out?.trim() || undefined;
}

/**
 * The snapshot as one script on the other side (one session there instead of six: an ssh login
 * can cost a tenth of a second before the command runs): a temporary index in a new private
 * folder, removed on exit; HEAD read into it when there is one; the work tree added; the tree
 * written (its id the last line).
 */
const SNAPSHOT_LINES = [
  't=$(mktemp -d) || exit 1',
  'trap \'rm -rf -- "$t"\' EXIT',
  'export GIT_INDEX_FILE="$t/index"',
  'if git rev-parse --verify -q HEAD >/dev/null; then git read-tree HEAD || exit 1; fi',
  'git add -A -- . || exit 1',
];
const SNAPSHOT_SCRIPT = [...SNAPSHOT_LINES, 'git write-tree'].join('\n');

/**
 * A run's start on the other side, one session: the top of the work tree holding the folder (none:
 * "baton-no-repo"), then its snapshot there. Prints the top, then the tree.
 */
const START_SCRIPT = [
  'command -v git >/dev/null || { echo "git is not installed" >&2; exit 127; }',
  'top=$(git rev-parse --show-toplevel 2>/dev/null) || { echo baton-no-repo; exit 0; }',
  'cd -- "$top" || exit 1',
  ...SNAPSHOT_LINES,
  'tree=$(git write-tree) || exit 1',
  'printf \'%s\\n%s\\n\' "$top" "$tree"',
].join('\n');

/**
 * A turn's end on the other side, one session: the snapshot, then both diffs against the base
 * tree (`$1`), NUL-separated as git writes them, a marker between.
 */
const END_SCRIPT = [
  ...SNAPSHOT_LINES,
  'tree=$(git write-tree) || exit 1',
  'printf \'%s\\n\' "$tree"',
  'git diff --name-status -z -M "$1" "$tree" || exit 1',
  "printf '\\000baton-numstat\\000'",
  'git diff --numstat -z -M "$1" "$tree" || exit 1',
].join('\n');

/** Runs one of the scripts above on the other side; its stdout, or a GIT_ERROR naming `what`. */
function sideScript(
  side: SideExec,
  cwd: string,
  what: string,
  script: string,
  args: string[] = [],
): Promise<string> {
  return side('sh', ['-c', script, 'baton-git', ...args], { cwd, env: GIT_VARS, ...GIT_LIMITS }).catch(
    (err: unknown) => {
      throw new BatonError('GIT_ERROR', `git ${what}: ${(err as Error).message}`);
    },
  );
}

const TREE = /^[0-9a-f]{40,64}$/;

/**
 * On the other side, in one session: the top of the work tree holding `cwd` and its snapshot
 * ({@link snapshotTree}); undefined when `cwd` is in no git repository.
 */
export async function sideStart(
  cwd: string,
  side: SideExec,
): Promise<{ root: string; tree: string } | undefined> {
  const out = await sideScript(side, cwd, 'snapshot', START_SCRIPT);
  if (out.trim() === 'baton-no-repo') return undefined;
  const lines = out.replace(/\n$/, '').split('\n');
  const [root = '', tree = ''] = lines;
  if (lines.length !== 2 || !root.startsWith('/') || !TREE.test(tree))
    throw new BatonError('GIT_ERROR', `git snapshot answered ${JSON.stringify(out.slice(0, 120))}`);
  return { root, tree };
}

/**
 * On the other side, in one session: the snapshot of the work tree at `root` and the files that
 * differ from `base` ({@link changedFiles}).
 */
export async function sideEnd(
  root: string,
  base: string,
  side: SideExec,
): Promise<{ tree: string; files: ChangedFile[] }> {
  if (!TREE.test(base)) throw new BatonError('GIT_ERROR', `not a tree: ${base}`);
  const out = await sideScript(side, root, 'snapshot', END_SCRIPT, [base]);
  const nl = out.indexOf('\n');
  const tree = out.slice(0, nl);
  const rest = out.slice(nl + 1);
  const mark = rest.indexOf('\0baton-numstat\0');
  if (nl < 0 || !TREE.test(tree) || mark < 0)
    throw new BatonError('GIT_ERROR', `git snapshot answered ${JSON.stringify(out.slice(0, 120))}`);
  return { tree, files: parseChanges(rest.slice(0, mark), rest.slice(mark + '\0baton-numstat\0'.length)) };
}

/**
 * The whole work tree as a git tree object (tracked files and untracked ones that are not ignored),
 * written without touching the user's index or any ref: a snapshot to diff against later.
 */
export async function snapshotTree(root: string, side?: SideExec): Promise<string> {
  if (side) {
    const out = await sideScript(side, root, 'snapshot', SNAPSHOT_SCRIPT);
    const tree = out.trim().split('\n').pop() ?? '';
    if (!TREE.test(tree))
      throw new BatonError('GIT_ERROR', `git write-tree answered ${JSON.stringify(tree.slice(0, 80))}`);
    return tree;
  }
  const dir = mkdtempSync(join(tmpdir(), 'baton-index-'));
  const env = { GIT_INDEX_FILE: join(dir, 'index') };
  try {
    const head = await git(root, ['rev-parse', '--verify', '-q', 'HEAD']).catch(() => '');
    if (head.trim()) await git(root, ['read-tree', 'HEAD'], env);
    await git(root, ['add', '-A', '--', '.'], env);
    return (await git(root, ['write-tree'], env)).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const STATUS: Record<string, ChangedFile['status']> = {
  A: 'added',
  M: 'modified',
  D: 'deleted',
  R: 'renamed',
  T: 'type_changed',
};

/** The files that differ between two trees, with line counts (binary files count 0). */
export async function changedFiles(
  root: string,
  from: string,
  to: string,
  side?: SideExec,
): Promise<ChangedFile[]> {
  const [names, nums] = await Promise.all([
    git(root, ['diff', '--name-status', '-z', '-M', from, to], {}, side),
    git(root, ['diff', '--numstat', '-z', '-M', from, to], {}, side),
  ]);
  return parseChanges(names, nums);
}

/** The changed files of `git diff --name-status -z` and `git diff --numstat -z` of the same trees. */
function parseChanges(names: string, nums: string): ChangedFile[] {
  const files: ChangedFile[] = [];
  const n = names.split('\0');
  for (let i = 0; i < n.length - 1;) {
    const code = n[i++] ?? '';
    const kind = STATUS[code[0] ?? ''] ?? 'modified';
    if (kind === 'renamed') {
      const fromPath = n[i++] ?? '';
      files.push({ path: n[i++] ?? '', status: kind, additions: 0, deletions: 0, from: fromPath });
    } else files.push({ path: n[i++] ?? '', status: kind, additions: 0, deletions: 0 });
  }
  // numstat -z: "add\tdel\tpath\0", or for renames "add\tdel\t\0from\0to\0".
  const parts = nums.split('\0');
  for (let i = 0; i < parts.length - 1;) {
    const [add = '0', del = '0', path = ''] = (parts[i++] ?? '').split('\t');
    const target = path === '' ? (i++, parts[i++] ?? '') : path;
    const f = files.find((x) => x.path === target);
    if (f) {
      f.additions = add === '-' ? 0 : Number(add);
      f.deletions = del === '-' ? 0 : Number(del);
    }
  }
  return files;
}

/** The unified diff between two trees, of one path or all. */
export function diffText(
  root: string,
  from: string,
  to: string,
  path?: string,
  side?: SideExec,
): Promise<string> {
  return git(root, ['diff', '-M', from, to, ...(path ? ['--', path] : [])], {}, side);
}

/** Adds a work tree at `path` on a new branch from `baseRef` (default HEAD). */
export async function addWorktree(
  root: string,
  path: string,
  branch: string,
  baseRef = 'HEAD',
): Promise<void> {
  await git(root, ['worktree', 'add', '-b', branch, path, baseRef]);
}

/** Removes a work tree (with its changes) and deletes its branch. */
export async function removeWorktree(root: string, path: string, branch: string): Promise<void> {
  await git(root, ['worktree', 'remove', '--force', path]).catch(async (err: unknown) => {
    // Already gone by hand: let git forget it.
    await git(root, ['worktree', 'prune']);
    if (!String((err as Error).message).includes('is not a working tree')) throw err;
  });
  await git(root, ['branch', '-D', branch]).catch(() => undefined);
}
