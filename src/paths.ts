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

/** True when `target` (after resolving symlinks) lies inside `root` (after resolving symlinks). */
export function isConfined(root: string, target: string): boolean {
  return isInside(realpathLoose(root), realpathLoose(target));
}
