import type { EngineContext } from './context.js';
import type { RunCtx } from './run.js';

/** The queue of runs not started yet, and when they start. */
export class Scheduler {
  readonly #ctx: EngineContext;
  readonly #start: (run: RunCtx) => void;
  readonly #queue: RunCtx[] = [];

  /** `start` runs a run's turn (its task reports its own failures). */
  constructor(ctx: EngineContext, start: (run: RunCtx) => void) {
    this.#ctx = ctx;
    this.#start = start;
  }

  /** Queues a new run; it starts from a microtask, once the caller has announced it. */
  enqueue(run: RunCtx): void {
    this.#queue.push(run);
    queueMicrotask(() => this.pump());
  }

  /** Takes a run that has not started out of the queue. */
  remove(run: RunCtx): void {
    const i = this.#queue.indexOf(run);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #activeCount(): number {
    let n = 0;
    for (const ctx of this.#ctx.runs.values()) if (ctx.started) n++;
    return n;
  }

  #sessionBusy(sessionId: string): boolean {
    for (const ctx of this.#ctx.runs.values())
      if (ctx.started && ctx.row.session_id === sessionId) return true;
    return false;
  }

  /**
   * Starts queued runs in order while fewer than max_concurrent_runs are active, one turn per
   * session at a time (a run behind a busy session waits, and so do later runs of it).
   */
  pump(): void {
    if (this.#ctx.stopping) return;
    let active = this.#activeCount();
    const claimed = new Set<string>();
    for (let i = 0; i < this.#queue.length && active < this.#ctx.config.maxConcurrentRuns;) {
      const ctx = this.#queue[i] as RunCtx;
      const sid = ctx.row.session_id;
      if (claimed.has(sid) || this.#sessionBusy(sid)) {
        claimed.add(sid);
        i++;
        continue;
      }
      claimed.add(sid);
      this.#queue.splice(i, 1);
      ctx.started = true;
      active++;
      this.#start(ctx);
    }
  }
}
