import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How long one validation may take once the worker runs (a regex that backtracks is cut off). */
export const VALIDATE_TIMEOUT_MS = 500;
/** Most errors a verdict lists (an answer can fail a schema in a million places). */
export const MAX_ERRORS = 50;
/** At most this long is waited for a new worker to start. */
const START_TIMEOUT_MS = 10_000;

/** The outcome of a validation in the worker: Ajv's verdict, or that it ran out of time. */
export type BoundedVerdict = { valid: true } | { valid: false; errors: string[] } | { timed_out: true };

// The worker keeps compiled schemas (bounded) and answers each request by id. CommonJS: an
// eval'd worker has `require`.
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Ajv } = require(workerData.ajv);
const MAX_ERRORS = workerData.maxErrors;
const cache = new Map();
parentPort.on('message', ({ id, key, schema, value }) => {
  let result;
  try {
    let validate = cache.get(key);
    if (!validate) {
      validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
      if (cache.size >= 50) cache.delete(cache.keys().next().value);
      cache.set(key, validate);
    }
    result = validate(value)
      ? { valid: true }
      : { valid: false, errors: (validate.errors || []).slice(0, MAX_ERRORS).map((e) => (e.instancePath || '/') + ' ' + (e.message || 'is invalid')) };
  } catch (err) {
    result = { valid: false, errors: [String(err && err.message)] };
  }
  parentPort.postMessage({ id, result });
});
`;

type Pending = { resolve: (v: BoundedVerdict) => void; timer: NodeJS.Timeout | undefined };
type Bound = { worker: Worker; pending: Map<number, Pending>; nextId: number; ready: Promise<void> };
let current: Bound | undefined;

function startWorker(): Bound {
  const worker = new Worker(WORKER_CODE, {
    eval: true,
    workerData: { ajv: createRequire(import.meta.url).resolve('ajv'), maxErrors: MAX_ERRORS },
  });
  worker.unref();
  const bound: Bound = {
    worker,
    pending: new Map(),
    nextId: 1,
    ready: new Promise((resolve) => worker.once('online', () => resolve())),
  };
  worker.on('message', ({ id, result }: { id: number; result: BoundedVerdict }) => {
    const p = bound.pending.get(id);
    if (!p) return;
    bound.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(result);
  });
  const fail = (err: unknown) => {
    if (current === bound) current = undefined;
    for (const p of bound.pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ valid: false, errors: [`validation failed: ${String(err)}`] });
    }
    bound.pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(`the validation worker exited (${code})`));
  return bound;
}

/**
 * Validates `value` against `schema` in a worker thread, one validation at a time, each given up
 * after {@link VALIDATE_TIMEOUT_MS} (counted from its turn, once the worker runs): the caller's
 * `pattern` regexes and costly keywords on a huge answer (`uniqueItems`) run there, so they never
 * block this thread. On a timeout the worker is terminated (a new one starts for the next) and
 * the verdict says `timed_out`. At most {@link MAX_ERRORS} errors are listed. Never rejects.
 */
export function validateBounded(schema: Record<string, unknown>, value: unknown): Promise<BoundedVerdict> {
  // One at a time: each gets its full time, and a timed-out one never takes others down with it.
  const next = queue.then(() => validateOne(schema, value));
  queue = next.catch(() => undefined);
  return next;
}

let queue: Promise<unknown> = Promise.resolve();

async function validateOne(schema: Record<string, unknown>, value: unknown): Promise<BoundedVerdict> {
  current ??= startWorker();
  const w = current;
  await Promise.race([w.ready, new Promise((r) => setTimeout(r, START_TIMEOUT_MS).unref())]);
  return new Promise<BoundedVerdict>((resolve) => {
    const id = w.nextId++;
    const timer = setTimeout(() => {
      w.pending.delete(id);
      if (current === w) current = undefined;
      void w.worker.terminate();
      resolve({ timed_out: true });
    }, VALIDATE_TIMEOUT_MS);
    w.pending.set(id, { resolve, timer });
    w.worker.postMessage({ id, key: JSON.stringify(schema), schema, value });
  });
}
