import type { AgentSession } from '../drivers/driver.js';
import type { RunnerConfig } from '../runners/options.js';
import { runnerFor } from '../runners/runner.js';
import { BatonError } from '../errors.js';
import type { EngineContext } from './context.js';
import type { RunCtx } from './run.js';
import type { PermissionPolicy } from './types.js';

/** SIGTERM → SIGKILL grace when stopping an agent process. */
export const KILL_GRACE_MS = 2000;

/**
 * A live agent process. `policy` and `model` are what it was opened with: drivers map them onto
 * the process (claude's permission mode, codex's sandbox), so a run that wants others gets a new one.
 */
type PoolEntry = {
  session: AgentSession;
  busyRun: RunCtx | undefined;
  idleTimer?: NodeJS.Timeout;
  policy: PermissionPolicy;
  model: string | null;
  /** The profile's runner it was started on (JSON; "null": the agent's own). */
  runner: string;
};

/** Which runner a run's profile asks for, comparable: a warm process elsewhere must not serve it. */
const runnerKey = (ctx: RunCtx): string => JSON.stringify(ctx.row.profile?.values.runner ?? null);

/** How an agent starts baton as its MCP server (`baton mcp`), offered to agents for delegation. */
export type BatonMcpLaunch = { command: string; args: string[] };

/**
 * The warm process pool: one live agent process per session, kept after a turn for follow-ups
 * until the idle timeout, counted (with those starting and stopping) within max_concurrent_runs.
 */
export class Pool {
  readonly #ctx: EngineContext;
  readonly #batonMcp: BatonMcpLaunch | undefined;
  readonly #live = new Map<string, PoolEntry>();
  #opening = 0;
  readonly #closing = new Set<Promise<unknown>>();
  readonly #openings = new Set<Promise<unknown>>();

  /** `batonMcp`: offered to agents' sessions when the config's `delegation.offer_to_agents` is on. */
  constructor(ctx: EngineContext, batonMcp: BatonMcpLaunch | undefined) {
    this.#ctx = ctx;
    this.#batonMcp = batonMcp;
  }

  /**
   * The agent process for a run: its session's warm one when it was opened for the same policy
   * (where the driver builds the policy in) and model, else a new one (resuming the agent-side
   * session), once there is room within max_concurrent_runs. Marked busy with the run.
   */
  async acquire(ctx: RunCtx): Promise<AgentSession> {
    const sid = ctx.row.session_id;
    const warm = this.#live.get(sid);
    if (warm && !warm.busyRun) {
      if (warm.idleTimer) clearTimeout(warm.idleTimer);
      const samePolicy =
        warm.policy === ctx.row.policy || !this.#ctx.agents.driverOf(ctx.row.agent).policyInProcess;
      if (samePolicy && warm.model === ctx.row.model && warm.runner === runnerKey(ctx)) {
        warm.busyRun = ctx;
        return warm.session;
      }
      // Opened for another policy, model or runner: a process started in a laxer mode (acceptEdits, a
      // writable sandbox) must not serve a stricter run. Reopen the session (resume) instead.
      this.#live.delete(sid);
      await this.close(warm.session, KILL_GRACE_MS);
    }
    await this.#makeRoom();
    if (ctx.abort.signal.aborted) throw new BatonError('INTERRUPTED', 'aborted before the agent started');
    const entry = this.#ctx.agents.get(ctx.row.agent);
    const driver = this.#ctx.agents.driverOf(entry.name);
    const launch = this.#ctx.agents.launch(entry.name);
    // A profile's runner overrides the agent's; the agent gets the run's folder as seen there.
    const profileRunner = ctx.row.profile?.values.runner as RunnerConfig | undefined;
    if (profileRunner) launch.runner = runnerFor(profileRunner, this.#ctx.config.home);
    if (
      launch.runner &&
      !launch.runner.local &&
      (launch.remote || (driver.terminal && !launch.runner.terminal))
    ) {
      throw new BatonError(
        'NOT_SUPPORTED',
        launch.remote
          ? `agent ${entry.name} cannot run on a ${launch.runner.type} runner (an a2a agent runs where its server is)`
          : `terminal agent ${entry.name} cannot run on a ${launch.runner.type} runner (ssh, container and kubernetes runners give it a terminal)`,
      );
    }
    if (launch.runner?.forRun) launch.runner = launch.runner.forRun(ctx.row.cwd, sid);
    const cwd = launch.runner ? launch.runner.agentCwd(ctx.row.cwd) : ctx.row.cwd;
    const sessionRow = this.#ctx.store.sessions.get(sid);
    this.#opening++;
    let session: AgentSession;
    const [command, ...args] = ctx.row.command ?? [launch.command, ...launch.args];
    // The agent's own baton calls (a `baton mcp` it starts) make child runs of this one.
    const delegation = { BATON_PARENT_RUN: ctx.id, BATON_HOME: this.#ctx.config.home };
    // Only for an agent here: elsewhere there is no baton to call, and baton's home is no business there.
    const here = launch.runner?.local ?? true;
    const opening = driver.open({
      agent: {
        ...launch,
        command: command ?? launch.command,
        args,
        env: { ...launch.env, ...(here ? delegation : {}) },
      },
      ...(typeof ctx.row.profile?.values.max_turns === 'number'
        ? { maxTurns: ctx.row.profile.values.max_turns }
        : {}),
      // Its command is this machine's (baton's node and dist/): an agent elsewhere could not start it.
      ...(this.#ctx.config.delegation.offerToAgents && this.#batonMcp && here
        ? { mcpServers: [{ name: 'baton', ...this.#batonMcp, env: delegation }] }
        : {}),
      cwd,
      excluded: [this.#ctx.config.home],
      ...(sessionRow?.agent_session_id ? { resumeSessionId: sessionRow.agent_session_id } : {}),
      ...(ctx.resumeForeign ? { resumeForeign: true } : {}),
      ...(ctx.row.model ? { model: ctx.row.model } : {}),
      policy: ctx.row.policy,
      ...(driver.terminal
        ? {
            terminal: {
              ...entry.terminal,
              width: this.#ctx.config.terminal.width,
              height: this.#ctx.config.terminal.height,
            },
          }
        : {}),
      onStderr: (text) => this.#live.get(sid)?.busyRun?.recorder.stderr(text),
      onProcess: (pid, pidStart) => {
        const run = this.#live.get(sid)?.busyRun;
        if (run) this.#ctx.store.runs.update(run.id, { agent_pid: pid, agent_start: pidStart ?? null });
      },
    });
    this.#openings.add(opening);
    try {
      session = await opening;
    } finally {
      this.#opening--;
      this.#openings.delete(opening);
    }
    if (ctx.abort.signal.aborted || this.#ctx.stopping) {
      // Cancelled (or shutting down) while the agent was starting: it must not join the pool.
      await this.close(session, 500);
      throw new BatonError('INTERRUPTED', 'aborted while the agent was starting');
    }
    // A session the agent cannot reopen (a terminal program) is known by its latest process's id.
    const reopens = session.capabilities.load || session.capabilities.resume;
    if (!sessionRow?.agent_session_id || (!reopens && sessionRow.agent_session_id !== session.agentSessionId))
      this.#ctx.store.sessions.setAgentSessionId(sid, session.agentSessionId);
    this.adopt(ctx, session);
    return session;
  }

  /** Takes a live agent process into the pool, busy with `ctx` (a fresh one, or one a dead owner left). */
  adopt(ctx: RunCtx, session: AgentSession): void {
    const sid = ctx.row.session_id;
    const poolEntry: PoolEntry = {
      session,
      busyRun: ctx,
      policy: ctx.row.policy,
      model: ctx.row.model,
      runner: runnerKey(ctx),
    };
    this.#live.set(sid, poolEntry);
    void session.exited.then(() => {
      if (this.#live.get(sid) === poolEntry) {
        if (poolEntry.idleTimer) clearTimeout(poolEntry.idleTimer);
        this.#live.delete(sid);
      }
    });
  }

  /** Keeps live agent processes within max_concurrent_runs by stopping idle ones, oldest first. */
  async #makeRoom(): Promise<void> {
    while (this.#live.size + this.#opening + this.#closing.size >= this.#ctx.config.maxConcurrentRuns) {
      const idle = [...this.#live.entries()].find(([, e]) => !e.busyRun);
      if (idle) {
        const [sid, e] = idle;
        if (e.idleTimer) clearTimeout(e.idleTimer);
        this.#live.delete(sid);
        await this.close(e.session, 1000);
      } else if (this.#closing.size > 0) {
        await Promise.race(this.#closing);
      } else return;
    }
  }

  /** Stops an agent process, counting it as alive until it has exited. */
  close(session: AgentSession, graceMs: number): Promise<unknown> {
    const p = session.close(graceMs).finally(() => this.#closing.delete(p));
    this.#closing.add(p);
    return p;
  }

  /** After a turn: the process stays warm for follow-ups until the idle timeout. */
  release(ctx: RunCtx, session: AgentSession): void {
    const sid = ctx.row.session_id;
    const e = this.#live.get(sid);
    if (!e || e.session !== session) return;
    e.busyRun = undefined;
    if (this.#ctx.stopping || session.terminal) {
      // A terminal run ends when its program exits: nothing to keep warm.
      this.#live.delete(sid);
      void this.close(session, 1000);
      return;
    }
    e.idleTimer = setTimeout(() => {
      if (this.#live.get(sid) === e && !e.busyRun) {
        this.#live.delete(sid);
        void this.close(session, KILL_GRACE_MS);
      }
    }, this.#ctx.config.sessionIdleTimeoutMs);
    e.idleTimer.unref();
  }

  /** Drops a session's process from the pool (it is never reused) and stops it. */
  discard(sid: string, session: AgentSession): void {
    const e = this.#live.get(sid);
    if (e && e.session === session) {
      if (e.idleTimer) clearTimeout(e.idleTimer);
      this.#live.delete(sid);
    }
    void this.close(session, 500);
  }

  /** Forgets a session's process without stopping it (the caller stops it). */
  forget(sid: string): void {
    this.#live.delete(sid);
  }

  /** Stops every agent process, those still starting included (they close as soon as they are up). */
  async shutdown(): Promise<void> {
    await Promise.allSettled([...this.#openings]);
    await Promise.all([...this.#live.values()].map((e) => this.close(e.session, 1000)));
    this.#live.clear();
    await Promise.allSettled([...this.#closing]);
  }
}
