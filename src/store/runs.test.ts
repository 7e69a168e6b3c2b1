import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunStatus } from '../engine/types.js';
import type { RunRow } from './runs.js';
import { Store } from './store.js';
import { addSession, runRow } from '../../test/rows.js';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-runs-'));
  store = new Store(dir);
  for (const id of ['sess-1', 'sess-2']) addSession(store, id, '/work');
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ids = (rows: RunRow[]) => rows.map((r) => r.id);

/** Runs r1..r6, one minute apart (r6 newest), r3 and r4 created at the same instant. */
function sixRuns(): void {
  const at = (min: number) => `2026-01-01T00:0${min}:00.000Z`;
  const statuses: RunStatus[] = ['completed', 'failed', 'running', 'waiting', 'completed', 'queued'];
  const created = [at(1), at(2), at(3), at(3), at(5), at(6)];
  statuses.forEach((status, i) =>
    store.runs.insert(
      runRow(`r${i + 1}`, {
        status,
        created_at: created[i] as string,
        agent: i % 2 ? 'codex' : 'demo',
        label: i === 1 ? 'second' : null,
      }),
    ),
  );
}

describe('RunTable', () => {
  it('stores and reads back a run with its JSON columns parsed', () => {
    store.runs.insert(
      runRow('run-1', {
        cwd: '/work',
        label: 'fix-tests',
        parent_run_id: 'run-0',
        policy: 'auto_edit',
        approver: 'human',
        model: 'fast',
        output_schema: { type: 'object', required: ['ok'] },
        metadata: { ticket: 42, tags: ['a'] },
        role: 'reviewer',
        input_message: [
          { type: 'text', text: 'look' },
          { type: 'data', data: { n: 1 } },
        ],
      }),
    );
    const row = store.runs.get('run-1');
    expect(row).toEqual({
      id: 'run-1',
      label: 'fix-tests',
      agent: 'demo',
      session_id: 'sess-1',
      parent_run_id: 'run-0',
      status: 'queued',
      cwd: '/work',
      prompt: 'prompt of run-1',
      policy: 'auto_edit',
      approver: 'human',
      command: null,
      isolation: 'none',
      worktree: null,
      repo_root: null,
      base_tree: null,
      end_tree: null,
      profile: null,
      model: 'fast',
      timeout_ms: 60_000,
      output_schema: { type: 'object', required: ['ok'] },
      metadata: { ticket: 42, tags: ['a'] },
      created_at: '2026-01-01T00:00:00.000Z',
      started_at: null,
      ended_at: null,
      waiting_for: null,
      result: null,
      error: null,
      last_seq: 0,
      host_pid: null,
      host_start: null,
      agent_pid: null,
      agent_start: null,
      remote_task_id: null,
      role: 'reviewer',
      input_message: [
        { type: 'text', text: 'look' },
        { type: 'data', data: { n: 1 } },
      ],
    });
    expect(ids(store.runs.list({ role: 'reviewer', limit: 10 }))).toEqual(['run-1']);
    expect(store.runs.list({ role: 'planner', limit: 10 })).toEqual([]);
    expect(store.runs.getByLabel('fix-tests')?.id).toBe('run-1');
    expect(store.runs.getByLabel('nope')).toBeUndefined();
    expect(store.runs.get('nope')).toBeUndefined();
  });

  it('rejects a second run with the same label', () => {
    store.runs.insert(runRow('run-1', { label: 'same' }));
    expect(() => store.runs.insert(runRow('run-2', { label: 'same' }))).toThrow(
      /UNIQUE constraint failed: runs.label/,
    );
    // Unlabelled runs do not collide.
    store.runs.insert(runRow('run-3'));
    store.runs.insert(runRow('run-4'));
    expect(store.runs.get('run-4')?.label).toBeNull();
  });

  it('update() applies a patch, encoding JSON columns and clearing with null', () => {
    store.runs.insert(runRow('run-1'));
    store.runs.update('run-1', {
      status: 'completed',
      started_at: '2026-01-01T00:00:01.000Z',
      ended_at: '2026-01-01T00:00:09.000Z',
      result: { text: 'done', stop_reason: 'end_turn', usage: { input_tokens: 3 } },
      agent_pid: 1234,
    });
    const row = store.runs.get('run-1');
    expect(row).toMatchObject({
      status: 'completed',
      started_at: '2026-01-01T00:00:01.000Z',
      ended_at: '2026-01-01T00:00:09.000Z',
      result: { text: 'done', stop_reason: 'end_turn', usage: { input_tokens: 3 } },
      agent_pid: 1234,
      error: null,
      prompt: 'prompt of run-1',
    });
    store.runs.update('run-1', { result: null, error: { code: 'AGENT_EXITED', message: 'exit 1' } });
    expect(store.runs.get('run-1')).toMatchObject({
      result: null,
      error: { code: 'AGENT_EXITED', message: 'exit 1' },
      status: 'completed',
    });
    store.runs.update('run-1', {});
    expect(store.runs.get('run-1')?.status).toBe('completed');
  });

  it('setLastSeq only raises last_seq', () => {
    store.runs.insert(runRow('run-1'));
    store.runs.setLastSeq('run-1', 5);
    expect(store.runs.get('run-1')?.last_seq).toBe(5);
    store.runs.setLastSeq('run-1', 3);
    expect(store.runs.get('run-1')?.last_seq).toBe(5);
    store.runs.setLastSeq('run-1', 9);
    expect(store.runs.get('run-1')?.last_seq).toBe(9);
  });

  it('list() returns newest first, ties broken by id descending', () => {
    sixRuns();
    expect(ids(store.runs.list({ limit: 100 }))).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1']);
    expect(ids(store.runs.list({ limit: 2 }))).toEqual(['r6', 'r5']);
  });

  it('list() pages with a cursor through runs created at the same instant', () => {
    sixRuns();
    const seen: string[] = [];
    let cursor: { created_at: string; id: string } | undefined;
    for (;;) {
      const page = store.runs.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      if (page.length === 0) break;
      seen.push(...ids(page));
      const last = page[page.length - 1] as RunRow;
      cursor = { created_at: last.created_at, id: last.id };
    }
    expect(seen).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1']);
    // A cursor in the middle of a tie: r4 then r3 share created_at.
    expect(
      ids(store.runs.list({ limit: 10, cursor: { created_at: '2026-01-01T00:03:00.000Z', id: 'r4' } })),
    ).toEqual(['r3', 'r2', 'r1']);
  });

  it('list() filters by status, agent and label, combined with the cursor', () => {
    sixRuns();
    expect(ids(store.runs.list({ limit: 10, statuses: ['completed'] }))).toEqual(['r5', 'r1']);
    expect(ids(store.runs.list({ limit: 10, statuses: ['running', 'waiting', 'queued'] }))).toEqual([
      'r6',
      'r4',
      'r3',
    ]);
    expect(ids(store.runs.list({ limit: 10, statuses: [] }))).toHaveLength(6);
    expect(ids(store.runs.list({ limit: 10, statuses: ['cancelled'] }))).toEqual([]);
    expect(ids(store.runs.list({ limit: 10, agent: 'codex' }))).toEqual(['r6', 'r4', 'r2']);
    expect(ids(store.runs.list({ limit: 10, label: 'second' }))).toEqual(['r2']);
    expect(
      ids(
        store.runs.list({
          limit: 1,
          statuses: ['completed', 'failed'],
          cursor: { created_at: '2026-01-01T00:05:00.000Z', id: 'r5' },
        }),
      ),
    ).toEqual(['r2']);
  });

  it('listActive(), counts() and lastOfSession()', () => {
    sixRuns();
    store.runs.insert(runRow('other', { session_id: 'sess-2', created_at: '2026-01-01T00:09:00.000Z' }));
    expect(ids(store.runs.listActive())).toEqual(['r3', 'r4', 'r6', 'other']);
    expect(store.runs.counts()).toEqual({ active: 4, total: 7 });
    expect(store.runs.lastOfSession('sess-1')?.id).toBe('r6');
    expect(store.runs.lastOfSession('sess-2')?.id).toBe('other');
    expect(store.runs.lastOfSession('sess-3')).toBeUndefined();
  });

  it('counts() is zero on an empty table', () => {
    expect(store.runs.counts()).toEqual({ active: 0, total: 0 });
    expect(store.runs.list({ limit: 10 })).toEqual([]);
  });
});
