import {
  ACTIVE_STATUSES,
  type Approver,
  type InputPart,
  type PermissionPolicy,
  type RunError,
  type RunResult,
  type RunStatus,
  type Usage,
  type WaitingFor,
} from '../engine/types.js';

/** Usage fields that add up across runs (context size and use are states, not amounts). */
const SUMMED_USAGE = [
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'thought_tokens',
  'cached_read_tokens',
  'cost_usd',
] as const satisfies readonly (keyof Usage)[];

/** The active statuses as an SQL list, from the one status set. */
const ACTIVE_SQL = ACTIVE_STATUSES.map((s) => `'${s}'`).join(',');
import type { Db } from './db.js';

/** A run as stored, JSON columns parsed. */
export type RunRow = {
  id: string;
  label: string | null;
  agent: string;
  session_id: string;
  parent_run_id: string | null;
  status: RunStatus;
  cwd: string;
  prompt: string;
  policy: PermissionPolicy;
  approver: Approver;
  /** A terminal run's program (argv) when given with spawn_run `command`. */
  command: string[] | null;
  isolation: 'none' | 'worktree';
  /** The run's own git work tree (isolation "worktree"). */
  worktree: WorktreeInfo | null;
  /** The git work tree root the run works in, and its content when the run started and ended. */
  repo_root: string | null;
  base_tree: string | null;
  end_tree: string | null;
  /** The profile the run was started with and the values it applied. */
  profile: { name: string; values: Record<string, unknown> } | null;
  model: string | null;
  timeout_ms: number;
  output_schema: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  waiting_for: WaitingFor | null;
  result: RunResult | null;
  error: RunError | null;
  last_seq: number;
  host_pid: number | null;
  host_start: string | null;
  agent_pid: number | null;
  agent_start: string | null;
  /** Remote (A2A) agents: the task id on the remote side. */
  remote_task_id: string | null;
  /** The run's role (spawn_run `role`: planner, worker, reviewer...). */
  role: string | null;
  /** The run's multipart input (spawn_run `input_message`, files read); `prompt` is its text. */
  input_message: InputPart[] | null;
};

/** A run's own git work tree. */
export type WorktreeInfo = { repo: string; path: string; branch: string; discarded?: boolean };

/** Columns a run update may change. */
export type RunPatch = Partial<
  Pick<
    RunRow,
    | 'status'
    | 'started_at'
    | 'ended_at'
    | 'waiting_for'
    | 'result'
    | 'error'
    | 'host_pid'
    | 'host_start'
    | 'agent_pid'
    | 'agent_start'
    | 'remote_task_id'
    | 'worktree'
    | 'repo_root'
    | 'base_tree'
    | 'end_tree'
  >
>;

/** Filters of {@link RunTable.list}. */
export type RunFilter = {
  statuses?: readonly RunStatus[];
  agent?: string;
  label?: string;
  role?: string;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: { created_at: string; id: string };
};

const JSON_COLUMNS = [
  'output_schema',
  'metadata',
  'waiting_for',
  'result',
  'error',
  'command',
  'worktree',
  'profile',
  'input_message',
] as const;

function parseRow(raw: Record<string, unknown> | undefined): RunRow | undefined {
  if (!raw) return undefined;
  for (const col of JSON_COLUMNS) {
    if (col === 'input_message') continue;
    const v = raw[col];
    raw[col] = typeof v === 'string' ? JSON.parse(v) : null;
  }
  // The parts may hold megabytes of file contents (base64) and are read once, when the turn starts:
  // decoded on first use, not on every read of the row (waits, lists, summaries).
  const stored = raw.input_message;
  let parts: unknown;
  let decoded = false;
  Object.defineProperty(raw, 'input_message', {
    enumerable: true,
    configurable: true,
    get: () => {
      if (!decoded) {
        parts = typeof stored === 'string' ? JSON.parse(stored) : null;
        decoded = true;
      }
      return parts;
    },
    set: (value: unknown) => {
      parts = value;
      decoded = true;
    },
  });
  return raw as RunRow;
}

function encodeValue(key: string, value: unknown): unknown {
  if ((JSON_COLUMNS as readonly string[]).includes(key)) return value == null ? null : JSON.stringify(value);
  return value ?? null;
}

/** The `runs` table. */
export class RunTable {
  readonly #db: Db;
  readonly #insert;
  readonly #get;
  readonly #byLabel;
  readonly #setLastSeq;
  readonly #updates = new Map<string, ReturnType<Db['prepare']>>();

  constructor(db: Db) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO runs (id, label, agent, session_id, parent_run_id, status, cwd, prompt, policy, approver, command, isolation, worktree, profile, model, timeout_ms,
         output_schema, metadata, role, input_message, created_at, last_seq)
       VALUES (@id, @label, @agent, @session_id, @parent_run_id, @status, @cwd, @prompt, @policy, @approver, @command, @isolation, @worktree, @profile, @model, @timeout_ms,
         @output_schema, @metadata, @role, @input_message, @created_at, 0)`,
    );
    this.#get = db.prepare('SELECT * FROM runs WHERE id = ?');
    this.#byLabel = db.prepare('SELECT * FROM runs WHERE label = ?');
    this.#setLastSeq = db.prepare('UPDATE runs SET last_seq = ? WHERE id = ? AND last_seq < ?');
  }

  /** Inserts a new run. Throws the SQLite constraint error when the label is taken. */
  insert(
    row: Pick<
      RunRow,
      | 'id'
      | 'label'
      | 'agent'
      | 'session_id'
      | 'parent_run_id'
      | 'status'
      | 'cwd'
      | 'prompt'
      | 'policy'
      | 'approver'
      | 'command'
      | 'isolation'
      | 'worktree'
      | 'profile'
      | 'model'
      | 'timeout_ms'
      | 'output_schema'
      | 'metadata'
      | 'created_at'
    > &
      Partial<Pick<RunRow, 'role' | 'input_message'>>,
  ): void {
    this.#insert.run({
      ...row,
      output_schema: encodeValue('output_schema', row.output_schema),
      metadata: encodeValue('metadata', row.metadata),
      command: encodeValue('command', row.command),
      worktree: encodeValue('worktree', row.worktree),
      profile: encodeValue('profile', row.profile),
      role: row.role ?? null,
      input_message: encodeValue('input_message', row.input_message),
    });
  }

  /** The run with this id, or undefined. */
  get(id: string): RunRow | undefined {
    return parseRow(this.#get.get(id) as Record<string, unknown> | undefined);
  }

  /** The run with this label, or undefined. */
  getByLabel(label: string): RunRow | undefined {
    return parseRow(this.#byLabel.get(label) as Record<string, unknown> | undefined);
  }

  /** Applies a patch to one run. */
  update(id: string, patch: RunPatch): void {
    const keys = Object.keys(patch).sort();
    if (keys.length === 0) return;
    const sig = keys.join(',');
    let stmt = this.#updates.get(sig);
    if (!stmt) {
      stmt = this.#db.prepare(`UPDATE runs SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`);
      this.#updates.set(sig, stmt);
    }
    const params: Record<string, unknown> = { id };
    for (const k of keys) params[k] = encodeValue(k, (patch as Record<string, unknown>)[k]);
    stmt.run(params);
  }

  /**
   * Marks an active run `interrupted` with `error`, atomically: false when it was not active any
   * more (another process got there first).
   */
  interruptIfActive(id: string, error: RunError): boolean {
    return (
      this.#db
        .prepare(
          `UPDATE runs SET status = 'interrupted', ended_at = ?, waiting_for = NULL, error = ? WHERE id = ? AND status IN (${ACTIVE_SQL})`,
        )
        .run(new Date().toISOString(), JSON.stringify(error), id).changes === 1
    );
  }

  /** Raises `last_seq` (never lowers it). */
  setLastSeq(id: string, seq: number): void {
    this.#setLastSeq.run(seq, id, seq);
  }

  /** Runs newest first, filtered, one page. */
  list(filter: RunFilter): RunRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.statuses && filter.statuses.length > 0) {
      where.push(`status IN (${filter.statuses.map(() => '?').join(',')})`);
      params.push(...filter.statuses);
    }
    if (filter.agent) {
      where.push('agent = ?');
      params.push(filter.agent);
    }
    if (filter.label) {
      where.push('label = ?');
      params.push(filter.label);
    }
    if (filter.role) {
      where.push('role = ?');
      params.push(filter.role);
    }
    if (filter.cursor) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(filter.cursor.created_at, filter.cursor.created_at, filter.cursor.id);
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    params.push(filter.limit);
    return (this.#db.prepare(sql).all(...params) as Record<string, unknown>[]).map(
      (r) => parseRow(r) as RunRow,
    );
  }

  /** Runs that are not final, oldest first. */
  listActive(): RunRow[] {
    return (
      this.#db
        .prepare(`SELECT * FROM runs WHERE status IN (${ACTIVE_SQL}) ORDER BY created_at, id`)
        .all() as Record<string, unknown>[]
    ).map((r) => parseRow(r) as RunRow);
  }

  /** The session's most recent run, or undefined. */
  lastOfSession(sessionId: string): RunRow | undefined {
    return parseRow(
      this.#db
        .prepare('SELECT * FROM runs WHERE session_id = ? ORDER BY created_at DESC, id DESC LIMIT 1')
        .get(sessionId) as Record<string, unknown> | undefined,
    );
  }

  /** A run and every run started below it (parent_run_id), oldest first. */
  tree(runId: string): RunRow[] {
    return (
      this.#db
        .prepare(
          `WITH RECURSIVE t(id, depth) AS (
             SELECT id, 0 FROM runs WHERE id = ?
             UNION ALL SELECT r.id, t.depth + 1 FROM runs r JOIN t ON r.parent_run_id = t.id WHERE t.depth < 50
           )
           SELECT runs.* FROM runs JOIN t USING (id) ORDER BY created_at, id`,
        )
        .all(runId) as Record<string, unknown>[]
    ).map((r) => parseRow(r) as RunRow);
  }

  /** Totals over every run: how many, and their summed usage (added up by SQLite, not in memory). */
  usageTotals(): { runs: number; usage: Usage } {
    const row = this.#db
      .prepare(
        `SELECT COUNT(*) AS runs, ${SUMMED_USAGE.map((k) => `SUM(json_extract(result, '$.usage.${k}')) AS ${k}`).join(', ')}
         FROM runs`,
      )
      .get() as Record<string, number | null>;
    const usage: Usage = {};
    for (const k of SUMMED_USAGE) if (row[k] != null) usage[k] = row[k];
    return { runs: row.runs ?? 0, usage };
  }

  /** Every run of a session, oldest first. */
  ofSession(sessionId: string): RunRow[] {
    return (
      this.#db
        .prepare('SELECT * FROM runs WHERE session_id = ? ORDER BY created_at, id')
        .all(sessionId) as Record<string, unknown>[]
    ).map((r) => parseRow(r) as RunRow);
  }

  /** Counts by status group. */
  counts(): { active: number; total: number } {
    const row = this.#db
      .prepare(
        `SELECT COUNT(*) AS total, SUM(CASE WHEN status IN (${ACTIVE_SQL}) THEN 1 ELSE 0 END) AS active FROM runs`,
      )
      .get() as { total: number; active: number | null };
    return { active: row.active ?? 0, total: row.total };
  }
}
