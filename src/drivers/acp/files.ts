import { constants, type Stats } from 'node:fs';
import { mkdir, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import * as acp from '@agentclientprotocol/sdk/unstable';
import { isExcluded, isInside, realpathLoose } from '../../paths.js';

/** Largest file the agent may read through the client. */
const MAX_FILE_BYTES = 10 * 1024 * 1024;
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;

/**
 * The files an ACP agent reads and writes through the client (`fs/*`), confined to the run's cwd:
 * absolute paths only, no `..`, symlinks resolved, nothing inside the excluded folders
 * ($BATON_HOME), and the opened file checked to be the confined one.
 */
export class CwdFiles {
  readonly #cwd: string;
  readonly #excluded: string[];

  constructor(cwd: string, excluded: string[] = []) {
    this.#cwd = cwd;
    this.#excluded = excluded;
  }

  /** The real path (symlinks and `..` resolved) of a file the agent names, if it is inside the cwd. */
  #confine(path: string): string {
    if (!isAbsolute(path)) throw acp.RequestError.invalidParams(undefined, `path must be absolute: ${path}`);
    // ".." after a symlink means something else to the kernel than to a lexical check: refuse it.
    if (path.split(/[\\/]/).includes('..')) {
      throw acp.RequestError.invalidParams(
        undefined,
        `path must not contain "..": ${path}; it is outside the run's working directory`,
      );
    }
    const real = realpathLoose(path);
    this.#checkWhere(path, real);
    return real;
  }

  /** Refuses a real path outside the run's cwd, or inside an excluded folder ($BATON_HOME). */
  #checkWhere(path: string, real: string): void {
    const cwd = realpathLoose(this.#cwd);
    if (!isInside(cwd, real)) {
      throw acp.RequestError.invalidParams(
        undefined,
        `baton only serves files inside the run's working directory ${this.#cwd}; ${path} is outside it`,
      );
    }
    if (isExcluded(cwd, real, this.#excluded)) {
      throw acp.RequestError.invalidParams(
        undefined,
        `${path} is inside baton's own state folder (BATON_HOME); baton never serves it to agents`,
      );
    }
  }

  /**
   * The opened file's stats, once it is known to be the confined path's file: a folder swapped for
   * a symlink between {@link #confine} and the open would have led elsewhere.
   */
  async #checkOpened(handle: FileHandle, path: string): Promise<Stats> {
    const st = await handle.stat();
    // Linux names the file an fd really is; elsewhere the path must still lead to this very file.
    const where = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (where !== undefined && isAbsolute(where)) {
      this.#checkWhere(path, where);
      return st;
    }
    const real = await realpath(path).catch(() => '');
    const now = real ? await stat(real).catch(() => undefined) : undefined;
    if (!now || now.dev !== st.dev || now.ino !== st.ino) {
      throw acp.RequestError.invalidParams(undefined, `${path} changed while it was opened; try again`);
    }
    this.#checkWhere(path, real);
    return st;
  }

  /**
   * `fs/read_text_file`: the file's text (from `line`, at most `limit` lines), when it is a regular
   * file inside the cwd of at most {@link MAX_FILE_BYTES}. A missing file is resource-not-found,
   * or reads as empty with `missingReadsEmpty`.
   */
  async read(params: acp.ReadTextFileRequest, missingReadsEmpty = false): Promise<acp.ReadTextFileResponse> {
    const path = this.#confine(params.path);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: never a symlink put there since; O_NONBLOCK: a FIFO must not block the open.
      handle = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw openFailure(path, err);
      if (missingReadsEmpty) return { content: '' }; // see missingFileReadsEmpty (quirks.ts)
      throw acp.RequestError.resourceNotFound(path);
    }
    let content: string;
    try {
      const st = await this.#checkOpened(handle, path);
      if (!st.isFile()) throw acp.RequestError.invalidParams(undefined, `${path} is not a regular file`);
      if (st.size > MAX_FILE_BYTES) {
        throw acp.RequestError.invalidParams(undefined, `${path} is larger than ${MAX_FILE_BYTES} bytes`);
      }
      content = await readBounded(handle, path);
    } finally {
      await handle.close();
    }
    if (params.line != null || params.limit != null) {
      const lines = content.split('\n');
      const start = Math.max((params.line ?? 1) - 1, 0);
      content = lines.slice(start, params.limit != null ? start + params.limit : undefined).join('\n');
    }
    return { content };
  }

  /**
   * `fs/write_text_file`: replaces (or creates) a regular file inside the cwd, never through a
   * symlink or a second hard link. Whether the run may write at all is the caller's check.
   */
  async write(params: acp.WriteTextFileRequest): Promise<acp.WriteTextFileResponse> {
    const path = this.#confine(params.path);
    await mkdir(dirname(path), { recursive: true });
    let handle: FileHandle;
    try {
      handle = await open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw openFailure(path, err);
      // A new file: created here and now, never through a symlink made meanwhile.
      handle = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666).catch((e: unknown) => {
        throw openFailure(path, e);
      });
    }
    try {
      const st = await this.#checkOpened(handle, path);
      if (!st.isFile()) throw acp.RequestError.invalidParams(undefined, `${path} is not a regular file`);
      if (st.nlink > 1) {
        throw acp.RequestError.invalidParams(
          undefined,
          `${path} has another hard link (${st.nlink} names, some may lie outside the run's working directory): baton does not write through it`,
        );
      }
      await handle.truncate(0);
      await handle.writeFile(params.content);
    } finally {
      await handle.close();
    }
    return {};
  }
}

/** Why a file the agent named could not be opened, as the ACP error it gets. */
function openFailure(path: string, err: unknown): acp.RequestError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP')
    return acp.RequestError.invalidParams(undefined, `${path} is a symlink now; try again`);
  // EISDIR: a folder; ENXIO: a FIFO without a reader (O_NONBLOCK); ENODEV and others: a device.
  if (code === 'EISDIR' || code === 'ENXIO' || code === 'ENODEV') {
    return acp.RequestError.invalidParams(undefined, `${path} is not a regular file`);
  }
  return acp.RequestError.invalidParams(undefined, `${path} cannot be opened (${code ?? String(err)})`);
}

/** The file's text, refused beyond {@link MAX_FILE_BYTES} (however much it grew since it was stat'ed). */
async function readBounded(handle: FileHandle, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > MAX_FILE_BYTES) {
      throw acp.RequestError.invalidParams(undefined, `${path} is larger than ${MAX_FILE_BYTES} bytes`);
    }
    chunks.push(buf.subarray(0, bytesRead));
  }
  return Buffer.concat(chunks).toString('utf8');
}
