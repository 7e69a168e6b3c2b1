import { join } from 'node:path';
import { BatonError } from '../errors.js';
import { readArtifact } from './artifacts.js';
import { ConfirmationTable } from './confirmations.js';
import { openDb, type Db } from './db.js';
import { EventTable, EventWriter } from './events.js';
import { PermissionTable } from './permissions.js';
import { RunTable } from './runs.js';
import { SessionTable } from './sessions.js';

/**
 * The one place that touches SQLite and the artifact files: `$BATON_HOME/baton.db` plus
 * `$BATON_HOME/artifacts/`. Every module shares one connection.
 */
export class Store {
  readonly db: Db;
  readonly runs: RunTable;
  readonly sessions: SessionTable;
  readonly events: EventTable;
  readonly eventWriter: EventWriter;
  readonly permissions: PermissionTable;
  readonly confirmations: ConfirmationTable;
  readonly file: string;
  readonly #artifactDir: string;

  constructor(home: string) {
    this.file = join(home, 'baton.db');
    this.db = openDb(this.file);
    this.#artifactDir = join(home, 'artifacts');
    this.runs = new RunTable(this.db);
    this.sessions = new SessionTable(this.db);
    this.events = new EventTable(this.db);
    this.permissions = new PermissionTable(this.db);
    this.confirmations = new ConfirmationTable(this.db);
    this.eventWriter = new EventWriter(this.db, this.runs, this.#artifactDir);
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Pages through a field of an event that was moved to an artifact file.
   * Throws EVENT_NOT_FOUND / ARTIFACT_NOT_FOUND naming what to ask for instead.
   */
  readArtifact(runId: string, seq: number, pointer: string, offset: number, limit: number) {
    const found = this.events.getWithRefs(runId, seq);
    if (!found) throw new BatonError('EVENT_NOT_FOUND', `run ${runId} has no event with seq ${seq}`);
    const ref = found.refs.find((r) => r.pointer === pointer);
    if (!ref) {
      const known = found.refs.map((r) => r.pointer);
      throw new BatonError(
        'ARTIFACT_NOT_FOUND',
        known.length
          ? `event ${seq} has no artifact at ${pointer}; its artifacts are at ${known.join(', ')}`
          : `event ${seq} of run ${runId} has no artifacts: its data is complete in get_events`,
      );
    }
    return readArtifact(this.#artifactDir, ref, offset, limit);
  }

  /** Flushes pending events and closes the database. */
  close(): void {
    try {
      this.eventWriter.flush();
    } finally {
      this.db.close();
    }
  }
}
