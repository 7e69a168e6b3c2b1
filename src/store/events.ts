import type { EventType, RunEvent } from '../engine/types.js';
import { extractArtifacts, type ArtifactRef } from './artifacts.js';
import type { Db } from './db.js';
import type { RunTable } from './runs.js';

/** Default and maximum page sizes of {@link EventTable.page}. */
export const EVENT_PAGE_DEFAULT = 50;
export const EVENT_PAGE_MAX = 1000;
/**
 * A page of events never serializes to more than this many bytes, one event excepted. MCP results
 * carry the page twice (structured content and its JSON text), so a page stays under ~20k tokens,
 * below the 25k-token cap of common hosts.
 */
export const EVENT_PAGE_MAX_BYTES = 36 * 1024;

type EventRow = {
  run_id: string;
  seq: number;
  ts: string;
  type: string;
  data: string;
  artifact_refs: string | null;
};

function toEvent(row: EventRow): RunEvent {
  const event: RunEvent = {
    seq: row.seq,
    ts: row.ts,
    type: row.type as EventType,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
  if (row.artifact_refs) {
    event.artifacts = (JSON.parse(row.artifact_refs) as ArtifactRef[]).map((r) => ({
      field_path: r.pointer,
      total_bytes: r.total_bytes,
    }));
  }
  return event;
}

/** Query of {@link EventTable.page}. */
export type EventQuery = { afterSeq?: number; types?: readonly string[]; limit?: number; tail?: boolean };

/** The `events` table (reads). Writes go through {@link EventWriter}. */
export class EventTable {
  readonly #db: Db;
  readonly #get;

  constructor(db: Db) {
    this.#db = db;
    this.#get = db.prepare('SELECT * FROM events WHERE run_id = ? AND seq = ?');
  }

  /** One event with its artifact refs, or undefined. */
  getWithRefs(runId: string, seq: number): { event: RunEvent; refs: ArtifactRef[] } | undefined {
    const row = this.#get.get(runId, seq) as EventRow | undefined;
    if (!row) return undefined;
    return {
      event: toEvent(row),
      refs: row.artifact_refs ? (JSON.parse(row.artifact_refs) as ArtifactRef[]) : [],
    };
  }

  /**
   * One page of a run's events in `seq` order. `tail` returns the last `limit` events (before any
   * `afterSeq` filter is applied to the end). Pages stop early at {@link EVENT_PAGE_MAX_BYTES}.
   */
  page(runId: string, q: EventQuery): { events: RunEvent[]; next_seq: number; has_more: boolean } {
    const limit = Math.min(Math.max(q.limit ?? EVENT_PAGE_DEFAULT, 1), EVENT_PAGE_MAX);
    const where = ['run_id = ?'];
    const params: unknown[] = [runId];
    if (q.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(q.afterSeq);
    }
    if (q.types && q.types.length > 0) {
      where.push(`type IN (${q.types.map(() => '?').join(',')})`);
      params.push(...q.types);
    }
    let rows: EventRow[];
    if (q.tail) {
      rows = (
        this.#db
          .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`)
          .all(...params, limit) as EventRow[]
      ).reverse();
    } else {
      rows = this.#db
        .prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`)
        .all(...params, limit + 1) as EventRow[];
    }
    let hasMore = !q.tail && rows.length > limit;
    if (rows.length > limit) rows = rows.slice(0, limit);
    const events: RunEvent[] = [];
    let bytes = 0;
    for (const row of rows) {
      const size = Buffer.byteLength(row.data) + 80;
      if (events.length > 0 && bytes + size > EVENT_PAGE_MAX_BYTES) {
        hasMore = true;
        break;
      }
      bytes += size;
      events.push(toEvent(row));
    }
    if (q.tail && events.length < rows.length) {
      // Keep the newest events when a tail page is cut by size.
      const kept: RunEvent[] = [];
      let b = 0;
      for (let i = rows.length - 1; i >= 0; i--) {
        const row = rows[i] as EventRow;
        const size = Buffer.byteLength(row.data) + 80;
        if (kept.length > 0 && b + size > EVENT_PAGE_MAX_BYTES) break;
        b += size;
        kept.unshift(toEvent(row));
      }
      const last = kept[kept.length - 1];
      return { events: kept, next_seq: last ? last.seq : (q.afterSeq ?? 0), has_more: false };
    }
    const last = events[events.length - 1];
    return { events, next_seq: last ? last.seq : (q.afterSeq ?? 0), has_more: hasMore };
  }
}

type Pending = {
  runId: string;
  seq: number;
  ts: string;
  type: EventType;
  data: Record<string, unknown>;
  refs?: ArtifactRef[];
};

/** Failed flushes of one batch before it is given up (reported, not retried). */
const MAX_FLUSH_ATTEMPTS = 5;

/**
 * Appends events with per-run sequence numbers and writes them in batches: everything appended in
 * one tick goes to SQLite in one transaction. `onFlushed` is called after the commit, so a
 * subscriber never hears of an event that is not stored.
 */
export class EventWriter {
  readonly #db: Db;
  readonly #runs: RunTable;
  readonly #artifactDir: string;
  readonly #insert;
  readonly #seqs = new Map<string, number>();
  #pending: Pending[] = [];
  #scheduled = false;
  readonly #listeners: ((events: { runId: string; event: RunEvent }[]) => void)[] = [];
  readonly #errorListeners: ((err: unknown, dropped: number) => void)[] = [];
  #failures = 0;

  constructor(db: Db, runs: RunTable, artifactDir: string) {
    this.#db = db;
    this.#runs = runs;
    this.#artifactDir = artifactDir;
    this.#insert = db.prepare(
      'INSERT INTO events (run_id, seq, ts, type, data, artifact_refs) VALUES (?, ?, ?, ?, ?, ?)',
    );
  }

  /** Registers a listener called after each committed batch. */
  onFlushed(listener: (events: { runId: string; event: RunEvent }[]) => void): void {
    this.#listeners.push(listener);
  }

  /** Registers a listener told when a scheduled write fails (`dropped` > 0 once a batch is given up). */
  onError(listener: (err: unknown, dropped: number) => void): void {
    this.#errorListeners.push(listener);
  }

  /** Queues one event; returns its sequence number. The write happens at the end of this tick. */
  append(runId: string, type: EventType, data: Record<string, unknown>): number {
    let seq = this.#seqs.get(runId);
    if (seq === undefined) seq = this.#runs.get(runId)?.last_seq ?? 0;
    seq += 1;
    this.#seqs.set(runId, seq);
    this.#pending.push({ runId, seq, ts: new Date().toISOString(), type, data });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flushScheduled());
    }
    return seq;
  }

  /** The last sequence number given out for a run (stored or pending). */
  lastSeq(runId: string): number {
    return this.#seqs.get(runId) ?? this.#runs.get(runId)?.last_seq ?? 0;
  }

  /** Forgets the cached counter of a run that is over. */
  forget(runId: string): void {
    if (!this.#pending.some((p) => p.runId === runId)) this.#seqs.delete(runId);
  }

  /**
   * Writes every queued event now, in one transaction, together with `alongside` (a row update that
   * must be stored with them). Listeners hear of the events after the commit. On failure the
   * events stay queued for the next flush and the error is thrown.
   */
  flush(alongside?: () => void): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 && !alongside) return;
    const batch = this.#pending;
    this.#pending = [];
    const written: { runId: string; event: RunEvent }[] = [];
    try {
      for (const p of batch) p.refs ??= extractArtifacts(this.#artifactDir, p.runId, p.seq, p.data);
      const lastSeqs = new Map<string, number>();
      this.#db.transaction(() => {
        for (const p of batch) {
          const refs = p.refs ?? [];
          this.#insert.run(
            p.runId,
            p.seq,
            p.ts,
            p.type,
            JSON.stringify(p.data),
            refs.length ? JSON.stringify(refs) : null,
          );
          lastSeqs.set(p.runId, p.seq);
          const event: RunEvent = { seq: p.seq, ts: p.ts, type: p.type, data: p.data };
          if (refs.length)
            event.artifacts = refs.map((r) => ({ field_path: r.pointer, total_bytes: r.total_bytes }));
          written.push({ runId: p.runId, event });
        }
        for (const [runId, seq] of lastSeqs) this.#runs.setLastSeq(runId, seq);
        alongside?.();
      })();
    } catch (err) {
      this.#pending = batch.concat(this.#pending);
      throw err;
    }
    this.#failures = 0;
    for (const l of this.#listeners) l(written);
  }

  #flushScheduled(): void {
    try {
      this.flush();
    } catch (err) {
      // Never crash the process from a timer: report, retry a few times, then give the batch up.
      this.#failures++;
      let dropped = 0;
      if (this.#failures >= MAX_FLUSH_ATTEMPTS) {
        dropped = this.#pending.length;
        this.#pending = [];
        this.#failures = 0;
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setTimeout(() => this.#flushScheduled(), 1000).unref();
      }
      for (const l of this.#errorListeners) l(err, dropped);
    }
  }
}
