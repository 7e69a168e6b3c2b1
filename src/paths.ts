import { createHash } from 'node:crypto';
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** True when `target` is `root` or lies under it (both already resolved). */
export function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The real path of `target`, resolving symlinks of its nearest existing ancestor when the target
 * itself does not exist yet (a file about to be written).
 */
export function realpathLoose(target: string): string {
  return realpathFollowing(resolve(target), 0);
}

function realpathFollowing(abs: string, depth: number): string {
  try {
    return realpathSync(abs);
  } catch {
    // A dangling symlink points where a write would really go: follow it (bounded, against loops).
    try {
      if (depth < 32 && lstatSync(abs).isSymbolicLink()) {
        return realpathFollowing(resolve(dirname(abs), readlinkSync(abs)), depth + 1);
      }
    } catch {
      // not there at all
    }
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return resolve(realpathFollowing(parent, depth), relative(parent, abs));
  }
}

/**
 * True when the real `target` lies in one of the `excluded` folders (baton's own state folder) that
 * does not also hold the real `root`: a run working inside one of baton's work trees may use it, a
 * run whose cwd merely contains `$BATON_HOME` may not reach into it. Both paths already resolved.
 */
export function isExcluded(root: string, target: string, excluded: readonly string[]): boolean {
  return excluded.some((folder) => {
    const real = realpathLoose(folder);
    return isInside(real, target) && !isInside(real, root);
  });
}

/**
 * True when a file about to be changed at `target` stays inside `root`: a relative `target` means
 * `root`'s file; symlinks are resolved; false for a path with a ".." segment (after a symlink the
 * kernel resolves it elsewhere than a lexical check does), for a regular file with another hard
 * link (that name may lie outside `root`) and for anything inside an `excluded` folder that does
 * not hold `root` ({@link isExcluded}).
 */
export function isConfined(root: string, target: string, excluded: readonly string[] = []): boolean {
  if (target.split(/[\\/]/).includes('..')) return false;
  const realRoot = realpathLoose(root);
  const real = realpathLoose(resolve(root, target));
  if (!isInside(realRoot, real) || isExcluded(realRoot, real, excluded)) return false;
  try {
    const st = lstatSync(real);
    if (st.isFile() && st.nlink > 1) return false;
  } catch {
    // not there yet: a new file
  }
  return true;
}

/** The name of baton's own tmux server for `home` (`tmux -L <name>`): never the user's default one. */
export function tmuxSocketName(home: string): string {
  return `baton-${createHash('sha256').update(home).digest('hex').slice(0, 12)}`;
}
