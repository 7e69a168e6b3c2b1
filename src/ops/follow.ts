import { isFinalStatus, type RunEvent, type RunSummary } from '../engine/types.js';
import type { Baton } from './baton.js';

/**
 * What {@link follow} yields: new events in order, the run's summary when it changed, or `idle`
 * when nothing happened for `idleMs` (a stream's chance to send a keep-alive).
 */
export type FollowItem =
  { type: 'events'; events: RunEvent[] } | { type: 'run'; run: RunSummary } | { type: 'idle' };

/** Sleeps until woken or `ms` pass; a wake that comes before the sleep is not lost. */
export function createWaker(): { wake: () => void; sleep: (ms: number) => Promise<void> } {
  let pending = false;
  let wake: (() => void) | undefined;
  return {
    wake: () => {
      if (wake) wake();
      else pending = true;
    },
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        if (pending) {
          pending = false;
          resolve();
          return;
        }
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        wake = done;
      }),
  };
}

/** Announced events one follower holds before it falls back to reading the store. */
const MAX_BUFFERED = 1000;

/**
 * Follows one run through any {@link Baton}: yields every stored event after `afterSeq` (in pages,
 * in order) and the summary each time it changes (status, waiting request, result), and returns
 * once the run is final and every event was yielded, or (`until: "attention"`) as soon as it also
 * waits for an answer. No polling: it sleeps until the owner announces a change (and yields
 * `idle` every `idleMs` without one, default 15 s, for streams that send keep-alives).
 * Stops early when `signal` aborts. The one "until it needs attention" loop every front uses.
 */
export async function* follow(
  baton: Baton,
  run: string,
  opts: { afterSeq?: number; until?: 'attention' | 'finished'; signal?: AbortSignal; idleMs?: number } = {},
): AsyncGenerator<FollowItem, RunSummary | undefined> {
  const w = createWaker();
  let runId = run;
  /** The summary must be read again (the run's row changed, or the owner was replaced). */
  let runChanged = true;
  /** Events may be missing from `buffered`: read the stored pages instead. */
  let gap = true;
  /** Events the owner announced and this loop has not yielded yet (bounded: past it, a gap). */
  let buffered: RunEvent[] = [];
  const stop = baton.watch((change) => {
    if (change.type === 'confirmation') return;
    if (change.type === 'reset') {
      runChanged = true;
      gap = true;
      buffered = [];
    } else if (change.run_id !== runId) {
      return;
    } else if (change.type === 'run') {
      runChanged = true;
    } else if (change.events.length === 0 || buffered.length + change.events.length > MAX_BUFFERED) {
      gap = true;
      buffered = [];
    } else {
      buffered.push(...change.events);
    }
    w.wake();
  });
  const onAbort = () => w.wake();
  opts.signal?.addEventListener('abort', onAbort);
  let after = opts.afterSeq ?? 0;
  let seen = '';
  let last: RunSummary | undefined;
  /** Every stored event after `after`, page by page. */
  async function* pages(): AsyncGenerator<FollowItem> {
    for (;;) {
      const page = await baton.call<{ events: RunEvent[]; next_seq: number; has_more: boolean }>(
        'get_events',
        { run: runId, after_seq: after, limit: 500 },
      );
      if (page.events.length > 0) {
        after = page.next_seq;
        yield { type: 'events', events: page.events };
      }
      if (!page.has_more || opts.signal?.aborted) return;
    }
  }
  /**
   * The new events: those the owner sent with its change frames when they follow on from the last
   * one yielded (no second read per change), else the stored pages.
   */
  async function* fresh(): AsyncGenerator<FollowItem> {
    if (!gap) {
      const next = buffered.filter((e) => e.seq > after);
      buffered = [];
      if (next.length === 0) return;
      if (next[0]?.seq === after + 1) {
        after = next[next.length - 1]?.seq ?? after;
        yield { type: 'events', events: next };
        return;
      }
    }
    gap = false;
    buffered = [];
    yield* pages();
  }
  let summary: RunSummary | undefined;
  try {
    for (;;) {
      if (runChanged || !summary) {
        runChanged = false;
        summary = await baton.call<RunSummary>('get_run', { run: runId });
        runId = summary.run_id;
      }
      yield* fresh();
      if (opts.signal?.aborted) return last;
      const key = `${summary.status}|${summary.waiting_for?.request_id ?? ''}|${summary.ended_at ?? ''}`;
      if (key !== seen) {
        seen = key;
        last = summary;
        yield { type: 'run', run: summary };
      }
      if (isFinalStatus(summary.status)) {
        // Events stored together with the final status, every page of them.
        yield* pages();
        return summary;
      }
      if (opts.until === 'attention' && summary.status === 'waiting') return summary;
      if (runChanged || gap || buffered.length > 0) continue;
      await w.sleep(opts.idleMs ?? 15_000);
      if (opts.signal?.aborted) return last;
      if (!runChanged && !gap && buffered.length === 0) yield { type: 'idle' };
    }
  } finally {
    stop();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
