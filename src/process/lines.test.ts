import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLines } from './lines.js';

function collect(maxBytes: number) {
  const stream = new PassThrough();
  const lines: string[] = [];
  const dropped: [number, string][] = [];
  const closed = readLines(stream, maxBytes, {
    onLine: (l) => lines.push(l),
    onOversize: (n, head) => dropped.push([n, head]),
  });
  return { stream, lines, dropped, closed };
}

describe('readLines', () => {
  it('joins lines split across chunks, splits chunks holding many, and keeps UTF-8 whole', async () => {
    const c = collect(1024);
    const text = Buffer.from('{"a":1}\n{"b":"é€"}\n{"c"');
    // Cut inside the multi-byte characters on purpose.
    c.stream.write(text.subarray(0, 14));
    c.stream.write(text.subarray(14, 17));
    c.stream.write(text.subarray(17));
    c.stream.end(':3}');
    await c.closed;
    expect(c.lines).toEqual(['{"a":1}', '{"b":"é€"}', '{"c":3}']);
  });

  it('drops a line over the limit whole, reports its size and head, and goes on', async () => {
    const c = collect(16);
    c.stream.write('{"id":7,"x":"');
    c.stream.write('y'.repeat(40));
    c.stream.write('"}\nok\n');
    c.stream.end();
    await c.closed;
    expect(c.lines).toEqual(['ok']);
    expect(c.dropped).toEqual([[55, '{"id":7,"x":"']]);
  });
});
