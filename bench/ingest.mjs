// Event ingest: (a) baton's Store EventWriter, (b) a bare better-sqlite3 insert loop into an
// equivalent table, (c) end to end: a flooding fixture run through `baton mcp`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../dist/store/store.js';
import {
  descendants,
  fmt,
  killPids,
  makeEnv,
  median,
  report,
  runBench,
  startServer,
  steps,
  waitFinished,
  waitGone,
} from './lib.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const TICK = 1000;
const RUNS = 4;
const ROUNDS = 3;
const FLOOD_CHUNKS = 100_000;
const FLOOD_TEXT = 'abcdefghij';

const t = makeEnv();
let server;
let serverKids = [];
const smallEvent = (i) => ({ role: 'assistant', text: `chunk ${i} of a small message` });

/** (a) EventWriter.append in ticks of 1000, each tick flushed by the writer's own setImmediate. */
async function viaEventWriter(dir, n) {
  mkdirSync(dir, { recursive: true });
  const store = new Store(dir);
  try {
    const now = new Date().toISOString();
    const runIds = [];
    for (let r = 0; r < RUNS; r++) {
      const id = `r_bench${r}`;
      store.transaction(() => {
        store.sessions.insert({
          id: `s_bench${r}`,
          agent: 'fixture',
          cwd: dir,
          agent_session_id: null,
          created_at: now,
          updated_at: now,
        });
        store.runs.insert({
          id,
          label: null,
          agent: 'fixture',
          session_id: `s_bench${r}`,
          parent_run_id: null,
          status: 'running',
          cwd: dir,
          prompt: 'bench',
          policy: 'ask',
          approver: 'any',
          command: null,
          isolation: 'none',
          worktree: null,
          profile: null,
          model: null,
          timeout_ms: 60_000,
          output_schema: null,
          metadata: null,
          created_at: now,
        });
      });
      runIds.push(id);
    }
    let flushed = 0;
    store.eventWriter.onFlushed((batch) => (flushed += batch.length));
    const t0 = performance.now();
    for (let i = 0; i < n;) {
      const end = Math.min(n, i + TICK);
      for (; i < end; i++) store.eventWriter.append(runIds[i % RUNS], 'message', smallEvent(i));
      // The writer flushes on setImmediate; ours is queued after it, so the tick is committed here.
      await new Promise((r) => setImmediate(r));
    }
    const ms = performance.now() - t0;
    if (flushed !== n) throw new Error(`EventWriter flushed ${flushed} of ${n} events`);
    const count = store.db.prepare('SELECT COUNT(*) AS c FROM events').get().c;
    if (count !== n) throw new Error(`EventWriter stored ${count} of ${n} events`);
    for (const id of runIds) {
      const last = store.runs.get(id).last_seq;
      if (last !== n / RUNS) throw new Error(`run ${id} last_seq ${last}, expected ${n / RUNS}`);
    }
    return ms;
  } finally {
    store.close();
  }
}

/** (b) Bare better-sqlite3: same pragmas and table, one transaction per 1000 rows. */
async function viaBareSqlite(dir, n) {
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, 'bare.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE events (
      run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL,
      data TEXT NOT NULL, artifact_refs TEXT, PRIMARY KEY (run_id, seq)) WITHOUT ROWID`);
    const insert = db.prepare(
      'INSERT INTO events (run_id, seq, ts, type, data, artifact_refs) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const seqs = new Array(RUNS).fill(0);
    const batch = db.transaction((from, to) => {
      for (let i = from; i < to; i++) {
        const r = i % RUNS;
        insert.run(
          `r_bench${r}`,
          ++seqs[r],
          new Date().toISOString(),
          'message',
          JSON.stringify(smallEvent(i)),
          null,
        );
      }
    });
    const t0 = performance.now();
    for (let i = 0; i < n; i += TICK) {
      batch(i, Math.min(n, i + TICK));
      await new Promise((r) => setImmediate(r)); // same tick structure as (a)
    }
    const ms = performance.now() - t0;
    const count = db.prepare('SELECT COUNT(*) AS c FROM events').get().c;
    if (count !== n) throw new Error(`bare loop stored ${count} of ${n} events`);
    return ms;
  } finally {
    db.close();
  }
}

/** (c) A flooding run through baton mcp: chunks/s from spawn_run to the run's end, events stored. */
async function flood() {
  server = await startServer(t);
  const prompt = steps({ flood: { chunks: FLOOD_CHUNKS, text: FLOOD_TEXT } });
  const t0 = performance.now();
  const spawned = await server.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt });
  const done = await waitFinished(server, spawned.run_id);
  const ms = performance.now() - t0;
  if (done.status !== 'completed')
    throw new Error(`flood run ended ${done.status}: ${JSON.stringify(done.error)}`);
  serverKids = descendants(server.pid);
  await server.close();
  killPids(await waitGone(serverKids, 3000));
  server = undefined;
  const db = new Database(join(t.home, 'baton.db'), { readonly: true });
  try {
    const byType = db
      .prepare('SELECT type, COUNT(*) AS c FROM events WHERE run_id = ? GROUP BY type ORDER BY type')
      .all(spawned.run_id);
    const total = byType.reduce((s, r) => s + r.c, 0);
    const chars = db
      .prepare(
        "SELECT COALESCE(SUM(LENGTH(json_extract(data, '$.text'))), 0) AS n FROM events WHERE run_id = ? AND type = 'message' AND json_extract(data, '$.role') = 'assistant'",
      )
      .get(spawned.run_id).n;
    return { ms, total, byType, chars, lastSeq: done.last_seq };
  } finally {
    db.close();
  }
}

async function main() {
  // Warm-up of both loops, then ROUNDS alternating rounds, each on a fresh database.
  await viaEventWriter(join(t.dir, 'warm-a'), 20_000);
  await viaBareSqlite(join(t.dir, 'warm-b'), 20_000);
  const aMs = [];
  const bMs = [];
  for (let round = 0; round < ROUNDS; round++) {
    aMs.push(await viaEventWriter(join(t.dir, `a${round}`), EVENTS));
    bMs.push(await viaBareSqlite(join(t.dir, `b${round}`), EVENTS));
  }
  const aRate = (EVENTS / median(aMs)) * 1000;
  const bRate = (EVENTS / median(bMs)) * 1000;
  const f = await flood();
  const expectedChars = FLOOD_CHUNKS * FLOOD_TEXT.length;
  const rows = [
    ['(a) Store EventWriter (append, ticks of 1000)', fmt(EVENTS), fmt(median(aMs)), fmt(aRate), ''],
    ['(b) bare better-sqlite3, 1 txn / 1000 rows', fmt(EVENTS), fmt(median(bMs)), fmt(bRate), ''],
    ['ratio (a) / (b)', '', '', fmt(aRate / bRate, 3), ''],
    [
      `(c) baton mcp flood run (${fmt(FLOOD_CHUNKS)} chunks × ${FLOOD_TEXT.length} chars)`,
      `${fmt(f.total)} stored`,
      fmt(f.ms),
      `${fmt((FLOOD_CHUNKS / f.ms) * 1000)} chunks/s`,
      f.byType.map((r) => `${r.type} ${r.c}`).join(', '),
    ],
  ];
  const notes = [
    `(a)/(b): median of ${ROUNDS} rounds on fresh databases (WAL, synchronous=NORMAL), ${RUNS} runs interleaved; both build the ISO timestamp and JSON text per event. Rounds ms — (a) ${aMs.map((x) => fmt(x)).join(', ')}; (b) ${bMs.map((x) => fmt(x)).join(', ')}.`,
    `(c): time from spawn_run to wait_run "finished"; chunks are coalesced into message events of up to 8000 chars by the recorder. Assistant text stored: ${fmt(f.chars)} of ${fmt(expectedChars)} chars${f.chars === expectedChars ? ' (complete)' : ' (INCOMPLETE)'}; summary last_seq ${f.lastSeq}.`,
  ];
  report(
    'ingest — events persisted per second',
    ['path', 'events', 'ms', 'events/s', 'stored by type'],
    rows,
    notes,
  );
  if (f.chars !== expectedChars) process.exitCode = 1;
}

runBench(main, async () => {
  if (server) {
    serverKids = descendants(server.pid);
    await server.close();
    killPids(await waitGone(serverKids, 3000));
  }
  t.cleanup();
  if (process.exitCode) throw new Error('the flood run did not store all of its text');
});
