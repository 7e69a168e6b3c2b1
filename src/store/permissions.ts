import type { PermissionOption, ToolCallInfo } from '../engine/types.js';
import type { Db } from './db.js';

/** Lifecycle of a permission request. */
export const PERMISSION_REQUEST_STATUSES = ['pending', 'answered', 'expired', 'cancelled'] as const;
/** One of {@link PERMISSION_REQUEST_STATUSES}. */
export type PermissionRequestStatus = (typeof PERMISSION_REQUEST_STATUSES)[number];

/** A stored permission request. */
export type PermissionRow = {
  id: string;
  run_id: string;
  title: string;
  tool_call: ToolCallInfo | null;
  options: PermissionOption[];
  status: PermissionRequestStatus;
  option_id: string | null;
  answered_by: string | null;
  created_at: string;
  deadline: string;
  resolved_at: string | null;
};

/** The `permission_requests` table. */
export class PermissionTable {
  readonly #insert;
  readonly #resolve;
  readonly #get;
  readonly #expireRun;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO permission_requests (id, run_id, title, tool_call, options, status, created_at, deadline)
       VALUES (@id, @run_id, @title, @tool_call, @options, 'pending', @created_at, @deadline)`,
    );
    this.#resolve = db.prepare(
      "UPDATE permission_requests SET status = ?, option_id = ?, answered_by = ?, resolved_at = ? WHERE id = ? AND status = 'pending'",
    );
    this.#get = db.prepare('SELECT * FROM permission_requests WHERE id = ?');
    this.#expireRun = db.prepare(
      "UPDATE permission_requests SET status = 'expired', answered_by = ?, resolved_at = ? WHERE run_id = ? AND status = 'pending'",
    );
  }

  /** Inserts a pending request. */
  insert(
    row: Pick<PermissionRow, 'id' | 'run_id' | 'title' | 'tool_call' | 'options' | 'created_at' | 'deadline'>,
  ): void {
    this.#insert.run({
      ...row,
      tool_call: row.tool_call ? JSON.stringify(row.tool_call) : null,
      options: JSON.stringify(row.options),
    });
  }

  /** Resolves a pending request; false when it was not pending any more. */
  resolve(
    id: string,
    status: Exclude<PermissionRequestStatus, 'pending'>,
    optionId: string | null,
    by: string,
  ): boolean {
    return this.#resolve.run(status, optionId, by, new Date().toISOString(), id).changes === 1;
  }

  /** Marks every pending request of a run expired (the run ended or its host died). */
  expireForRun(runId: string, by: string): number {
    return this.#expireRun.run(by, new Date().toISOString(), runId).changes;
  }

  /** The request, or undefined. */
  get(id: string): PermissionRow | undefined {
    const raw = this.#get.get(id) as Record<string, unknown> | undefined;
    if (!raw) return undefined;
    return {
      ...raw,
      tool_call: raw.tool_call ? JSON.parse(raw.tool_call as string) : null,
      options: JSON.parse(raw.options as string),
    } as PermissionRow;
  }
}
