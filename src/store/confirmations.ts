import type { Db } from './db.js';

/** Lifecycle of a confirmation: pending until a person answers or its deadline passes. */
export const CONFIRMATION_STATUSES = ['pending', 'answered', 'expired'] as const;
/** One of {@link CONFIRMATION_STATUSES}. */
export type ConfirmationStatus = (typeof CONFIRMATION_STATUSES)[number];

/** A stored confirmation (a question for a person). */
export type ConfirmationRow = {
  id: string;
  question: string;
  details: string | null;
  /** The answers offered; `approve` and `deny` unless the caller named others. */
  options: string[];
  status: ConfirmationStatus;
  decision: string | null;
  decided_by: string | null;
  /** The channel of the caller that asked (`caller`, `api`...). */
  asked_by: string;
  /** The run whose agent asked (a sub-agent's baton), or null. */
  run_id: string | null;
  created_at: string;
  deadline: string | null;
  decided_at: string | null;
};

/** The `confirmations` table. */
export class ConfirmationTable {
  readonly #insert;
  readonly #resolve;
  readonly #get;
  readonly #list;
  readonly #listAll;
  readonly #ofRun;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO confirmations (id, question, details, options, status, asked_by, run_id, created_at, deadline)
       VALUES (@id, @question, @details, @options, 'pending', @asked_by, @run_id, @created_at, @deadline)`,
    );
    this.#resolve = db.prepare(
      "UPDATE confirmations SET status = ?, decision = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
    );
    this.#get = db.prepare('SELECT * FROM confirmations WHERE id = ?');
    this.#list = db.prepare(
      'SELECT * FROM confirmations WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?',
    );
    this.#listAll = db.prepare('SELECT * FROM confirmations ORDER BY created_at DESC, id DESC LIMIT ?');
    this.#ofRun = db.prepare('SELECT * FROM confirmations WHERE run_id = ? ORDER BY created_at, id');
  }

  /** Inserts a pending confirmation. */
  insert(
    row: Pick<
      ConfirmationRow,
      'id' | 'question' | 'details' | 'options' | 'asked_by' | 'run_id' | 'created_at' | 'deadline'
    >,
  ): void {
    this.#insert.run({ ...row, options: JSON.stringify(row.options) });
  }

  /** Settles a pending confirmation; false when it was not pending any more (the first answer wins). */
  resolve(
    id: string,
    status: Exclude<ConfirmationStatus, 'pending'>,
    decision: string | null,
    by: string,
    at = new Date().toISOString(),
  ): boolean {
    return this.#resolve.run(status, decision, by, at, id).changes === 1;
  }

  /** The confirmation, or undefined. */
  get(id: string): ConfirmationRow | undefined {
    return parse(this.#get.get(id));
  }

  /** Newest first, of one status or all, at most `limit`. */
  list(status: ConfirmationStatus | undefined, limit: number): ConfirmationRow[] {
    const raw = status ? this.#list.all(status, limit) : this.#listAll.all(limit);
    return raw.map((r) => parse(r) as ConfirmationRow);
  }

  /** The confirmations a run's agent asked, oldest first. */
  ofRun(runId: string): ConfirmationRow[] {
    return this.#ofRun.all(runId).map((r) => parse(r) as ConfirmationRow);
  }
}

function parse(raw: unknown): ConfirmationRow | undefined {
  if (!raw) return undefined;
  const r = raw as Record<string, unknown>;
  return { ...r, options: JSON.parse(r.options as string) } as ConfirmationRow;
}
