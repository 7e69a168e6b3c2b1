import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ARTIFACT_THRESHOLD_BYTES, extractArtifacts, readArtifact, type ArtifactRef } from './artifacts.js';
import { errorOf } from '../../test/errors.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-artifacts-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` as an artifact through extractArtifacts and returns its ref. */
function storeText(text: string): ArtifactRef {
  const data: Record<string, unknown> = { text };
  const refs = extractArtifacts(dir, 'run-1', 1, data);
  expect(refs).toHaveLength(1);
  return refs[0] as ArtifactRef;
}

/** Reads every page with `limit` and returns the pages. */
function readAll(ref: ArtifactRef, limit: number) {
  const pages = [];
  let offset: number | undefined = 0;
  while (offset !== undefined) {
    const page = readArtifact(dir, ref, offset, limit);
    pages.push(page);
    expect(page.offset).toBe(offset);
    if (page.next_offset !== undefined) expect(page.next_offset).toBeGreaterThan(offset);
    offset = page.next_offset;
    if (pages.length > 100_000) throw new Error('readArtifact does not advance');
  }
  return pages;
}

describe('extractArtifacts', () => {
  it('keeps strings at or under the threshold and moves only larger ones', () => {
    const atLimit = 'a'.repeat(ARTIFACT_THRESHOLD_BYTES);
    const over = 'b'.repeat(ARTIFACT_THRESHOLD_BYTES + 1);
    const data: Record<string, unknown> = { small: 'hi', atLimit, over, n: 42, flag: true, none: null };
    const refs = extractArtifacts(dir, 'run-1', 7, data);

    expect(refs).toEqual([{ pointer: '/over', file: join('run-1', '7-0.txt'), total_bytes: 8193 }]);
    expect(data.small).toBe('hi');
    expect(data.atLimit).toBe(atLimit);
    expect(data.n).toBe(42);
    expect(data.flag).toBe(true);
    expect(data.none).toBeNull();
    expect(data.over).toBe(`${'b'.repeat(512)}… [8193 bytes in artifact /over]`);
    expect(readFileSync(join(dir, 'run-1', '7-0.txt'), 'utf8')).toBe(over);
  });

  it('counts UTF-8 bytes, not characters', () => {
    // 3000 "€" are 3000 characters but 9000 bytes.
    const euros = '€'.repeat(3000);
    const data: Record<string, unknown> = { text: euros };
    const refs = extractArtifacts(dir, 'run-1', 1, data);
    expect(refs).toEqual([{ pointer: '/text', file: join('run-1', '1-0.txt'), total_bytes: 9000 }]);
    expect(readFileSync(join(dir, 'run-1', '1-0.txt'), 'utf8')).toBe(euros);
    expect(data.text).toBe(`${'€'.repeat(512)}… [9000 bytes in artifact /text]`);
  });

  it('returns no refs and writes nothing when every field is small', () => {
    const data = { a: 'x'.repeat(100), nested: { b: ['y'.repeat(8000)] } };
    const before = structuredClone(data);
    expect(extractArtifacts(dir, 'run-2', 1, data)).toEqual([]);
    expect(data).toEqual(before);
    expect(() => readFileSync(join(dir, 'run-2', '1-0.txt'))).toThrow();
  });

  it('walks nested objects and arrays and escapes "/" and "~" in keys', () => {
    const big = (c: string) => c.repeat(9000);
    const data: Record<string, unknown> = {
      tool: { input: { content: big('c'), path: '/tmp/x' } },
      list: ['short', big('l'), { deep: [big('d')] }],
      'a/b': big('s'),
      'm~n': big('t'),
      '~/': { x: big('u') },
    };
    const refs = extractArtifacts(dir, 'run-9', 3, data);

    expect(refs.map((r) => r.pointer)).toEqual([
      '/tool/input/content',
      '/list/1',
      '/list/2/deep/0',
      '/a~1b',
      '/m~0n',
      '/~0~1/x',
    ]);
    expect(refs.map((r) => r.file)).toEqual([0, 1, 2, 3, 4, 5].map((i) => join('run-9', `3-${i}.txt`)));
    expect(refs.every((r) => r.total_bytes === 9000)).toBe(true);

    const tool = data.tool as { input: { content: string; path: string } };
    expect(tool.input.path).toBe('/tmp/x');
    expect(tool.input.content).toBe(`${'c'.repeat(512)}… [9000 bytes in artifact /tool/input/content]`);
    const list = data.list as [string, string, { deep: string[] }];
    expect(list[0]).toBe('short');
    expect(list[1]).toBe(`${'l'.repeat(512)}… [9000 bytes in artifact /list/1]`);
    expect(list[2].deep[0]).toBe(`${'d'.repeat(512)}… [9000 bytes in artifact /list/2/deep/0]`);
    expect(data['a/b']).toBe(`${'s'.repeat(512)}… [9000 bytes in artifact /a~1b]`);
    expect(data['m~n']).toBe(`${'t'.repeat(512)}… [9000 bytes in artifact /m~0n]`);

    expect(readFileSync(join(dir, 'run-9', '3-1.txt'), 'utf8')).toBe(big('l'));
    expect(readFileSync(join(dir, 'run-9', '3-3.txt'), 'utf8')).toBe(big('s'));
    expect(readFileSync(join(dir, 'run-9', '3-5.txt'), 'utf8')).toBe(big('u'));
  });
});

describe('readArtifact', () => {
  it('pages ASCII by offset and omits next_offset on the last page', () => {
    const text = Array.from({ length: 10_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const ref = storeText(text);
    expect(ref.total_bytes).toBe(10_000);

    const first = readArtifact(dir, ref, 0, 4096);
    expect(first).toEqual({
      content: text.slice(0, 4096),
      offset: 0,
      next_offset: 4096,
      total_bytes: 10_000,
    });
    const second = readArtifact(dir, ref, 4096, 4096);
    expect(second).toEqual({
      content: text.slice(4096, 8192),
      offset: 4096,
      next_offset: 8192,
      total_bytes: 10_000,
    });
    const last = readArtifact(dir, ref, 8192, 4096);
    expect(last).toEqual({ content: text.slice(8192), offset: 8192, total_bytes: 10_000 });
    expect('next_offset' in last).toBe(false);

    const whole = readArtifact(dir, ref, 0, 1_000_000);
    expect(whole).toEqual({ content: text, offset: 0, total_bytes: 10_000 });
  });

  it('a page that ends exactly at the end has no next_offset', () => {
    const ref = storeText('z'.repeat(9000));
    const page = readArtifact(dir, ref, 1000, 8000);
    expect(page).toEqual({ content: 'z'.repeat(8000), offset: 1000, total_bytes: 9000 });
  });

  it('offset equal to the size returns an empty last page', () => {
    const ref = storeText('z'.repeat(9000));
    expect(readArtifact(dir, ref, 9000, 10)).toEqual({ content: '', offset: 9000, total_bytes: 9000 });
  });

  it('never splits a multi-byte character and the pages join back to the original', () => {
    // 1-, 2-, 3- and 4-byte characters, shuffled so boundaries fall everywhere.
    const alphabet = ['a', 'é', '€', '😀', 'ü', '🎉', 'z', '中'];
    const text = Array.from({ length: 6000 }, (_, i) => alphabet[(i * 7 + (i >> 3)) % alphabet.length]).join(
      '',
    );
    const ref = storeText(text);
    expect(ref.total_bytes).toBe(Buffer.byteLength(text));

    for (const limit of [4, 5, 7, 13, 333, 1001, 4097]) {
      const pages = readAll(ref, limit);
      expect(pages.map((p) => p.content).join('')).toBe(text);
      for (const page of pages) {
        expect(page.content).not.toContain('\uFFFD');
        expect(page.total_bytes).toBe(ref.total_bytes);
        expect(Buffer.byteLength(page.content)).toBeLessThanOrEqual(limit);
        if (page.next_offset !== undefined) {
          expect(page.next_offset).toBe(page.offset + Buffer.byteLength(page.content));
        }
      }
      const last = pages[pages.length - 1];
      expect(last?.next_offset).toBeUndefined();
      expect(last && last.offset + Buffer.byteLength(last.content)).toBe(ref.total_bytes);
    }
  });

  it('ends a page before a character the limit would cut', () => {
    // "é" is 2 bytes: a 5-byte page holds two of them (4 bytes), not two and a half.
    const ref = storeText('é'.repeat(5000));
    expect(readArtifact(dir, ref, 0, 5)).toEqual({
      content: 'éé',
      offset: 0,
      next_offset: 4,
      total_bytes: 10_000,
    });
    // "😀" is 4 bytes: a 7-byte page holds one.
    const emoji = storeText('😀'.repeat(3000));
    expect(readArtifact(dir, emoji, 4, 7)).toEqual({
      content: '😀',
      offset: 4,
      next_offset: 8,
      total_bytes: 12_000,
    });
  });

  it('rejects an offset past the end with INVALID_PARAMS', () => {
    const ref = storeText('q'.repeat(9000));
    const err = errorOf(() => readArtifact(dir, ref, 9001, 10));
    expect(err.code).toBe('INVALID_PARAMS');
    expect(err.message).toBe('offset 9001 is past the end of the artifact (9000 bytes)');
  });

  it('reports a missing file as ARTIFACT_NOT_FOUND naming the pointer', () => {
    const ref = storeText('q'.repeat(9000));
    unlinkSync(join(dir, ref.file));
    const err = errorOf(() => readArtifact(dir, ref, 0, 10));
    expect(err.code).toBe('ARTIFACT_NOT_FOUND');
    expect(err.message).toContain('/text');
    expect(err.message).toContain(join(dir, ref.file));
  });
});

describe('readArtifact with pages smaller than a character', () => {
  it('returns whole characters and pages still join to the original', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-art-small-'));
    try {
      const text = '€'.repeat(3000) + '😀'.repeat(3000);
      const data: Record<string, unknown> = { text };
      const [ref] = extractArtifacts(dir, 'r_small', 1, data);
      expect(String(data.text)).not.toMatch(/[\uD800-\uDBFF]…/);
      let offset: number | undefined = 0;
      let joined = '';
      let pages = 0;
      while (offset !== undefined && pages < 100_000) {
        const page: ReturnType<typeof readArtifact> = readArtifact(
          dir,
          ref as ArtifactRef,
          offset,
          pages % 2 ? 1 : 5,
        );
        expect(page.content).not.toContain('\uFFFD');
        joined += page.content;
        offset = page.next_offset;
        pages++;
      }
      expect(joined).toBe(text);
      // An offset inside a character starts at the next one.
      const mid = readArtifact(dir, ref as ArtifactRef, 1, 6);
      expect(mid.offset).toBe(3);
      expect(mid.content).toBe('€€');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
