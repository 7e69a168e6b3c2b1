import type { Readable, Writable } from 'node:stream';
import { readLines } from './lines.js';

/** What {@link readJsonLines} does with each line of the stream. */
export type JsonLineHandlers = {
  /** A non-blank line that parsed as JSON (any JSON value: the caller checks its shape); `line` is its text. */
  onValue: (value: unknown, line: string) => void;
  /** A non-blank line that is not JSON. */
  onUnparsed: (line: string) => void;
  /** A handler threw on `line`: the line is reported, never allowed to end the reading. */
  onHandlerError: (err: unknown, line: string) => void;
  /** A line longer than the limit was dropped ({@link readLines}). */
  onOversize?: (bytes: number, head: string) => void;
};

/**
 * Reads newline-delimited JSON (one value a line, each line bounded by `maxBytes`, see
 * {@link readLines}) and hands each parsed value to `onValue`. Blank lines are skipped. Resolves
 * when the stream ends or closes.
 */
export function readJsonLines(stream: Readable, maxBytes: number, handlers: JsonLineHandlers): Promise<void> {
  return readLines(stream, maxBytes, {
    onLine: (line) => {
      try {
        if (!line.trim()) return;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          handlers.onUnparsed(line);
          return;
        }
        handlers.onValue(value, line);
      } catch (err) {
        handlers.onHandlerError(err, line);
      }
    },
    ...(handlers.onOversize ? { onOversize: handlers.onOversize } : {}),
  });
}

/**
 * Writes `message` as one JSON line. Skipped (false) when the stream is closed or ended: a peer
 * that is gone reports itself through its exit, not through a write error.
 */
export function writeJsonLine(out: Writable, message: unknown): boolean {
  if (out.destroyed || out.writableEnded) return false;
  out.write(`${JSON.stringify(message)}\n`);
  return true;
}

/**
 * Requests in flight, correlated with their answers by id. Each {@link add} returns a promise that
 * {@link resolve}, {@link reject} or {@link close} settles exactly once; after `close` every new
 * request fails at once with the same error.
 */
export class PendingRequests<Id, T = unknown> {
  readonly #pending = new Map<Id, { resolve: (value: T) => void; reject: (err: unknown) => void }>();
  #closedWith: Error | undefined;

  /** The error {@link close} was given, once it was called. */
  get closedWith(): Error | undefined {
    return this.#closedWith;
  }

  /** How many requests await an answer. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Registers request `id` (call before sending it). `onAnswer` runs synchronously as the answer is
   * resolved, before the lines read after it (a promise callback would run later).
   */
  add(id: Id, onAnswer?: (value: T) => void): Promise<T> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (value) => {
          onAnswer?.(value);
          resolve(value);
        },
        reject,
      });
    });
  }

  /** Settles request `id` with its result; false when no such request is in flight. */
  resolve(id: Id, value: T): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    pending.resolve(value);
    return true;
  }

  /** Fails request `id`; false when no such request is in flight. */
  reject(id: Id, err: unknown): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    pending.reject(err);
    return true;
  }

  /** Fails every request in flight and every later one with `err` (the peer is gone). */
  close(err: Error): void {
    this.#closedWith ??= err;
    this.failAll(err);
  }

  /** Fails every request in flight with `err`; later requests are still accepted. */
  failAll(err: unknown): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) p.reject(err);
  }
}
