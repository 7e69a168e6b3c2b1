import { closeSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from '../errors.js';

/** Fields above this many UTF-8 bytes are moved out of the event into an artifact file. */
export const ARTIFACT_THRESHOLD_BYTES = 8 * 1024;
/** How much of a moved field stays inline as a preview. */
const PREVIEW_CHARS = 512;

/** Where one moved field lives. `pointer` is a JSON Pointer into the event's `data`. */
export type ArtifactRef = { pointer: string; file: string; total_bytes: number };

function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Moves every string field of `data` longer than {@link ARTIFACT_THRESHOLD_BYTES} to a file under
 * `<dir>/<runId>/`, replacing it with a preview. Returns the refs (empty when nothing moved).
 * Mutates `data`.
 */
export function extractArtifacts(
  dir: string,
  runId: string,
  seq: number,
  data: Record<string, unknown>,
): ArtifactRef[] {
  const refs: ArtifactRef[] = [];
  const visit = (node: Record<string, unknown> | unknown[], pointer: string): void => {
    const entries: [string, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [String(i), v])
      : Object.entries(node);
    for (const [key, value] of entries) {
      const here = `${pointer}/${escapePointerToken(key)}`;
      if (typeof value === 'string') {
        if (value.length * 3 <= ARTIFACT_THRESHOLD_BYTES) continue; // cheap pre-check: cannot exceed
        const bytes = Buffer.byteLength(value);
        if (bytes <= ARTIFACT_THRESHOLD_BYTES) continue;
        const file = join(runId, `${seq}-${refs.length}.txt`);
        mkdirSync(join(dir, runId), { recursive: true, mode: 0o700 });
        writeFileSync(join(dir, file), value, { mode: 0o600 });
        refs.push({ pointer: here, file, total_bytes: bytes });
        const cut = /[\uD800-\uDBFF]/.test(value.charAt(PREVIEW_CHARS - 1))
          ? PREVIEW_CHARS - 1
          : PREVIEW_CHARS;
        const preview = `${value.slice(0, cut)}… [${bytes} bytes in artifact ${here}]`;
        if (Array.isArray(node)) node[Number(key)] = preview;
        else node[key] = preview;
      } else if (value && typeof value === 'object') {
        visit(value as Record<string, unknown> | unknown[], here);
      }
    }
  };
  visit(data, '');
  return refs;
}

/**
 * Reads `limit` bytes of an artifact from `offset`, never splitting a UTF-8 character.
 * Throws ARTIFACT_NOT_FOUND when the file is gone, INVALID_PARAMS for an offset past the end.
 */
export function readArtifact(
  dir: string,
  ref: ArtifactRef,
  offset: number,
  limit: number,
): { content: string; offset: number; next_offset?: number; total_bytes: number } {
  const path = join(dir, ref.file);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new BatonError('ARTIFACT_NOT_FOUND', `the artifact file for ${ref.pointer} is missing (${path})`);
  }
  if (offset < 0 || offset > size) {
    throw new BatonError(
      'INVALID_PARAMS',
      `offset ${offset} is past the end of the artifact (${size} bytes)`,
    );
  }
  // Read a little more than asked so page edges can be moved to character boundaries.
  const peek = Math.min(limit + 8, size - offset);
  const buf = Buffer.alloc(peek);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, peek, offset);
  } finally {
    closeSync(fd);
  }
  const isContinuation = (i: number) => ((buf[i] ?? 0) & 0xc0) === 0x80;
  // An offset inside a character starts at the next character.
  let start = 0;
  while (start < peek && isContinuation(start)) start++;
  let end = Math.min(start + limit, peek);
  if (end < peek && isContinuation(end)) {
    let i = end;
    while (i > start && isContinuation(i)) i--;
    if (i > start) end = i;
    else while (end < peek && isContinuation(end)) end++; // limit smaller than one character: return it whole
  }
  const next = offset + end;
  return {
    content: buf.subarray(start, end).toString('utf8'),
    offset: offset + start,
    ...(next < size ? { next_offset: next } : {}),
    total_bytes: size,
  };
}
