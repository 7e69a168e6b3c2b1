import type { Readable } from 'node:stream';

/** What {@link readLines} does with each line. */
export type LineHandlers = {
  /** A complete line (without its newline), decoded as UTF-8. */
  onLine: (line: string) => void;
  /** A line longer than the limit was dropped; `head` is what was read of it before it overflowed (at most 256 bytes: enough for a JSON-RPC id). */
  onOversize?: (bytes: number, head: string) => void;
};

/**
 * Splits a child's stdout into newline-delimited lines (ndjson framing), each bounded by
 * `maxBytes`: a longer line is dropped whole and reported, never buffered without limit. Linear in
 * the bytes read. Resolves when the stream ends or closes; a last line without a newline is
 * delivered then.
 */
export function readLines(stream: Readable, maxBytes: number, handlers: LineHandlers): Promise<void> {
  let chunks: Buffer[] = [];
  let size = 0;
  let dropping = false;
  const append = (part: Buffer) => {
    if (part.length === 0) return;
    size += part.length;
    if (dropping) return;
    if (size > maxBytes) {
      dropping = true;
      chunks = [Buffer.concat(chunks).subarray(0, 256)];
      return;
    }
    chunks.push(part);
  };
  const endLine = () => {
    const bytes = size;
    const text = Buffer.concat(chunks).toString('utf8');
    const dropped = dropping;
    chunks = [];
    size = 0;
    dropping = false;
    if (dropped) handlers.onOversize?.(bytes, text);
    else handlers.onLine(text);
  };
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let start = 0;
      for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
        append(buf.subarray(start, nl));
        endLine();
        start = nl + 1;
      }
      if (start < buf.length) append(buf.subarray(start));
    });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (size > 0) endLine();
      resolve();
    };
    stream.once('end', finish);
    stream.once('close', finish);
  });
}
