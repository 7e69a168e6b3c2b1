import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventType, RunEvent } from '../engine/types.js';
import { ARTIFACT_THRESHOLD_BYTES } from './artifacts.js';
import { EVENT_PAGE_MAX, EVENT_PAGE_MAX_BYTES } from './events.js';
import { Store } from './store.js';
import { addSession, runRow } from '../../test/rows.js';

let dir: string;
let store: Store;

const tick = () => new Promise<void>((r) => setImmediate(r));

function addRun(s: Store, id: string, sessionId = 'sess-1'): void {
  if (!s.sessions.get(sessionId)) addSession(s, sessionId);
  s.runs.insert(runRow(id, { session_id: sessionId, status: 'running', prompt: 'p' }));
}

function storedSeqs(runId: string): number[] {
  return (
    store.db.prepare('SELECT seq FROM events WHERE run_id = ? ORDER BY seq').all(runId) as { seq: number }[]
  ).map((r) => r.seq);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-events-'));
  store = new Store(dir);
  addRun(store, 'run-1');
  addRun(store, 'run-2');
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('EventWriter', () => {
  it('gives consecutive seqs per run', async () => {
    const w = store.eventWriter;
    const seqs = [
      w.append('run-1', 'status', { status: 'running' }),
      w.append('run-2', 'status', { status: 'running' }),
      w.append('run-1', 'message', { text: 'a' }),
      w.append('run-1', 'message', { text: 'b' }),
      w.append('run-2', 'message', { text: 'c' }),
    ];
    expect(seqs).toEqual([1, 1, 2, 3, 2]);
    expect(w.lastSeq('run-1')).toBe(3);
    expect(w.lastSeq('run-2')).toBe(2);
    expect(w.lastSeq('run-unknown')).toBe(0);
    await tick();
    expect(storedSeqs('run-1')).toEqual([1, 2, 3]);
    expect(storedSeqs('run-2')).toEqual([1, 2]);
    expect(store.runs.get('run-1')?.last_seq).toBe(3);
    expect(store.runs.get('run-2')?.last_seq).toBe(2);
  });

  it('writes one tick of 1000 events in one batch and notifies after the commit', async () => {
    const batches: { runId: string; event: RunEvent }[][] = [];
    let visibleToOtherConnection = -1;
    const reader = new Database(store.file, { readonly: true });
    try {
      store.eventWriter.onFlushed((batch) => {
        batches.push(batch);
        // A second connection sees only committed rows.
        visibleToOtherConnection = (
          reader.prepare("SELECT COUNT(*) AS n FROM events WHERE run_id = 'run-1'").get() as { n: number }
        ).n;
      });
      for (let i = 0; i < 1000; i++) store.eventWriter.append('run-1', 'message', { i });
      expect(storedSeqs('run-1')).toEqual([]);
      expect(store.runs.get('run-1')?.last_seq).toBe(0);

      await tick();

      expect(batches).toHaveLength(1);
      expect(visibleToOtherConnection).toBe(1000);
      const batch = batches[0] ?? [];
      expect(batch).toHaveLength(1000);
      expect(batch.map((b) => b.event.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(batch.every((b) => b.runId === 'run-1' && b.event.type === 'message')).toBe(true);
      expect(batch[999]?.event.data).toEqual({ i: 999 });
      expect(storedSeqs('run-1')).toHaveLength(1000);
      expect(store.runs.get('run-1')?.last_seq).toBe(1000);

      // The next tick is a new batch continuing the numbering.
      expect(store.eventWriter.append('run-1', 'message', { i: 1000 })).toBe(1001);
      await tick();
      expect(batches).toHaveLength(2);
      expect(batches[1]?.map((b) => b.event.seq)).toEqual([1001]);
    } finally {
      reader.close();
    }
  });

  it('continues from runs.last_seq after a restart', async () => {
    store.eventWriter.append('run-1', 'message', { text: 'a' });
    store.eventWriter.append('run-1', 'message', { text: 'b' });
    await tick();
    store.close();
    store = new Store(dir);
    expect(store.eventWriter.lastSeq('run-1')).toBe(2);
    expect(store.eventWriter.append('run-1', 'message', { text: 'c' })).toBe(3);
    await tick();
    expect(storedSeqs('run-1')).toEqual([1, 2, 3]);
    expect(store.runs.get('run-1')?.last_seq).toBe(3);
  });

  it('forget() keeps the counter while events are pending', async () => {
    store.eventWriter.append('run-1', 'message', { text: 'a' });
    store.eventWriter.forget('run-1');
    expect(store.eventWriter.append('run-1', 'message', { text: 'b' })).toBe(2);
    await tick();
    store.eventWriter.forget('run-1');
    // Read back from runs.last_seq.
    expect(store.eventWriter.lastSeq('run-1')).toBe(2);
    expect(store.eventWriter.append('run-1', 'message', { text: 'c' })).toBe(3);
  });

  it('tells listeners about artifacts moved out of the event', async () => {
    const seen: RunEvent[] = [];
    store.eventWriter.onFlushed((batch) => seen.push(...batch.map((b) => b.event)));
    const big = 'x'.repeat(ARTIFACT_THRESHOLD_BYTES + 100);
    store.eventWriter.append('run-1', 'tool_call', { input: { content: big }, title: 'write' });
    await tick();
    expect(seen).toHaveLength(1);
    expect(seen[0]?.artifacts).toEqual([
      { field_path: '/input/content', total_bytes: ARTIFACT_THRESHOLD_BYTES + 100 },
    ]);
    expect(seen[0]?.data.title).toBe('write');
    expect((seen[0]?.data.input as { content: string }).content).toBe(
      `${'x'.repeat(512)}… [${ARTIFACT_THRESHOLD_BYTES + 100} bytes in artifact /input/content]`,
    );
    expect(store.readArtifact('run-1', 1, '/input/content', 0, 1_000_000).content).toBe(big);
    const stored = store.events.getWithRefs('run-1', 1);
    expect(stored?.event).toEqual(seen[0]);
    expect(stored?.refs).toEqual([
      {
        pointer: '/input/content',
        file: join('run-1', '1-0.txt'),
        total_bytes: ARTIFACT_THRESHOLD_BYTES + 100,
      },
    ]);
  });
});

describe('EventTable.page', () => {
  /** Ten events: odd seqs are messages, even seqs tool calls. */
  async function tenEvents(): Promise<void> {
    for (let i = 1; i <= 10; i++) {
      const type: EventType = i % 2 ? 'message' : 'tool_call';
      store.eventWriter.append('run-1', type, { n: i });
    }
    store.eventWriter.append('run-2', 'message', { n: 100 });
    await tick();
  }
  const seqs = (p: { events: RunEvent[] }) => p.events.map((e) => e.seq);

  it('returns every event of the run in order by default', async () => {
    await tenEvents();
    const page = store.events.page('run-1', {});
    expect(seqs(page)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(page.next_seq).toBe(10);
    expect(page.has_more).toBe(false);
    expect(page.events[0]).toMatchObject({ seq: 1, type: 'message', data: { n: 1 } });
    expect(page.events[1]).toMatchObject({ seq: 2, type: 'tool_call', data: { n: 2 } });
    expect(page.events[0]?.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('pages with after_seq and limit', async () => {
    await tenEvents();
    const p1 = store.events.page('run-1', { afterSeq: 4, limit: 3 });
    expect(seqs(p1)).toEqual([5, 6, 7]);
    expect(p1).toMatchObject({ next_seq: 7, has_more: true });
    const p2 = store.events.page('run-1', { afterSeq: p1.next_seq, limit: 3 });
    expect(seqs(p2)).toEqual([8, 9, 10]);
    expect(p2).toMatchObject({ next_seq: 10, has_more: false });
    const p3 = store.events.page('run-1', { afterSeq: p2.next_seq, limit: 3 });
    expect(p3).toEqual({ events: [], next_seq: 10, has_more: false });
  });

  it('filters by type', async () => {
    await tenEvents();
    const tools = store.events.page('run-1', { types: ['tool_call'] });
    expect(seqs(tools)).toEqual([2, 4, 6, 8, 10]);
    expect(tools.events.every((e) => e.type === 'tool_call')).toBe(true);
    const twoTools = store.events.page('run-1', { types: ['tool_call'], afterSeq: 2, limit: 2 });
    expect(seqs(twoTools)).toEqual([4, 6]);
    expect(twoTools).toMatchObject({ next_seq: 6, has_more: true });
    expect(seqs(store.events.page('run-1', { types: ['message', 'tool_call'], limit: 4 }))).toEqual([
      1, 2, 3, 4,
    ]);
    expect(store.events.page('run-1', { types: ['plan'] })).toEqual({
      events: [],
      next_seq: 0,
      has_more: false,
    });
    // An empty list means no filter.
    expect(seqs(store.events.page('run-1', { types: [] }))).toHaveLength(10);
  });

  it('tail returns the last events in order', async () => {
    await tenEvents();
    const tail = store.events.page('run-1', { tail: true, limit: 3 });
    expect(seqs(tail)).toEqual([8, 9, 10]);
    expect(tail).toMatchObject({ next_seq: 10, has_more: false });
    expect(seqs(store.events.page('run-1', { tail: true, limit: 2, types: ['message'] }))).toEqual([7, 9]);
    expect(seqs(store.events.page('run-1', { tail: true, limit: 50 }))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });

  it('clamps the limit to at least 1, defaults to 50, and caps large limits', async () => {
    for (let i = 0; i < EVENT_PAGE_MAX + 5; i++) store.eventWriter.append('run-1', 'message', { i });
    await tick();
    const zero = store.events.page('run-1', { limit: 0 });
    expect(seqs(zero)).toEqual([1]);
    expect(zero.has_more).toBe(true);
    // Even tiny events hit the byte cap (80 bytes of overhead each) before EVENT_PAGE_MAX.
    const huge = store.events.page('run-1', { limit: 1_000_000 });
    expect(huge.events.length).toBeGreaterThan(50);
    expect(huge.events.length).toBeLessThanOrEqual(EVENT_PAGE_MAX);
    expect(seqs(huge)).toEqual(Array.from({ length: huge.events.length }, (_, i) => i + 1));
    expect(huge).toMatchObject({ next_seq: huge.events.length, has_more: true });
    expect(store.events.page('run-1', {}).events).toHaveLength(50);
  });

  it('stops a page early at the byte cap and the following pages carry on', async () => {
    // ~10 KB per event, each field under the artifact threshold so nothing moves out.
    const half = 'p'.repeat(5000);
    for (let i = 1; i <= 10; i++) store.eventWriter.append('run-1', 'tool_update', { a: half, b: half, i });
    await tick();
    expect(store.events.getWithRefs('run-1', 1)?.refs).toEqual([]);

    const first = store.events.page('run-1', { limit: 10 });
    expect(first.events.length).toBeGreaterThan(1);
    expect(first.events.length).toBeLessThan(10);
    expect(first.has_more).toBe(true);
    expect(first.next_seq).toBe(first.events.length);
    expect(first.events.every((e) => e.data.a === half && e.data.b === half)).toBe(true);
    const pageBytes = (events: RunEvent[]) => events.reduce((n, e) => n + JSON.stringify(e.data).length, 0);
    expect(pageBytes(first.events)).toBeLessThanOrEqual(EVENT_PAGE_MAX_BYTES);
    // One more event would have crossed the cap.
    const oneMore = store.events.page('run-1', { afterSeq: first.next_seq, limit: 1 }).events;
    expect(pageBytes([...first.events, ...oneMore])).toBeGreaterThan(EVENT_PAGE_MAX_BYTES - 80 * 4);

    const all: number[] = [...seqs(first)];
    let page = first;
    while (page.has_more) {
      page = store.events.page('run-1', { afterSeq: page.next_seq, limit: 10 });
      expect(page.events.length).toBeGreaterThan(0);
      all.push(...seqs(page));
    }
    expect(all).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('returns one event alone when it is bigger than the cap', async () => {
    const field = 'q'.repeat(ARTIFACT_THRESHOLD_BYTES - 100);
    const fields = Object.fromEntries(
      Array.from({ length: Math.ceil(EVENT_PAGE_MAX_BYTES / field.length) + 1 }, (_, i) => [`f${i}`, field]),
    );
    store.eventWriter.append('run-1', 'raw', fields);
    store.eventWriter.append('run-1', 'raw', fields);
    await tick();
    const first = store.events.page('run-1', {});
    expect(seqs(first)).toEqual([1]);
    expect(first).toMatchObject({ next_seq: 1, has_more: true });
    expect(first.events[0]?.data).toEqual(fields);
    const second = store.events.page('run-1', { afterSeq: 1 });
    expect(seqs(second)).toEqual([2]);
    expect(second.has_more).toBe(false);
  });

  it('a tail page cut by size keeps the newest events', async () => {
    const half = 'p'.repeat(5000);
    for (let i = 1; i <= 10; i++) store.eventWriter.append('run-1', 'tool_update', { a: half, b: half, i });
    await tick();
    const head = store.events.page('run-1', { limit: 10 });
    const tail = store.events.page('run-1', { tail: true, limit: 10 });
    expect(tail.events.length).toBe(head.events.length);
    expect(seqs(tail)).toEqual(
      Array.from({ length: tail.events.length }, (_, i) => 10 - tail.events.length + 1 + i),
    );
    expect(tail.next_seq).toBe(10);
    expect(tail.has_more).toBe(false);
  });

  it('getWithRefs returns undefined for an unknown event', () => {
    expect(store.events.getWithRefs('run-1', 1)).toBeUndefined();
    expect(store.events.getWithRefs('nope', 1)).toBeUndefined();
  });
});
