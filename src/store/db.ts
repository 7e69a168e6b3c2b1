import Database from 'better-sqlite3';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatonError } from '../errors.js';

/** The SQLite handle every store module shares. */
export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Opens (creating when needed) `$BATON_HOME/baton.db` in WAL mode and applies pending migrations
 * (`migrations/NNNN_name.sql`, append-only, each in its own transaction).
 * Throws STORE_ERROR with the path when the file cannot be opened or migrated.
 */
export function openDb(file: string): Db {
  let db: Db;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Created 0600 before SQLite opens it: its -wal and -shm files take the database file's mode.
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
    db = new Database(file);
    // busy_timeout first: switching to WAL needs a lock another process may hold at that moment.
    db.pragma('busy_timeout = 5000');
    // Switching a new file to WAL can fail with SQLITE_BUSY without waiting (SQLite skips the busy
    // handler there to avoid a deadlock) while other processes open it at the same instant: retry.
    for (let attempt = 0; ; attempt++) {
      try {
        db.pragma('journal_mode = WAL');
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || attempt >= 100) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.floor(Math.random() * 30));
      }
    }
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // WAL files an older baton (or another umask) left behind keep their mode: fix it.
    for (const suffix of ['-wal', '-shm']) {
      try {
        chmodSync(`${file}${suffix}`, 0o600);
      } catch {
        // not there
      }
    }
  } catch (err) {
    throw new BatonError(
      'STORE_ERROR',
      `cannot open the database ${file}: ${(err as Error).message}${whyNotWritable(dirname(file))}`,
      { cause: err },
    );
  }
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw new BatonError('STORE_ERROR', `cannot migrate the database ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return db;
}

/**
 * Applies every migration file whose number is above the recorded version, in one IMMEDIATE
 * transaction, so two baton processes opening a new database at once cannot both apply them (the
 * second waits for the first, then finds nothing to do). Returns the new version.
 */
export function migrate(db: Db): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  const apply = db.transaction((): number => {
    const current =
      (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
    let version = current;
    for (const f of files) {
      const n = Number(f.slice(0, 4));
      if (n <= current) continue;
      db.exec(readFileSync(join(MIGRATIONS_DIR, f), 'utf8'));
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        n,
        f,
        new Date().toISOString(),
      );
      version = n;
    }
    return version;
  });
  return apply.immediate();
}

/** Why a folder cannot be written to (read-only file system, permissions), or '' when it can. */
function whyNotWritable(dir: string): string {
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EROFS'
      ? ` (${dir} is on a read-only file system; point BATON_HOME at a writable folder)`
      : ` (${dir} is not writable: ${code}; point BATON_HOME at a writable folder)`;
  }
  return '';
}
