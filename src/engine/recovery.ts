import { isProcessAlive, signalGroup } from '../process/identity.js';
import { EXTERNAL_PREFIX } from '../drivers/driver.js';
import type { RunRow } from '../store/runs.js';
import type { EngineContext } from './context.js';
import { BatonError } from '../errors.js';
import type { Pool } from './pool.js';
import type { Turns } from './turn.js';
import { isFinalStatus } from './types.js';

/**
 * What a new owner does with the runs the previous one left active: interrupt them (killing the
 * agent process groups left behind), or adopt those that can go on (a remote task).
 */
export class Recovery {
  readonly #ctx: EngineContext;
  readonly #turns: Turns;
  readonly #pool: Pool;

  /** `turns` runs an adopted run's turn (a remote task followed, a terminal watched again); `pool` takes adopted processes. */
  constructor(ctx: EngineContext, turns: Turns, pool: Pool) {
    this.#ctx = ctx;
    this.#turns = turns;
    this.#pool = pool;
  }

  /**
   * Recovers after the previous owner (this process now holds the owner lock, so every active run
   * in the store is one it left): their pending permission requests expire; runs whose agent
   * outlives its owner (a remote task, a terminal program in tmux) go on under this owner, the
   * others become `interrupted` with the reason and the agent process groups they left are killed.
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
    if (this.#adoptOrphan(row) || this.#adoptSession(row)) return false;
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

  /**
   * A running or waiting run whose agent process outlives its owner (a terminal program in tmux)
   * is taken over: the driver adopts the session (the recorded one, or none) and the turn goes on
   * where it was; the run's permission requests expired, the agent asks again. When the driver
   * finds no such session, the run is interrupted as #interruptOrphan does. Returns true when it tries.
   */
  #adoptSession(row: RunRow): boolean {
    if (this.#ctx.stopping || (row.status !== 'running' && row.status !== 'waiting')) return false;
    const agentSessionId = this.#ctx.store.sessions.get(row.session_id)?.agent_session_id;
    // A user's own tmux session (adopt_terminal) has no pid baton knows: watched again by its name.
    const external = agentSessionId?.startsWith(EXTERNAL_PREFIX) === true;
    if (!row.agent_pid && !external) return false;
    const entry = this.#ctx.agents.find(row.agent);
    if (!entry || !this.#ctx.agents.traitsOf(entry.name).adoptsSessions) return false;
    const driver = this.#ctx.agents.driverOf(entry.name);
    if (!driver.adopt || !agentSessionId) return false;
    const pid = external ? 0 : (row.agent_pid ?? 0);
    const dead = `baton${row.host_pid ? ` (pid ${row.host_pid})` : ''}`;
    this.#ctx.store.runs.update(row.id, { host_pid: this.#ctx.hostPid, host_start: this.#ctx.hostStart });
    this.#ctx.store.permissions.expireForRun(row.id, 'restart');
    const ctx = this.#ctx.runs.open(this.#ctx.store.runs.get(row.id) as RunRow);
    ctx.started = true;
    const terminal = {
      ...entry.terminal,
      width: this.#ctx.config.terminal.width,
      height: this.#ctx.config.terminal.height,
    };
    ctx.adopting = driver
      .adopt({ agentSessionId, pid, pidStart: row.agent_start ?? undefined, terminal })
      .catch(() => undefined)
      .then((session) => {
        if (!session) {
          if (pid > 0 && isProcessAlive(pid, row.agent_start)) signalGroup(pid, 'SIGKILL');
          const message = `${dead} stopped while this run was ${row.status}; follow_up continues its session`;
          ctx.abortReason ??= { status: 'interrupted', force: true, error: { code: 'INTERRUPTED', message } };
          throw new BatonError('INTERRUPTED', message);
        }
        this.#pool.adopt(ctx, session);
        this.#ctx.runs.append(ctx, 'raw', {
          note: `${dead} stopped; pid ${this.#ctx.hostPid} adopted its agent session ${agentSessionId} (agent pid ${session.pid})`,
          adopted_by: this.#ctx.hostPid,
        });
        return session;
      });
    void this.#turns.execute(ctx).catch((err: unknown) => this.#ctx.reportError(err));
    return true;
  }
}
