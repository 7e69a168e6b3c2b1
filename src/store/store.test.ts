import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APPROVERS, PERMISSION_POLICIES, RUN_STATUSES, type RunStatus } from '../engine/types.js';
import { migrate } from './db.js';
import { Store } from './store.js';
import { addSession, runRow } from '../../test/rows.js';
import { errorOf } from '../../test/errors.js';

let dir: string;
const open: Store[] = [];

function openStore(): Store {
  const store = new Store(dir);
  open.push(store);
  return store;
}

function closeStore(store: Store): void {
  store.close();
  open.splice(open.indexOf(store), 1);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-store-'));
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The quoted values of `<column> TEXT NOT NULL CHECK (<column> IN (...))` in a table's SQL. */
function checkValues(store: Store, table: string, column: string): string[] {
  const { sql } = store.db
    .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
    .get(table) as {
    sql: string;
  };
  const match = new RegExp(`CHECK \\(${column} IN \\(([^)]*)\\)\\)`).exec(sql);
  expect(match, `${table}.${column} has a CHECK (... IN (...)) constraint`).not.toBeNull();
  return [...(match?.[1] ?? '').matchAll(/'([^']*)'/g)].map((m) => m[1] ?? '');
}

describe('Store: schema and migrations', () => {
  it('creates the database file and every table', () => {
    const store = openStore();
    expect(store.file).toBe(join(dir, 'baton.db'));
    const tables = (
      store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    expect(tables).toEqual([
      'confirmations',
      'events',
      'permission_requests',
      'runs',
      'schema_migrations',
      'sessions',
    ]);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('records each migration once and is idempotent on reopen', () => {
    const first = openStore();
    const rowsOf = (s: Store) =>
      s.db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as {
        version: number;
        name: string;
      }[];
    const before = rowsOf(first);
    expect(before[0]).toEqual({ version: 1, name: '0001_init.sql' });
    expect(new Set(before.map((r) => r.version)).size).toBe(before.length);
    addSession(first);
    first.runs.insert(runRow('run-1', { prompt: 'hello' }));
    closeStore(first);

    const second = openStore();
    expect(rowsOf(second)).toEqual(before);
    expect(rowsOf(second).filter((r) => r.version === 1)).toHaveLength(1);
    // Data survives the reopen, and migrating again changes nothing.
    expect(second.runs.get('run-1')?.prompt).toBe('hello');
    const latest = before[before.length - 1]?.version;
    expect(migrate(second.db)).toBe(latest);
    expect(rowsOf(second)).toEqual(before);
  });

  it('the runs.status CHECK lists exactly RUN_STATUSES', () => {
    const store = openStore();
    expect(checkValues(store, 'runs', 'status')).toEqual([...RUN_STATUSES]);
    expect(checkValues(store, 'runs', 'policy')).toEqual([...PERMISSION_POLICIES]);
    expect(checkValues(store, 'runs', 'approver')).toEqual([...APPROVERS]);
  });

  it('accepts every RUN_STATUS and rejects a bogus one', () => {
    const store = openStore();
    addSession(store);
    for (const status of RUN_STATUSES) store.runs.insert(runRow(`run-${status}`, { status }));
    expect(RUN_STATUSES.map((s) => store.runs.get(`run-${s}`)?.status)).toEqual([...RUN_STATUSES]);

    expect(() => store.runs.insert(runRow('run-bogus', { status: 'bogus' as RunStatus }))).toThrow(
      /CHECK constraint failed/,
    );
    expect(() => store.runs.update('run-queued', { status: 'done' as RunStatus })).toThrow(
      /CHECK constraint failed/,
    );
    expect(store.runs.get('run-bogus')).toBeUndefined();
    expect(store.runs.get('run-queued')?.status).toBe('queued');
  });

  it('enforces the session foreign key of runs', () => {
    const store = openStore();
    expect(() => store.runs.insert(runRow('orphan'))).toThrow(/FOREIGN KEY constraint failed/);
  });

  it('transaction() rolls back everything when the function throws', () => {
    const store = openStore();
    addSession(store);
    expect(() =>
      store.transaction(() => {
        store.runs.insert(runRow('run-a'));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.runs.get('run-a')).toBeUndefined();
    expect(store.transaction(() => (store.runs.insert(runRow('run-b')), 7))).toBe(7);
    expect(store.runs.get('run-b')?.id).toBe('run-b');
  });

  it('close() writes events still pending', () => {
    const store = openStore();
    addSession(store);
    store.runs.insert(runRow('run-1'));
    store.eventWriter.append('run-1', 'message', { text: 'one' });
    store.eventWriter.append('run-1', 'message', { text: 'two' });
    closeStore(store);

    const db = new Database(join(dir, 'baton.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT seq, data FROM events ORDER BY seq').all()).toEqual([
        { seq: 1, data: '{"text":"one"}' },
        { seq: 2, data: '{"text":"two"}' },
      ]);
      expect(db.prepare("SELECT last_seq FROM runs WHERE id = 'run-1'").get()).toEqual({ last_seq: 2 });
    } finally {
      db.close();
    }
  });

  it('throws STORE_ERROR naming the path when the home cannot be used', () => {
    // A regular file where the home directory should be.
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'not a directory');
    const err = errorOf(() => new Store(blocker));
    expect(err.code).toBe('STORE_ERROR');
    expect(err.message).toContain(`cannot open the database ${join(blocker, 'baton.db')}`);
  });
});

describe('Store.readArtifact', () => {
  async function storeWithBigEvent(): Promise<{ store: Store; text: string }> {
    const store = openStore();
    addSession(store);
    store.runs.insert(runRow('run-1'));
    const text = 'é€😀x'.repeat(3000); // 30000 bytes
    store.eventWriter.append('run-1', 'message', { role: 'assistant', text });
    store.eventWriter.append('run-1', 'message', { role: 'assistant', text: 'small' });
    await new Promise((r) => setImmediate(r));
    return { store, text };
  }

  it('moves large fields out of the event and pages them back', async () => {
    const { store, text } = await storeWithBigEvent();
    const page = store.events.page('run-1', {});
    expect(page.events.map((e) => e.seq)).toEqual([1, 2]);
    const big = page.events[0];
    expect(big?.artifacts).toEqual([{ field_path: '/text', total_bytes: 30_000 }]);
    expect(big?.data.role).toBe('assistant');
    expect(big?.data.text).toBe(`${text.slice(0, 512)}… [30000 bytes in artifact /text]`);
    expect(page.events[1]?.artifacts).toBeUndefined();

    const whole = store.readArtifact('run-1', 1, '/text', 0, 1_048_576);
    expect(whole).toEqual({ content: text, offset: 0, total_bytes: 30_000 });

    const parts: string[] = [];
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const p = store.readArtifact('run-1', 1, '/text', offset, 4099);
      parts.push(p.content);
      offset = p.next_offset;
    }
    expect(parts.length).toBe(8);
    expect(parts.join('')).toBe(text);
  });

  it('says which event or pointer to ask for instead', async () => {
    const { store } = await storeWithBigEvent();
    const noEvent = errorOf(() => store.readArtifact('run-1', 99, '/text', 0, 10));
    expect(noEvent.code).toBe('EVENT_NOT_FOUND');
    expect(noEvent.message).toBe('run run-1 has no event with seq 99');

    const wrongPointer = errorOf(() => store.readArtifact('run-1', 1, '/content', 0, 10));
    expect(wrongPointer.code).toBe('ARTIFACT_NOT_FOUND');
    expect(wrongPointer.message).toBe('event 1 has no artifact at /content; its artifacts are at /text');

    const none = errorOf(() => store.readArtifact('run-1', 2, '/text', 0, 10));
    expect(none.code).toBe('ARTIFACT_NOT_FOUND');
    expect(none.message).toBe('event 2 of run run-1 has no artifacts: its data is complete in get_events');
  });
});
