import { constants as fsConstants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { basename, extname, isAbsolute } from 'node:path';
import { BatonError } from '../errors.js';
import { isInside, realpathLoose } from '../paths.js';
import type { SpawnInput } from './admission.js';
import type { InputPart } from './types.js';

/** Largest file (prompt_file, or an input_message file part), in bytes. */
export const FILE_MAX_BYTES = 4_000_000;
/** Most parts of an input_message, and the most bytes its files and data may hold together. */
const PARTS_MAX = 64;
const PARTS_MAX_BYTES = 8 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Media types of files given by path, by extension (others: application/octet-stream). */
const MEDIA_TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.xml': 'application/xml',
  '.html': 'text/html',
  '.csv': 'text/csv',
  '.js': 'text/javascript',
  '.ts': 'text/x-typescript',
  '.py': 'text/x-python',
  '.sh': 'text/x-shellscript',
  '.diff': 'text/x-diff',
  '.patch': 'text/x-diff',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
};

/**
 * A file a caller names (`what`: prompt_file, or an input_message part): an absolute path whose
 * real path is inside the roots, naming a regular file (a FIFO, device or folder is refused at
 * once, never waited on) of at most 4 MB, read asynchronously.
 */
export async function readCallerFile(roots: readonly string[], file: string, what: string): Promise<Buffer> {
  if (!isAbsolute(file)) {
    throw new BatonError('INVALID_PARAMS', `${what} must be an absolute path (got "${file}")`);
  }
  const inRoots = (path: string) => roots.some((root) => isInside(root, path));
  const real = realpathLoose(file);
  if (!inRoots(real)) {
    throw new BatonError('CWD_NOT_ALLOWED', `${what} ${file} is outside the allowed roots`);
  }
  const limit = FILE_MAX_BYTES;
  let handle: FileHandle | undefined;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOFOLLOW: no symlink swapped in.
    handle = await open(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
    // What was opened, not what the path named a moment ago, must be inside the roots.
    const opened = await realpath(`/proc/self/fd/${handle.fd}`).catch(() => real);
    if (!inRoots(opened)) throw new Error('it resolves outside the allowed roots');
    const st = await handle.stat();
    if (!st.isFile()) throw new Error('it is not a regular file (FIFOs, devices and folders are refused)');
    if (st.size > limit) throw new Error(`it is larger than ${limit} bytes`);
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > limit) throw new Error(`it is larger than ${limit} bytes`);
    return buf.subarray(0, n);
  } catch (err) {
    throw new BatonError('INVALID_PARAMS', `${what} ${file} cannot be read: ${(err as Error).message}`);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * spawn_run `input_message`, checked and with its files read: at most {@link PARTS_MAX} parts
 * holding at most 8 MB together. Undefined when not given.
 */
export async function readInputMessage(
  roots: readonly string[],
  given: SpawnInput['input_message'],
): Promise<InputPart[] | undefined> {
  if (given === undefined) return undefined;
  if (!Array.isArray(given) || given.length === 0 || given.length > PARTS_MAX) {
    throw new BatonError('INVALID_PARAMS', `input_message must be an array of 1 to ${PARTS_MAX} parts`);
  }
  const out: InputPart[] = [];
  let bytes = 0;
  for (const [i, part] of given.entries()) {
    const at = `input_message[${i}]`;
    const p = part as Record<string, unknown>;
    if (p.type === 'text' && typeof p.text === 'string') {
      bytes += Buffer.byteLength(p.text);
      out.push({ type: 'text', text: p.text });
    } else if (p.type === 'data' && 'data' in p) {
      const json = JSON.stringify(p.data);
      if (json === undefined) throw new BatonError('INVALID_PARAMS', `${at}.data must be a JSON value`);
      bytes += json.length;
      out.push({ type: 'data', data: p.data });
    } else if (p.type === 'file' && typeof p.path === 'string' && p.data === undefined) {
      const content = await readCallerFile(roots, p.path, `${at}.path`);
      bytes += content.length;
      const name = typeof p.name === 'string' && p.name ? p.name : basename(p.path);
      const mediaType =
        typeof p.media_type === 'string' && p.media_type
          ? p.media_type
          : (MEDIA_TYPES[extname(p.path).toLowerCase()] ?? 'application/octet-stream');
      out.push({
        type: 'file',
        name,
        media_type: mediaType,
        data: content.toString('base64'),
        size: content.length,
        path: p.path,
      });
    } else if (p.type === 'file' && typeof p.data === 'string' && p.path === undefined) {
      if (typeof p.media_type !== 'string' || !/^[\w.+-]+\/[\w.+-]+$/.test(p.media_type)) {
        throw new BatonError(
          'INVALID_PARAMS',
          `${at}.media_type is required with inline data: a media type such as "text/plain" or "image/png"`,
        );
      }
      if (p.data.length % 4 !== 0 || !BASE64.test(p.data)) {
        throw new BatonError('INVALID_PARAMS', `${at}.data must be base64 (standard alphabet, padded)`);
      }
      const size = Buffer.byteLength(p.data, 'base64');
      if (size > FILE_MAX_BYTES) {
        throw new BatonError('INVALID_PARAMS', `${at}.data is larger than ${FILE_MAX_BYTES} bytes`);
      }
      bytes += size;
      const name = typeof p.name === 'string' && p.name ? p.name : `file-${i + 1}`;
      out.push({ type: 'file', name, media_type: p.media_type, data: p.data, size });
    } else {
      throw new BatonError(
        'INVALID_PARAMS',
        `${at} must be {type: "text", text}, {type: "file", path}, {type: "file", data (base64), media_type, name?} or {type: "data", data}`,
      );
    }
    if (bytes > PARTS_MAX_BYTES) {
      throw new BatonError(
        'INVALID_PARAMS',
        `input_message holds more than ${PARTS_MAX_BYTES} bytes; pass large files by path to a tool of the agent instead`,
      );
    }
  }
  return out;
}
