import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PendingRequests, readJsonLines, writeJsonLine } from './jsonl.js';

describe('readJsonLines', () => {
  it('hands over each JSON value, skips blank lines, reports non-JSON and survives a throwing handler', async () => {
    const stream = new PassThrough();
    const values: unknown[] = [];
    const unparsed: string[] = [];
    const failed: [string, string][] = [];
    const dropped: number[] = [];
    const done = readJsonLines(stream, 64, {
      onValue: (value, line) => {
        if (value === 'boom') throw new Error(`cannot take ${line}`);
        values.push(value);
      },
      onUnparsed: (line) => unparsed.push(line),
      onHandlerError: (err, line) => failed.push([String(err), line]),
      onOversize: (bytes) => dropped.push(bytes),
    });
    stream.write('{"id":1,"result":{"ok":true}}\n\n   \nnot json\n"boom"\n');
    stream.write(`${JSON.stringify({ big: 'x'.repeat(100) })}\n[1,2]\n`);
    stream.end('42');
    await done;
    expect(values).toEqual([{ id: 1, result: { ok: true } }, [1, 2], 42]);
    expect(unparsed).toEqual(['not json']);
    expect(failed).toEqual([['Error: cannot take "boom"', '"boom"']]);
    expect(dropped).toEqual([110]); // the line without its newline
  });

  it('writeJsonLine writes one line and skips an ended stream', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    expect(writeJsonLine(out, { method: 'initialized' })).toBe(true);
    out.end();
    expect(writeJsonLine(out, { method: 'late' })).toBe(false);
    await new Promise((r) => out.on('end', r));
    expect(chunks.join('')).toBe('{"method":"initialized"}\n');
  });
});

describe('PendingRequests', () => {
  it('settles each request by its id, once, and runs onAnswer before the promise callbacks', async () => {
    const pending = new PendingRequests<number>();
    const order: string[] = [];
    const a = pending.add(1, (v) => order.push(`answer ${String(v)}`));
    const b = pending.add(2);
    void a.then(() => order.push('then'));
    expect(pending.size).toBe(2);
    expect(pending.resolve(3, 'nobody')).toBe(false);
    expect(pending.resolve(1, 'one')).toBe(true);
    order.push('after resolve');
    expect(pending.resolve(1, 'again')).toBe(false);
    expect(pending.reject(2, new Error('refused'))).toBe(true);
    await expect(a).resolves.toBe('one');
    await expect(b).rejects.toThrow('refused');
    expect(order).toEqual(['answer one', 'after resolve', 'then']);
    expect(pending.size).toBe(0);
  });

  it('failAll fails what is in flight and accepts more; close also fails every later request', async () => {
    const pending = new PendingRequests<string>();
    const first = pending.add('a');
    pending.failAll(new Error('process replaced'));
    await expect(first).rejects.toThrow('process replaced');
    const second = pending.add('b');
    expect(pending.resolve('b', 2)).toBe(true);
    await expect(second).resolves.toBe(2);
    const third = pending.add('c');
    pending.close(new Error('gone'));
    await expect(third).rejects.toThrow('gone');
    await expect(pending.add('d')).rejects.toThrow('gone');
    expect(pending.closedWith?.message).toBe('gone');
  });
});
