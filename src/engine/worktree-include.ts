import { constants, realpathSync } from 'node:fs';
import { lstat, mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { isInside, realpathLoose } from '../paths.js';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;

/**
 * Copies the untracked file `file` (relative, `/`-separated, as `git ls-files` lists it) from the
 * repository `repo` into the work tree `tree`, never following a symlink at either end: a source
 * that is a symlink, or not a regular file (a FIFO, a device), is not copied; the destination's
 * folders must be real folders inside the tree (one a branch committed as a symlink is refused);
 * whatever is at the destination is removed and the file created anew (`O_EXCL | O_NOFOLLOW`) with
 * the source's mode. Returns undefined once copied, else why it was not (for the run's warning).
 */
export async function copyIncluded(repo: string, tree: string, file: string): Promise<string | undefined> {
  const parts = file.split('/');
  if (isAbsolute(file) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    return 'not a plain relative path';
  }
  const realRepo = realpathSync(repo);
  const realTree = realpathSync(tree);
  const src = join(realRepo, file);
  if (!isInside(realRepo, realpathLoose(dirname(src)))) return 'its folder leads out of the repository';
  let input: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    input = await open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ELOOP' ? 'it is a symlink' : `it cannot be read (${code ?? String(err)})`;
  }
  try {
    const st = await input.stat();
    if (!st.isFile()) return 'it is not a regular file';
    return await writeInside(realTree, parts, input, st.mode & 0o777);
  } catch (err) {
    return `it could not be copied (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  } finally {
    await input.close();
  }
}

/** Writes `input` to `parts` under `realTree`, never through a symlink; why not, when it does not. */
async function writeInside(
  realTree: string,
  parts: string[],
  input: FileHandle,
  mode: number,
): Promise<string | undefined> {
  let dir = realTree;
  for (const [i, part] of parts.slice(0, -1).entries()) {
    dir = join(dir, part);
    await mkdir(dir).catch(() => undefined);
    const d = await lstat(dir);
    if (!d.isDirectory()) {
      return `${parts.slice(0, i + 1).join('/')} in the work tree is a symlink or not a folder`;
    }
  }
  if (!isInside(realTree, realpathSync(dir))) return 'its folder leads out of the work tree';
  const dst = join(dir, parts[parts.length - 1] ?? '');
  const there = await lstat(dst).catch(() => undefined);
  if (there?.isDirectory()) return 'the work tree has a folder of that name';
  if (there) await unlink(dst);
  const output = await open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await input.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      for (let off = 0; off < bytesRead;) off += (await output.write(buf, off, bytesRead - off)).bytesWritten;
    }
  } finally {
    await output.close();
  }
  return undefined;
}
