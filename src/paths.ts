import { realpathSync } from 'node:fs';
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
  const abs = resolve(target);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return resolve(realpathLoose(parent), relative(parent, abs));
  }
}

/** True when `target` (after resolving symlinks) lies inside `root` (after resolving symlinks). */
export function isConfined(root: string, target: string): boolean {
  return isInside(realpathLoose(root), realpathLoose(target));
}
