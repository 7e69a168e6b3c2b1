import type { Config } from '../config.js';
import type { Driver, DriverTraits } from '../drivers/driver.js';
import { BatonError } from '../errors.js';
import { processStartTime } from '../process/identity.js';
import { EVENT_PAGE_DEFAULT, EVENT_PAGE_MAX } from '../store/events.js';
import type { RunRow } from '../store/runs.js';
import type { Store } from '../store/store.js';
import { Admission, type SpawnInput } from './admission.js';
import { EngineBus } from './bus.js';
import * as catalog from '../agents/catalog.js';
import { Confirmations } from './confirmations.js';
import type { Agents, EngineContext } from './context.js';
import { Permissions } from './permissions.js';
import { Pool, type BatonMcpLaunch } from './pool.js';
import { Recovery } from './recovery.js';
import { Runs, type RunPlan } from './run.js';
import { Scheduler } from './scheduler.js';
import type { ExternalTerminal } from '../drivers/driver.js';
import { Terminals, type AdoptTerminalInput, type TerminalScreen } from './terminal.js';
import { wakeRuns, type WakeInput, type WakeResult } from './wake.js';
import { Turns } from './turn.js';
import { EVENT_TYPES, type RunEvent, type RunStatus, type RunSummary, type Usage } from './types.js';
import { usageOf, type RunUsage } from './usage.js';
import { verifyRun, type VerifyInput, type VerifyResult } from './verify.js';
import { Waiting, type WaitInput, type WaitResult } from './waiting.js';
import { Workspace, type RunDiff } from './workspace.js';
import { closeRunners, runnerFor, sweepRunners } from '../runners/runner.js';

export { HUMAN_CHANNELS, isHumanChannel } from './permissions.js';
export type { SpawnInput } from './admission.js';
export type { TerminalScreen } from './terminal.js';
export { WAIT_MAX_MS, waitTimeoutMs } from '../duration.js';
export type { WaitInput, WaitResult } from './waiting.js';
export type { Confirmation, ConfirmationResult } from './confirmations.js';

/** Options of the {@link Engine} constructor. */
export type EngineOptions = {
  config: Config;
  store: Store;
  /** The drivers by name (the catalog's `driver` field), with their traits. */
  drivers: Record<string, Driver>;
  /**
   * How an agent starts baton as its MCP server (`baton mcp`), offered to agents' sessions when the
   * config's `delegation.offer_to_agents` is on; without it, none is offered.
   */
  batonMcp?: BatonMcpLaunch;
};

/**
 * Runs, sessions, the queue, permissions and policies, the event bus. Knows runs, not protocols:
 * drivers do the talking, the store does the keeping. Every state change is stored before it is
 * announced on {@link Engine.bus}.
 */
export class Engine {
  readonly bus = new EngineBus();
  readonly config: Config;
  readonly store: Store;
  readonly hostPid = process.pid;
  readonly hostStart = processStartTime(process.pid) ?? null;
  readonly #drivers: Record<string, Driver>;
  readonly #catalog: Map<string, catalog.AgentEntry>;
  readonly #runs: Runs;
  readonly #core: EngineContext;
  readonly #workspace: Workspace;
  readonly #waiting: Waiting;
  readonly #permissions: Permissions;
  readonly #terminals: Terminals;
  readonly #admission: Admission;
  readonly #pool: Pool;
  readonly #scheduler: Scheduler;
  readonly #turns: Turns;
  readonly #recovery: Recovery;
  /** Questions for a person (request_confirmation, list_confirmations, answer_confirmation). */
  readonly confirmations: Confirmations;
  /** Told about failures no caller is waiting for (a store write failing inside a run's task). */
  onInternalError: ((err: unknown) => void) | undefined;

  constructor(options: EngineOptions) {
    this.config = options.config;
    this.store = options.store;
    this.#drivers = options.drivers;
    this.#catalog = catalog.buildCatalog(options.config.agents, options.config.home);
    const reportError = (err: unknown) => this.onInternalError?.(err);
    const base = {
      store: this.store,
      bus: this.bus,
      hostPid: this.hostPid,
      hostStart: this.hostStart,
      reportError,
    };
    this.#runs = new Runs(base, {
      cancelPending: (run, by) => this.#permissions.cancelAll(run, by),
      ended: () => this.#scheduler.pump(),
    });
    this.#core = { ...base, config: this.config, agents: this.#agents(), runs: this.#runs, stopping: false };
    this.#permissions = new Permissions(this.#core);
    this.#terminals = new Terminals(this.#core, this.#permissions);
    this.#waiting = new Waiting(this.#core, (ref) => this.resolveRun(ref));
    this.#admission = new Admission(this.#core);
    this.#pool = new Pool(this.#core, options.batonMcp);
    this.#workspace = new Workspace(this.#core, (cwd, worktree) =>
      this.#admission.checkRunCwd(cwd, worktree),
    );
    this.#scheduler = new Scheduler(this.#core, (run) => void this.#turns.execute(run).catch(reportError));
    this.#turns = new Turns(this.#core, {
      pool: this.#pool,
      workspace: this.#workspace,
      permissions: this.#permissions,
      scheduler: this.#scheduler,
    });
    this.#recovery = new Recovery(this.#core, this.#turns, this.#pool);
    this.confirmations = new Confirmations(this.#core);
    this.store.eventWriter.onFlushed((written) => {
      const byRun = new Map<string, RunEvent[]>();
      for (const { runId, event } of written) {
        const list = byRun.get(runId) ?? [];
        list.push(event);
        byRun.set(runId, list);
      }
      for (const [runId, events] of byRun) this.bus.emit('events', runId, events);
    });
  }

  /**
   * Recovers after the previous owner (this process now holds the owner lock, so every active run
   * in the store is one it left): runs become `interrupted` with the reason, their pending
   * permission requests expire, and agent process groups left behind are killed.
   */
  recover(): { interrupted: string[] } {
    const result = this.#recovery.recover();
    this.#sweepRunners();
    return result;
  }

  /** What an earlier owner left on the runners of the config (its containers, when their reapers died too). */
  #sweepRunners(): void {
    const config = this.#core.config;
    sweepRunners(
      [
        ...Object.values(config.agents).map((a) => ('runner' in a ? a.runner : undefined)),
        ...Object.values(config.profiles ?? {}).map((p) => p.runner),
      ],
      config.home,
    );
  }

  // ---------------------------------------------------------------- agents

  /** The catalog and the drivers, as the engine's parts see them. */
  #agents(): Agents {
    return {
      all: () => [...this.#catalog.values()],
      get: (name) => this.#agent(name),
      find: (name) => this.#catalog.get(name),
      driverOf: (name) => this.#driverOf(name),
      traitsOf: (name) => this.#traitsOf(name),
      readiness: (name) => catalog.readinessProblem(this.#agent(name)),
      launch: (name) => {
        const entry = this.#agent(name);
        return {
          name: entry.name,
          command: entry.command,
          args: entry.args,
          env: catalog.launchEnv(entry),
          ...(entry.runner ? { runner: runnerFor(entry.runner.config, entry.runner.stateDir) } : {}),
          ...(entry.remote
            ? { remote: { url: entry.remote.url, headers: catalog.remoteHeaders(entry.remote) } }
            : {}),
        };
      },
    };
  }

  /** Every agent baton knows (built-in and configured), with installation status. */
  async listAgents(): Promise<catalog.AgentInfo[]> {
    return Promise.all([...this.#catalog.values()].map((a) => catalog.inspectAgent(a)));
  }

  /** One agent, with installation status (cheaper than {@link listAgents}). */
  async agentInfo(name: string): Promise<catalog.AgentInfo> {
    return catalog.inspectAgent(this.#agent(name));
  }

  #agent(name: string): catalog.AgentEntry {
    const entry = this.#catalog.get(name);
    if (!entry) {
      throw new BatonError(
        'AGENT_NOT_FOUND',
        `no agent named "${name}"; known agents: ${[...this.#catalog.keys()].join(', ')} (add your own under "agents" in ${this.config.configPath})`,
      );
    }
    return entry;
  }

  // ---------------------------------------------------------------- runs: read

  /** Finds a run by id or unique label; throws RUN_NOT_FOUND. */
  resolveRun(ref: string): RunRow {
    const row = ref.startsWith('r_') ? this.store.runs.get(ref) : this.store.runs.getByLabel(ref);
    if (!row) {
      throw new BatonError('RUN_NOT_FOUND', `no run with id or label "${ref}"; list_runs shows the runs`);
    }
    // What the store could not take yet (a full disk) is still the truth.
    return this.#runs.withUnsaved(row);
  }

  /**
   * The summary of one run, with its session's `agent_session_id` (the agent's own id) once known,
   * and the questions its agent asked a person that are still open.
   */
  getRun(ref: string): RunSummary {
    const row = this.resolveRun(ref);
    const summary = this.summarize(row);
    const agentSessionId = this.store.sessions.get(row.session_id)?.agent_session_id;
    if (agentSessionId) summary.agent_session_id = agentSessionId;
    const open = this.confirmations.ofRun(row.id).filter((c) => c.status === 'pending');
    if (open.length > 0) {
      summary.pending_confirmations = open.map((c) => ({
        confirmation_id: c.confirmation_id,
        question: c.question,
        options: c.options,
      }));
    }
    return summary;
  }

  /** Runs newest first, one page. */
  listRuns(input: {
    status?: RunStatus | RunStatus[];
    agent?: string;
    label?: string;
    role?: string;
    limit?: number;
    cursor?: string;
  }): {
    runs: RunSummary[];
    next_cursor?: string;
  } {
    if (
      input.limit !== undefined &&
      !(Number.isInteger(input.limit) && input.limit >= 1 && input.limit <= 200)
    ) {
      throw new BatonError(
        'INVALID_PARAMS',
        `limit must be a whole number from 1 to 200 (got ${String(input.limit)})`,
      );
    }
    const limit = input.limit ?? 20;
    let cursor: { created_at: string; id: string } | undefined;
    if (input.cursor) {
      try {
        const [created_at, id] = Buffer.from(input.cursor, 'base64url').toString('utf8').split('|');
        if (!created_at || !id) throw new Error('bad cursor');
        cursor = { created_at, id };
      } catch {
        throw new BatonError(
          'INVALID_PARAMS',
          'cursor is not one this server returned; pass next_cursor unchanged',
        );
      }
    }
    const statuses =
      input.status === undefined ? undefined : Array.isArray(input.status) ? input.status : [input.status];
    const rows = this.store.runs.list({
      statuses,
      agent: input.agent,
      label: input.label,
      role: input.role,
      limit: limit + 1,
      cursor,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      runs: page.map((r) => this.summarize(r)),
      ...(rows.length > limit && last
        ? { next_cursor: Buffer.from(`${last.created_at}|${last.id}`).toString('base64url') }
        : {}),
    };
  }

  /** A page of a run's events. */
  getEvents(
    ref: string,
    q: { after_seq?: number; types?: string[]; limit?: number; tail?: boolean },
  ): { events: RunEvent[]; next_seq: number; has_more: boolean } {
    const row = this.resolveRun(ref);
    for (const t of q.types ?? []) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) {
        throw new BatonError(
          'INVALID_PARAMS',
          `types: unknown event type "${t}"; use ${EVENT_TYPES.join(', ')}`,
        );
      }
    }
    if (q.limit !== undefined && (q.limit < 1 || q.limit > EVENT_PAGE_MAX)) {
      throw new BatonError('INVALID_PARAMS', `limit must be between 1 and ${EVENT_PAGE_MAX}`);
    }
    this.store.eventWriter.flush();
    return this.store.events.page(row.id, {
      afterSeq: q.after_seq,
      types: q.types,
      limit: q.limit ?? EVENT_PAGE_DEFAULT,
      tail: q.tail,
    });
  }

  /** Pages through an event field that was moved to an artifact. */
  getArtifact(ref: string, seq: number, fieldPath: string, offset = 0, limit = 65536) {
    const row = this.resolveRun(ref);
    if (!fieldPath.startsWith('/')) {
      throw new BatonError(
        'INVALID_PARAMS',
        `field_path must be a JSON Pointer starting with "/", e.g. "/text"`,
      );
    }
    if (offset < 0 || limit < 1 || limit > 1024 * 1024) {
      throw new BatonError('INVALID_PARAMS', 'offset must be >= 0 and limit between 1 and 1048576 bytes');
    }
    this.store.eventWriter.flush();
    return this.store.readArtifact(row.id, seq, fieldPath, offset, limit);
  }

  /** Server figures for `server_status`. */
  status(): { active: number; total: number } {
    return this.store.runs.counts();
  }

  // ---------------------------------------------------------------- work trees

  /**
   * The diff of what a run changed (against the state when it started), paged by bytes; live for
   * an active run.
   */
  async getDiff(
    ref: string,
    opts: { path?: string; offset?: number; limit?: number } = {},
  ): Promise<RunDiff> {
    return this.#workspace.diff(this.resolveRun(ref), opts);
  }

  /**
   * Starts a read-only review run (policy deny_all, the verdict schema) of another run's changes
   * or of evidence files against a task, and waits up to `wait` for its verdict. An answer that
   * does not validate, or a review that fails, is `fail_closed`.
   */
  async verifyRun(input: VerifyInput): Promise<VerifyResult> {
    return verifyRun(this, input);
  }

  /** Removes a finished run's work tree and branch (isolation "worktree"). */
  async discardRun(ref: string): Promise<{ run_id: string; path: string; branch: string; discarded: true }> {
    return this.#workspace.discard(this.resolveRun(ref));
  }

  /** The run summary of CONTRACT.md. */
  summarize(row: RunRow): RunSummary {
    return this.#runs.summarize(row);
  }

  // ---------------------------------------------------------------- runs: write

  /** Answers the pending permission request of a waiting run. */
  async answerPermission(
    ref: string,
    optionId: string,
    requestId?: string,
    by = 'caller',
  ): Promise<RunSummary> {
    return this.#permissions.answer(this.resolveRun(ref), optionId, requestId, by);
  }

  /** Validates and queues a new run; returns at once with its summary (status `queued`). */
  async spawnRun(request: SpawnInput): Promise<RunSummary> {
    const { plan, setup } = await this.#admission.plan(request);
    if (setup && plan.id) this.#workspace.plan(plan.id, setup);
    return this.#createRun(plan);
  }

  /**
   * A new run on the same session as `ref`: the agent keeps its context. Queued behind a busy
   * session. A live terminal program gets the message typed in (`by` is the channel: typed input
   * at a permission prompt answers it, so the run's approver must accept `by`).
   */
  async followUp(ref: string, message: string, label?: string, by = 'caller'): Promise<RunSummary> {
    const row = this.resolveRun(ref);
    this.#admission.checkMessage(row, message);
    const last = this.store.runs.lastOfSession(row.session_id) ?? row;
    // A live terminal program: the message is typed into it (same run).
    const liveCtx = this.#runs.get(last.id);
    // A remote agent's question: the message is its answer (same run).
    if (liveCtx?.session?.reply && liveCtx.row.waiting_for?.kind === 'input') {
      await liveCtx.session.reply(message);
      return this.summarize(liveCtx.row);
    }
    if (liveCtx?.session?.terminal) {
      this.#permissions.answerByTyping(liveCtx, message, by);
      await liveCtx.session.terminal.send({ text: message, enter: true });
      return this.summarize(liveCtx.row);
    }
    return this.#createRun(this.#admission.followUpPlan(row, message, label));
  }

  /**
   * Cancels a run and resolves once it is final: queued runs at once; live ones with the ladder
   * (protocol cancel, then SIGTERM/SIGKILL of the agent's process group). `force` skips the
   * protocol cancel. A run that is already over is returned unchanged.
   */
  async cancelRun(ref: string, force = false): Promise<RunSummary> {
    const row = this.resolveRun(ref);
    const ctx = this.#runs.get(row.id);
    if (!ctx) {
      return this.summarize(row);
    }
    await this.#turns.abort(ctx, {
      status: 'cancelled',
      force,
      error: { code: 'CANCELLED', message: force ? 'cancelled (forced)' : 'cancelled' },
    });
    return this.getRun(row.id);
  }

  /**
   * Blocks until one of the runs needs attention (`until: attention` = waiting or final) or is
   * final (`until: finished`), or the timeout passes. No polling: it listens on the bus.
   */
  async waitRuns(input: WaitInput): Promise<WaitResult> {
    return this.#waiting.waitRuns(input);
  }

  // ---------------------------------------------------------------- terminal runs

  /**
   * Where a live terminal run's program is: baton's tmux socket name (`tmux -L`) and the session,
   * for `baton attach`. Throws RUN_FINISHED when it has no live terminal, NOT_SUPPORTED when it is
   * not a terminal run.
   */
  terminalTarget(ref: string): { run_id: string; socket: string; session: string } {
    return this.#terminals.target(this.resolveRun(ref));
  }

  /** A terminal program's hook event (`baton hook`), for its own live session only (FORBIDDEN otherwise). */
  terminalHook(id: string, token: string, event: string, payload: Record<string, unknown>): { ok: true } {
    return this.#terminals.hook(id, token, event, payload);
  }

  /** The screen of a terminal run: the last `lines` lines, plain or with ANSI (`raw`). */
  async readTerminal(ref: string, lines = 50, raw = false): Promise<TerminalScreen> {
    return this.#terminals.read(this.resolveRun(ref), lines, raw);
  }

  /**
   * Types into a terminal run: text (pasted whole), named keys, then Enter when asked. `by` is the
   * channel: while the program waits on a permission prompt, typed input answers it, so the run's
   * approver must accept `by` (NOT_APPROVER otherwise), and the answer is recorded as `by`'s.
   */
  async sendKeys(
    ref: string,
    input: { text?: string; keys?: string[]; enter?: boolean },
    by = 'caller',
  ): Promise<RunSummary> {
    return this.#terminals.send(this.resolveRun(ref), input, by);
  }

  /** The user's own live tmux sessions (config `terminal.external`, FORBIDDEN otherwise). */
  async listTerminals(): Promise<{ terminals: ExternalTerminal[] }> {
    return { terminals: await this.#terminals.listExternal() };
  }

  /**
   * Makes the user's tmux session `target` a terminal run (config `terminal.external`): its screen
   * is watched, read_terminal/send_keys/wake work on it, cancel only detaches (never killed).
   */
  async adoptTerminal(input: AdoptTerminalInput): Promise<RunSummary> {
    return this.#createRun(await this.#terminals.externalPlan(input));
  }

  /** Nudges idle sessions (see wake.ts): per-target results. */
  async wake(input: WakeInput, by = 'caller'): Promise<{ results: WakeResult[] }> {
    return wakeRuns(
      {
        ctx: this.#core,
        resolve: (ref) => this.resolveRun(ref),
        followUp: (ref, message, who) => this.followUp(ref, message, undefined, who),
      },
      input,
      by,
    );
  }

  // ---------------------------------------------------------------- lifecycle

  /** Runs this process hosts that are not finished (queued, starting, running, waiting). */
  get activeRunCount(): number {
    return this.#runs.size;
  }

  /**
   * Stops every run this process hosts (they become `interrupted`, resumable with follow_up),
   * stops every agent process, flushes the store. Idempotent.
   */
  async shutdown(reason = 'baton was stopped'): Promise<void> {
    if (this.#core.stopping) return;
    this.#core.stopping = true;
    const aborts = [...this.#runs.values()].map((ctx) =>
      this.#turns.abort(ctx, {
        status: 'interrupted',
        force: true,
        error: {
          code: 'INTERRUPTED',
          message: `${reason} while this run was ${ctx.row.status}; follow_up continues its session`,
        },
      }),
    );
    await Promise.all(aborts);
    this.confirmations.stop();
    await this.#pool.shutdown();
    await closeRunners();
    this.store.eventWriter.flush();
  }

  // ---------------------------------------------------------------- usage

  /** Usage of a run, of its session, and of its run tree (it and every run started below it). */
  getUsage(ref: string): RunUsage {
    return usageOf(this.store, this.resolveRun(ref));
  }

  /** Every run's usage added up (server_status, baton ls). */
  usageTotals(): { runs: number; usage: Usage } {
    return this.store.runs.usageTotals();
  }

  // ---------------------------------------------------------------- internals

  /** Stores and queues a new run. */
  #createRun(p: RunPlan): RunSummary {
    const run = this.#runs.insert(p, (r) => this.#scheduler.enqueue(r));
    return this.summarize(run.row);
  }

  #driverOf(agentName: string): Driver {
    const entry = this.#agent(agentName);
    const driver = this.#drivers[entry.driver];
    if (!driver)
      throw new BatonError('NOT_SUPPORTED', `driver ${entry.driver} is not available in this build`);
    return driver;
  }

  /**
   * What the agent's driver declares (all unset when this build lacks the driver, so a check of a
   * trait never fails for want of it; {@link #driverOf} does when the driver is needed).
   */
  #traitsOf(agentName: string): Partial<DriverTraits> {
    return this.#drivers[this.#agent(agentName).driver] ?? {};
  }
}
