import { waitTimeoutMs } from '../duration.js';
import type { RunRow } from '../store/runs.js';
import type { EngineContext } from './context.js';
import { isFinalStatus, type RunStatus, type RunSummary } from './types.js';

/** Input of {@link Waiting.waitRuns}. */
export type WaitInput = {
  runs?: string[];
  until?: 'attention' | 'finished';
  timeout?: string | number;
  signal?: AbortSignal;
  /** Called every few seconds while waiting (MCP progress). */
  onProgress?: (elapsedMs: number, message: string) => void;
};

/** What `wait_run` returns. */
export type WaitResult = {
  runs: RunSummary[];
  timed_out: boolean;
  /** Runs still being waited on when it timed out (small). */
  pending?: { run_id: string; label?: string; status: RunStatus; last_seq: number }[];
};

/** `wait_run`: blocking until runs need attention or are over, without polling (it listens on the bus). */
export class Waiting {
  readonly #ctx: EngineContext;
  readonly #resolveRun: (ref: string) => RunRow;

  /** `resolveRun` finds a run by id or label (RUN_NOT_FOUND otherwise). */
  constructor(ctx: EngineContext, resolveRun: (ref: string) => RunRow) {
    this.#ctx = ctx;
    this.#resolveRun = resolveRun;
  }

  /**
   * Blocks until one of the runs needs attention (`until: attention` = waiting or final) or is
   * final (`until: finished`), or the timeout passes. No polling: it listens on the bus.
   */
  async waitRuns(input: WaitInput): Promise<WaitResult> {
    const until = input.until ?? 'attention';
    const timeoutMs = waitTimeoutMs(input.timeout);
    const ids =
      input.runs && input.runs.length > 0
        ? [...new Set(input.runs.map((r) => this.#resolveRun(r).id))]
        : this.#ctx.store.runs.listActive().map((r) => r.id);
    if (ids.length === 0) return { runs: [], timed_out: false };
    const isReady = (row: RunRow) =>
      isFinalStatus(row.status) || (until === 'attention' && row.status === 'waiting');
    const check = (): RunSummary[] =>
      ids
        .map((id) => this.#ctx.runs.row(id))
        .filter((r): r is RunRow => r !== undefined && isReady(r))
        .map((r) => this.#ctx.runs.summarize(r));
    const now = check();
    if (now.length > 0) return { runs: now, timed_out: false };
    const idSet = new Set(ids);
    const started = Date.now();
    return new Promise<WaitResult>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (result: WaitResult) => {
        this.#ctx.bus.off('run', onRun);
        input.signal?.removeEventListener('abort', onAbort);
        for (const t of timers) clearTimeout(t);
        resolve(result);
      };
      const tryFinish = () => {
        const ready = check();
        if (ready.length > 0) finish({ runs: ready, timed_out: false });
      };
      const onRun = (runId: string) => {
        if (idSet.has(runId)) tryFinish();
      };
      const onAbort = () => finish({ runs: [], timed_out: true, pending: this.#pendingOf(ids) });
      this.#ctx.bus.on('run', onRun);
      input.signal?.addEventListener('abort', onAbort);
      timers.push(setTimeout(onAbort, timeoutMs));
      if (input.onProgress) {
        const report = input.onProgress;
        timers.push(
          setInterval(() => {
            const p = this.#pendingOf(ids);
            report(Date.now() - started, p.map((r) => `${r.label ?? r.run_id}: ${r.status}`).join(', '));
          }, 5000),
        );
      }
    });
  }

  #pendingOf(ids: string[]): NonNullable<WaitResult['pending']> {
    return ids
      .map((id) => this.#ctx.runs.row(id))
      .filter((r): r is RunRow => r !== undefined)
      .map((r) => ({
        run_id: r.id,
        ...(r.label ? { label: r.label } : {}),
        status: r.status,
        last_seq: this.#ctx.runs.summarize(r).last_seq,
      }));
  }
}
