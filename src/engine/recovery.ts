import { isProcessAlive, signalGroup } from '../process/identity.js';
import type { RunRow } from '../store/runs.js';
import type { EngineContext } from './context.js';
import type { Turns } from './turn.js';
import { isFinalStatus } from './types.js';

/**
 * What a new owner does with the runs the previous one left active: interrupt them (killing the
 * agent process groups left behind), or adopt those that can go on (a remote task).
 */
export class Recovery {
  readonly #ctx: EngineContext;
  readonly #turns: Turns;

  /** `turns` runs an adopted run's turn (following its remote task). */
  constructor(ctx: EngineContext, turns: Turns) {
    this.#ctx = ctx;
    this.#turns = turns;
  }

  /**
   * Recovers after the previous owner (this process now holds the owner lock, so every active run
   * in the store is one it left): runs become `interrupted` with the reason, their pending
   * permission requests expire, and agent process groups left behind are killed.
   */
  recover(): { interrupted: string[] } {
    const interrupted: string[] = [];
    for (const row of this.#ctx.store.runs.listActive())
      if (this.#interruptOrphan(row)) interrupted.push(row.id);
    return { interrupted };
  }

  /**
   * Marks an active run of a dead owner `interrupted` (and kills the agent process group it left),
   * unless it can go on under this owner (a remote task). Only the owner calls this, at start.
   */
  #interruptOrphan(row: RunRow): boolean {
    if (isFinalStatus(row.status) || this.#ctx.runs.has(row.id)) return false;
    if (this.#adoptOrphan(row)) return false;
    if (row.agent_pid && isProcessAlive(row.agent_pid, row.agent_start))
      signalGroup(row.agent_pid, 'SIGKILL');
    const message = `baton${row.host_pid ? ` (pid ${row.host_pid})` : ''} stopped while this run was ${row.status}; follow_up continues its session`;
    const error = { code: 'INTERRUPTED', message };
    if (!this.#ctx.store.runs.interruptIfActive(row.id, error)) {
      Object.assign(row, this.#ctx.store.runs.get(row.id));
      return false;
    }
    this.#ctx.store.permissions.expireForRun(row.id, 'restart');
    this.#ctx.store.eventWriter.append(row.id, 'status', { status: 'interrupted', reason: message });
    this.#ctx.store.eventWriter.flush();
    Object.assign(row, this.#ctx.store.runs.get(row.id));
    this.#ctx.store.eventWriter.forget(row.id);
    this.#ctx.bus.emit('run', row.id);
    return true;
  }

  /**
   * A run of a remote agent whose host is gone is not over: its task goes on at the remote side.
   * The new owner takes the run over and follows the task again. Returns true when it did.
   */
  #adoptOrphan(row: RunRow): boolean {
    if (this.#ctx.stopping || !row.remote_task_id || row.status === 'queued') return false;
    const entry = this.#ctx.agents.find(row.agent);
    if (!entry || !this.#ctx.agents.traitsOf(entry.name).followsRemoteTasks) return false;
    this.#ctx.store.runs.update(row.id, {
      host_pid: this.#ctx.hostPid,
      host_start: this.#ctx.hostStart,
      waiting_for: null,
    });
    this.#ctx.store.permissions.expireForRun(row.id, 'restart');
    const ctx = this.#ctx.runs.open(this.#ctx.store.runs.get(row.id) as RunRow);
    ctx.started = true;
    ctx.followTaskId = row.remote_task_id;
    this.#ctx.runs.append(ctx, 'raw', {
      note: `baton${row.host_pid ? ` (pid ${row.host_pid})` : ''} stopped; pid ${this.#ctx.hostPid} follows remote task ${row.remote_task_id} again`,
    });
    this.#ctx.store.eventWriter.flush();
    Object.assign(row, ctx.row);
    void this.#turns.execute(ctx).catch((err: unknown) => this.#ctx.reportError(err));
    return true;
  }
}
