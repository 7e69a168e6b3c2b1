import type { Readable, Writable } from 'node:stream';
import { PendingRequests, readJsonLines, writeJsonLine } from '../../process/jsonl.js';
import { errorText } from '../agent-process.js';

/** A JSON object as codex sends it (members unchecked). */
export type Json = Record<string, unknown>;
/** A JSON-RPC request id. */
export type RpcId = number | string;

/** The value as a JSON object, or `{}` when it is not one. */
export function asJson(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

/** A JSON-RPC error answer from codex (or one baton sends back to it). */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

/** What the peer does with what codex sends. */
export type PeerHandlers = {
  /** A request from codex; the result (or the RpcError thrown) is its answer. */
  onRequest: (method: string, params: Json, id: RpcId) => Promise<unknown>;
  /** A notification; unreadable lines come as `baton/unparsed` and `baton/unreadable`. */
  onNotification: (method: string, params: Json) => void;
  /** A line over `maxLineBytes` was dropped. */
  onDropped: (bytes: number) => void;
};

/**
 * JSON-RPC over JSONL as `codex app-server` speaks it: one JSON object a line, no `jsonrpc`
 * member, integer request ids. Lines are bounded by `maxLineBytes`; an answer over the bound fails
 * its request.
 */
export class JsonLinePeer {
  readonly #out: Writable;
  readonly #handlers: PeerHandlers;
  readonly #maxLineBytes: number;
  readonly #pending = new PendingRequests<RpcId>();
  #nextId = 1;

  constructor(input: Readable, output: Writable, maxLineBytes: number, handlers: PeerHandlers) {
    this.#out = output;
    this.#handlers = handlers;
    this.#maxLineBytes = maxLineBytes;
    void readJsonLines(input, maxLineBytes, {
      onValue: (value, line) => this.#onMessage(value, line),
      onUnparsed: (line) => this.#unparsed(line),
      // A line of an unexpected shape is kept, never allowed to crash baton.
      onHandlerError: (err, line) =>
        this.#handlers.onNotification('baton/unreadable', { error: String(err), line: line.slice(0, 2000) }),
      onOversize: (size, head) => this.#onOversize(size, head),
    });
  }

  /** Sends a request and resolves with its result; rejects with an RpcError or when the peer closes. */
  request(method: string, params: unknown, onAnswer?: (result: unknown) => void): Promise<unknown> {
    if (this.#pending.closedWith) return Promise.reject(this.#pending.closedWith);
    const id = this.#nextId++;
    // `onAnswer` runs as the answer is read, before the lines after it (a promise would run later).
    const answered = this.#pending.add(id, onAnswer);
    this.#write({ id, method, params });
    return answered;
  }

  /** Sends a notification. */
  notify(method: string, params?: unknown): void {
    this.#write(params === undefined ? { method } : { method, params });
  }

  /** Fails every request in flight (the process is gone). */
  close(err: Error): void {
    this.#pending.close(err);
  }

  #write(message: Json): void {
    if (this.#pending.closedWith) return;
    writeJsonLine(this.#out, message);
  }

  #onOversize(size: number, head: string): void {
    this.#handlers.onDropped(size);
    const id = /^\s*\{\s*"id"\s*:\s*(\d+)/.exec(head)?.[1];
    if (id !== undefined) {
      this.#pending.reject(
        Number(id),
        new RpcError(-32603, `codex's answer was larger than ${this.#maxLineBytes} bytes`),
      );
    }
  }

  #unparsed(line: string): void {
    this.#handlers.onNotification('baton/unparsed', { line: line.slice(0, 2000) });
  }

  #onMessage(value: unknown, line: string): void {
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      this.#unparsed(line);
      return;
    }
    const msg = value as Json;
    const id = msg.id as RpcId | undefined;
    const method = typeof msg.method === 'string' ? msg.method : undefined;
    if (method !== undefined && id !== undefined) {
      this.#handlers.onRequest(method, asJson(msg.params), id).then(
        (result) => this.#write({ id, result }),
        (err: unknown) => {
          const e = err instanceof RpcError ? err : new RpcError(-32603, errorText(err));
          this.#write({ id, error: { code: e.code, message: e.message } });
        },
      );
    } else if (method !== undefined) {
      this.#handlers.onNotification(method, asJson(msg.params));
    } else if (id !== undefined) {
      if (msg.error) {
        const e = asJson(msg.error);
        this.#pending.reject(
          id,
          new RpcError(Number(e.code ?? -32603), String(e.message ?? 'error'), e.data),
        );
      } else {
        this.#pending.resolve(id, msg.result);
      }
    }
  }
}
