import type { AgentSession, PermissionAnswer } from '../drivers/driver.js';
import { BatonError, toBatonError } from '../errors.js';
import type { RunRow, WorktreeInfo } from '../store/runs.js';
import type { EngineContext } from './context.js';
import { newId } from './ids.js';
import { RunRecorder } from './recorder.js';
import {
  isFinalStatus,
  type Approver,
  type ChangedFile,
  type EventType,
  type InputPart,
  type Overlap,
  type PermissionPolicy,
  type RunError,
  type RunResult,
  type RunStatus,
  type RunSummary,
  type Usage,
  type WaitingFor,
} from './types.js';
import { REVIEW_OF, verificationOf } from './verify.js';

/** The result text kept in a run summary; the whole text is in the `result` event. */
export const SUMMARY_TEXT_MAX = 2048;
/** Changed files listed in a run summary; get_diff shows every one. */
const CHANGED_FILES_MAX = 200;

/** A permission request a run waits on. */
export type Pending = {
  id: string;
  waiting: WaitingFor;
  resolve: (answer: PermissionAnswer) => void;
  timer: NodeJS.Timeout;
};

/** Why a run is being stopped, and how hard. */
export type AbortReason = {
  status: 'cancelled' | 'timed_out' | 'interrupted';
  force: boolean;
  error: RunError;
};

/** The in-memory state of a run this process hosts (queued or active). */
export type RunCtx = {
  /** Files the agent named in tool calls and permission requests (absolute), for overlap warnings. */
  touched: Set<string>;
  overlaps: Overlap[];
  id: string;
  row: RunRow;
  recorder: RunRecorder;
  abort: AbortController;
  abortReason?: AbortReason;
  pending: Map<string, Pending>;
  session?: AgentSession;
  timeoutTimer?: NodeJS.Timeout;
  started: boolean;
  /** spawn_run `resume`: the run opens a session started outside baton (see OpenOptions.resumeForeign). */
  resumeForeign?: boolean;
  /** Adopted after a restart: follow this remote task instead of sending the prompt. */
  followTaskId?: string;
  /** Adopted after a restart: the dead owner's agent session, taken over (see Recovery). */
  adopting?: Promise<AgentSession>;
  done: Promise<void>;
  resolveDone: () => void;
};

/** A new run, checked (see admission.ts): what {@link Runs.insert} stores. */
export type RunPlan = {
  id?: string;
  profile?: { name: string; values: Record<string, unknown> } | null;
  isolation?: 'none' | 'worktree';
  worktree?: WorktreeInfo | null;
  agent: string;
  cwd: string;
  prompt: string;
  label: string | undefined;
  model: string | undefined;
  timeoutMs: number;
  policy: PermissionPolicy;
  approver: Approver;
  command: string[] | null;
  outputSchema: Record<string, unknown> | undefined;
  sessionId: string | undefined;
  /** spawn_run `resume`: the new session continues this agent-side session, started outside baton. */
  resume?: string;
  metadata: Record<string, unknown> | undefined;
  parentRunId: string | undefined;
  /** spawn_run `role`. */
  role?: string | null;
  /** spawn_run `input_message`, files read; `prompt` is its text. */
  input?: InputPart[] | null;
};

/** What {@link Runs} calls in the other parts when a run ends. */
export type RunHooks = {
  /** Settles every pending permission request of the run as cancelled by `by`. */
  cancelPending(run: RunCtx, by: string): void;
  /** A run ended: its slot is free (start what the queue holds). */
  ended(): void;
};

/** The part of the {@link EngineContext} that {@link Runs} uses (it is made before the rest). */
export type RunsContext = Pick<EngineContext, 'store' | 'bus' | 'hostPid' | 'hostStart' | 'reportError'>;

/**
 * The runs this process hosts, and every write of a run's state: status changes (stored with
 * their event in one transaction, then announced on the bus), and the end of a run. When the store
 * refuses a write (a full disk), the run goes on in memory and the change is written once it can be.
 */
export class Runs {
  readonly #ctx: RunsContext;
  readonly #hooks: RunHooks;
  readonly #live = new Map<string, RunCtx>();
  /** Status changes the store refused (see {@link setStatus}), per run, until they are written. */
  readonly #unsaved = new Map<string, Partial<RunRow>>();
  #unsavedTimer: NodeJS.Timeout | undefined;

  constructor(ctx: RunsContext, hooks: RunHooks) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  /** The live run with this id, if this process hosts it. */
  get(id: string): RunCtx | undefined {
    return this.#live.get(id);
  }

  has(id: string): boolean {
    return this.#live.has(id);
  }

  /** Every live run (queued or active). */
  values(): IterableIterator<RunCtx> {
    return this.#live.values();
  }

  get size(): number {
    return this.#live.size;
  }

  /** A run's row from the store, with what the store could not take yet laid over it. */
  row(id: string): RunRow | undefined {
    const row = this.#ctx.store.runs.get(id);
    return row ? this.withUnsaved(row) : row;
  }

  /** `row` with what the store could not take yet laid over it (that is still the truth). */
  withUnsaved(row: RunRow): RunRow {
    const unsaved = this.#unsaved.get(row.id);
    return unsaved ? Object.assign(row, unsaved) : row;
  }

  /** Registers the in-memory state of a run this process hosts. */
  open(row: RunRow): RunCtx {
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const run: RunCtx = {
      touched: new Set(),
      overlaps: [],
      id: row.id,
      row,
      recorder: new RunRecorder((type, data) => this.append(run, type, data)),
      abort: new AbortController(),
      pending: new Map(),
      started: false,
      done,
      resolveDone,
    };
    this.#live.set(row.id, run);
    return run;
  }

  /**
   * Stores a new run (and a new session unless it continues one) as `queued`, hosted here, and
   * registers it; `enqueue` is called at once (before its first events), then the run is announced.
   */
  insert(p: RunPlan, enqueue: (run: RunCtx) => void): RunCtx {
    const { store } = this.#ctx;
    const now = new Date().toISOString();
    const runId = p.id ?? newId('r');
    const sessionId = p.sessionId ?? newId('s');
    try {
      store.transaction(() => {
        if (!p.sessionId) {
          store.sessions.insert({
            id: sessionId,
            agent: p.agent,
            cwd: p.cwd,
            agent_session_id: p.resume ?? null,
            created_at: now,
            updated_at: now,
          });
        }
        store.runs.insert({
          id: runId,
          label: p.label ?? null,
          agent: p.agent,
          session_id: sessionId,
          parent_run_id: p.parentRunId ?? null,
          status: 'queued',
          cwd: p.cwd,
          prompt: p.prompt,
          policy: p.policy,
          approver: p.approver,
          command: p.command,
          isolation: p.isolation ?? 'none',
          worktree: p.worktree ?? null,
          profile: p.profile ?? null,
          model: p.model ?? null,
          timeout_ms: p.timeoutMs,
          output_schema: p.outputSchema ?? null,
          metadata: p.metadata ?? null,
          role: p.role ?? null,
          input_message: p.input ?? null,
          created_at: now,
        });
        store.runs.update(runId, { host_pid: this.#ctx.hostPid, host_start: this.#ctx.hostStart });
      });
    } catch (err) {
      if (String((err as Error).message).includes('UNIQUE constraint failed: runs.label')) {
        throw new BatonError('LABEL_TAKEN', `label "${p.label}" is already used; choose another label`);
      }
      throw toBatonError(err);
    }
    const run = this.open(store.runs.get(runId) as RunRow);
    if (p.resume) run.resumeForeign = true;
    enqueue(run);
    this.append(run, 'status', { status: 'queued' });
    this.append(run, 'message', { role: 'user', text: p.prompt });
    // Which profile and which of its values this run uses.
    if (p.profile) this.append(run, 'raw', { profile: p.profile.name, values: p.profile.values });
    store.eventWriter.flush();
    this.#ctx.bus.emit('run', runId);
    return run;
  }

  /** Appends an event to the run (written in the event writer's next batch). */
  append(run: RunCtx, type: EventType, data: Record<string, unknown>): void {
    this.#ctx.store.eventWriter.append(run.id, type, data);
  }

  /** Stores a status change (and its event), then announces it. A final status is never left. */
  setStatus(
    run: RunCtx,
    status: RunStatus,
    patch: Partial<RunRow> = {},
    eventData: Record<string, unknown> = {},
  ): void {
    if (isFinalStatus(run.row.status)) return;
    const { store } = this.#ctx;
    run.recorder.flush();
    this.append(run, 'status', { status, ...eventData });
    const full = { status, ...patch };
    // The status event and the row change are stored in one transaction, then announced.
    try {
      // Changes the store refused before go in with this one (and this one is newer).
      const earlier = this.#unsaved.get(run.id);
      store.eventWriter.flush(() => store.runs.update(run.id, { ...earlier, ...full }));
      this.#unsaved.delete(run.id);
    } catch (err) {
      // The store cannot be written (a full disk): the run goes on in memory, callers of this
      // process see its real status, and the row is written once the store takes writes again.
      this.#unsaved.set(run.id, { ...this.#unsaved.get(run.id), ...full });
      this.#retryUnsaved();
      this.#ctx.reportError(
        new BatonError(
          'STORE_ERROR',
          `run ${run.id} is ${status} but the store cannot be written: ${String((err as Error).message)}`,
        ),
      );
    }
    Object.assign(run.row, full);
    this.#ctx.bus.emit('run', run.id);
  }

  #retryUnsaved(): void {
    if (this.#unsavedTimer) return;
    const { store } = this.#ctx;
    this.#unsavedTimer = setTimeout(() => {
      this.#unsavedTimer = undefined;
      for (const [id, patch] of [...this.#unsaved]) {
        try {
          store.eventWriter.flush(() => store.runs.update(id, patch));
          this.#unsaved.delete(id);
        } catch {
          break;
        }
      }
      if (this.#unsaved.size > 0) this.#retryUnsaved();
    }, 2000);
    this.#unsavedTimer.unref();
  }

  /**
   * Ends a turn that came back: the result (text clipped to {@link SUMMARY_TEXT_MAX}, usage, the
   * output check, changed files and overlaps, a review's verdict) is recorded, and the run is
   * `completed` (or `cancelled` when the agent says so).
   */
  complete(
    run: RunCtx,
    stopReason: string,
    promptUsage: Usage | undefined,
    checked?: { structured: unknown } | { structured_error: { message: string; errors: string[] } },
    changes?: { files: ChangedFile[]; overlaps: Overlap[] },
  ): void {
    run.recorder.flush();
    const rec = run.recorder;
    const fullText = rec.lastMessage || rec.turnText;
    const usage: Usage = { ...rec.usage, ...(promptUsage ?? {}) };
    const result: RunResult = { text: fullText.slice(0, SUMMARY_TEXT_MAX), stop_reason: stopReason };
    if (fullText.length > SUMMARY_TEXT_MAX) result.text_truncated = true;
    if (Object.keys(usage).length > 0) result.usage = usage;
    if (checked) Object.assign(result, checked);
    if (run.row.metadata && REVIEW_OF in run.row.metadata) {
      result.verification = verificationOf('completed', result);
    }
    if (changes) {
      result.changed_files = changes.files.slice(0, CHANGED_FILES_MAX);
      if (changes.files.length > CHANGED_FILES_MAX) result.changed_files_truncated = true;
      if (changes.overlaps.length > 0) result.overlaps = changes.overlaps;
    }
    this.append(run, 'result', { ...result, text: fullText, text_truncated: undefined });
    const status: RunStatus = stopReason === 'cancelled' ? 'cancelled' : 'completed';
    this.finish(run, status, { result });
  }

  /**
   * Gives a run its final status: pending requests cancelled and expired, the error recorded, the
   * run no longer hosted, waiters on `done` released, and the next queued run started.
   */
  finish(run: RunCtx, status: RunStatus, out: { result?: RunResult; error?: RunError }): void {
    if (isFinalStatus(run.row.status)) return;
    const { store } = this.#ctx;
    if (run.timeoutTimer) clearTimeout(run.timeoutTimer);
    this.#hooks.cancelPending(run, 'run end');
    run.recorder.flush();
    if (out.error) this.append(run, 'error', { ...out.error });
    try {
      store.permissions.expireForRun(run.id, 'run end');
    } catch (err) {
      this.#ctx.reportError(err);
    }
    this.setStatus(
      run,
      status,
      {
        ended_at: new Date().toISOString(),
        waiting_for: null,
        ...(out.result ? { result: out.result } : {}),
        ...(out.error ? { error: out.error } : {}),
      },
      out.error ? { reason: out.error.message } : {},
    );
    this.#live.delete(run.id);
    store.eventWriter.forget(run.id);
    run.resolveDone();
    this.#hooks.ended();
  }

  /** The run summary of CONTRACT.md. */
  summarize(row: RunRow): RunSummary {
    const s: RunSummary = {
      run_id: row.id,
      agent: row.agent,
      status: row.status,
      cwd: row.cwd,
      session_id: row.session_id,
      parent_run_id: row.parent_run_id,
      policy: row.policy,
      created_at: row.created_at,
      ended_at: row.ended_at,
      last_seq: Math.max(
        row.last_seq,
        this.#live.has(row.id) ? this.#ctx.store.eventWriter.lastSeq(row.id) : 0,
      ),
    };
    if (row.label) s.label = row.label;
    if (row.approver !== 'any') s.approver = row.approver;
    if (row.profile) s.profile = row.profile.name;
    if (row.role) s.role = row.role;
    if (row.started_at) s.started_at = row.started_at;
    if (row.waiting_for) s.waiting_for = row.waiting_for;
    if (row.result) s.result = row.result;
    if (row.error) s.error = row.error;
    if (row.remote_task_id) s.remote_task_id = row.remote_task_id;
    return s;
  }
}
