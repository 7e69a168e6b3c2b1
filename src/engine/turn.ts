import type { AgentSession, TurnSink } from '../drivers/driver.js';
import { BatonError, toBatonError } from '../errors.js';
import { settlesWithin } from '../process/child.js';
import type { EngineContext } from './context.js';
import { newId } from './ids.js';
import { validateOutput, withSchemaInstruction } from './output.js';
import type { Permissions } from './permissions.js';
import { KILL_GRACE_MS, type Pool } from './pool.js';
import type { AbortReason, RunCtx } from './run.js';
import type { Scheduler } from './scheduler.js';
import { isFinalStatus } from './types.js';
import { addUsage } from './usage.js';
import type { Workspace } from './workspace.js';

/** After a protocol cancel, how long the agent gets to end its turn before the process is stopped. */
const CANCEL_GRACE_MS = 3000;

/** The corrective follow-up for an answer that did not match the output schema. */
function correctionPrompt(schema: Record<string, unknown>, errors: string[]): string {
  return [
    'Your previous answer did not match the required JSON Schema:',
    ...errors.slice(0, 20).map((e) => `- ${e}`),
    '',
    'Reply again with only the JSON value, nothing else, matching this JSON Schema:',
    JSON.stringify(schema),
  ].join('\n');
}

/** The parts a turn uses. */
export type TurnParts = { pool: Pool; workspace: Workspace; permissions: Permissions; scheduler: Scheduler };

/**
 * One run's turn, start to end, and stopping it: timeout, protocol cancel with a grace period,
 * then the agent's process group stopped (the abort ladder); output-schema correction.
 */
export class Turns {
  readonly #ctx: EngineContext;
  readonly #parts: TurnParts;

  constructor(ctx: EngineContext, parts: TurnParts) {
    this.#ctx = ctx;
    this.#parts = parts;
  }

  /**
   * Runs a started run's turn: the deadline armed, the work tree prepared, an agent process
   * acquired, the prompt sent (or an adopted remote task followed), one correction asked when the
   * answer misses output_schema, and the run completed, failed, or ended as its abort says.
   */
  async execute(ctx: RunCtx): Promise<void> {
    const timeoutMs = ctx.row.timeout_ms;
    // An adopted run keeps its original deadline.
    const adopted = Boolean(ctx.followTaskId || ctx.adopting);
    const elapsed = adopted && ctx.row.started_at ? Date.now() - Date.parse(ctx.row.started_at) : 0;
    ctx.timeoutTimer = setTimeout(
      () => {
        void this.abort(ctx, {
          status: 'timed_out',
          force: false,
          error: {
            code: 'TIMED_OUT',
            message: `the run exceeded its timeout of ${Math.round(timeoutMs / 1000)}s`,
          },
        });
      },
      Math.max(0, timeoutMs - elapsed),
    );
    try {
      if (!adopted) {
        this.#ctx.runs.setStatus(ctx, 'starting', { started_at: new Date().toISOString() });
        await this.#raceAbort(ctx, this.#parts.workspace.prepare(ctx));
      }
      const session = await this.#raceAbort(
        ctx,
        ctx.adopting ?? this.#parts.pool.acquire(ctx),
        (late) => void this.#parts.pool.close(late, 500),
      );
      ctx.session = session;
      this.#ctx.store.runs.update(ctx.id, {
        agent_pid: session.pid || null,
        agent_start: session.pidStart ?? null,
      });
      for (const note of session.notes.splice(0)) this.#ctx.runs.append(ctx, 'raw', { note });
      if (
        ctx.row.profile?.values.max_turns !== undefined &&
        !this.#ctx.agents.traitsOf(ctx.row.agent).takesMaxTurns
      ) {
        this.#ctx.runs.append(ctx, 'raw', {
          note: `max_turns is not applied: agent ${ctx.row.agent} takes no turn limit`,
        });
      }
      this.#ctx.runs.setStatus(ctx, 'running', ctx.adopting ? { waiting_for: null } : {}, {
        pid: session.pid,
      });
      const sink = this.#sinkOf(ctx);
      const schema = ctx.row.output_schema ?? undefined;
      const native = schema !== undefined && this.#ctx.agents.driverOf(ctx.row.agent).nativeStructuredOutput;
      const text = schema && !native ? withSchemaInstruction(ctx.row.prompt, schema) : ctx.row.prompt;
      const parts = ctx.row.input_message
        ? schema && !native
          ? [
              ...ctx.row.input_message,
              { type: 'text' as const, text: withSchemaInstruction('', schema).trim() },
            ]
          : ctx.row.input_message
        : undefined;
      const options = {
        ...(native ? { outputSchema: schema } : {}),
        ...(parts ? { parts } : {}),
        ...(ctx.row.role ? { role: ctx.row.role } : {}),
      };
      const turn =
        ctx.followTaskId && session.followTask
          ? session.followTask(ctx.followTaskId, sink)
          : ctx.adopting && session.continueTurn
            ? session.continueTurn(sink)
            : session.prompt(text, sink, options);
      turn.catch(() => undefined);
      let outcome;
      try {
        outcome = await this.#raceAbort(ctx, turn);
      } catch (err) {
        if (ctx.abortReason) await this.#stopAfterAbort(ctx, session, turn);
        throw err;
      }
      // An answer that does not match output_schema gets one corrective follow-up in the same turn
      // context; the result then comes from that second answer.
      // A first answer that matched is the verdict; after a correction the second answer is checked.
      let checked: Awaited<ReturnType<typeof validateOutput>> | undefined;
      if (schema) {
        const first = await validateOutput(
          schema,
          ctx.recorder.lastMessage || ctx.recorder.turnText,
          outcome.structured,
        );
        if ('structured_error' in first) {
          const errors = first.structured_error.errors;
          ctx.recorder.startTurn();
          this.#ctx.runs.append(ctx, 'warning', {
            kind: 'structured_output',
            message: 'the answer did not match output_schema; asking the agent once more',
            errors,
          });
          const correction = correctionPrompt(schema, errors);
          this.#ctx.runs.append(ctx, 'message', { role: 'user', text: correction, correction: true });
          const retry = session.prompt(correction, sink, native ? { outputSchema: schema } : {});
          retry.catch(() => undefined);
          try {
            const second = await this.#raceAbort(ctx, retry);
            outcome = { ...second, usage: addUsage(outcome.usage, second.usage) };
          } catch (err) {
            if (ctx.abortReason) await this.#stopAfterAbort(ctx, session, retry);
            throw err;
          }
        } else checked = first;
      }
      // Release first: finishing starts the next queued run, which may need this process's slot.
      this.#parts.pool.release(ctx, session);
      const changes = await this.#parts.workspace.recordChanges(ctx);
      // Checked before #complete, which is synchronous: the schema's regexes run in a worker.
      ctx.recorder.flush();
      if (schema && !checked) {
        checked = await validateOutput(
          schema,
          ctx.recorder.lastMessage || ctx.recorder.turnText,
          outcome.structured,
        );
      }
      this.#ctx.runs.complete(ctx, outcome.stop_reason, outcome.usage, checked, changes);
    } catch (err) {
      await this.#parts.workspace.recordChanges(ctx);
      if (ctx.abortReason) {
        if (ctx.session) this.#parts.pool.discard(ctx.row.session_id, ctx.session);
        this.#ctx.runs.finish(ctx, ctx.abortReason.status, { error: ctx.abortReason.error });
      } else {
        const e = toBatonError(err);
        const stderrTail =
          typeof e.details?.stderr_tail === 'string' ? e.details.stderr_tail.slice(-4000) : undefined;
        // A failed turn may leave the agent mid-turn or confused (a timed-out request): never reuse
        // its process; a follow-up reopens the session.
        if (ctx.session) this.#parts.pool.discard(ctx.row.session_id, ctx.session);
        this.#ctx.runs.finish(ctx, 'failed', {
          error: { code: e.code, message: e.message, ...(stderrTail ? { stderr_tail: stderrTail } : {}) },
        });
      }
    }
  }

  /** Where a run's turn output goes: events recorded, files touched, permissions asked, waiting shown. */
  #sinkOf(ctx: RunCtx): TurnSink {
    return {
      allowWrites: ctx.row.policy !== 'deny_all',
      // Output that arrives after the run is over does not reopen it.
      emit: (event) => {
        if (isFinalStatus(ctx.row.status)) return;
        if (event.type === 'tool_call' || event.type === 'tool_update')
          this.#parts.workspace.touch(ctx, event.data.locations);
        ctx.recorder.handle(event);
      },
      requestPermission: (ask, signal) => {
        if (isFinalStatus(ctx.row.status)) return Promise.resolve({ outcome: 'cancelled' as const });
        this.#parts.workspace.touch(ctx, ask.tool_call.locations);
        return this.#parts.permissions.ask(ctx, ask, signal);
      },
      setInputWaiting: (w) => {
        // A permission question outranks the prompt; the run waits on that first.
        if (isFinalStatus(ctx.row.status) || ctx.pending.size > 0 || ctx.abortReason) return;
        if (w) {
          this.#ctx.runs.setStatus(ctx, 'waiting', {
            waiting_for: {
              kind: 'input',
              request_id: newId('i'),
              title: `the program waits for input: ${w.prompt}`.trim(),
              prompt: w.prompt,
              options: [],
            },
          });
        } else if (ctx.row.status === 'waiting' && ctx.row.waiting_for?.kind === 'input') {
          this.#ctx.runs.setStatus(ctx, 'running', { waiting_for: null });
        }
      },
      setAgentSessionId: (id) => {
        if (isFinalStatus(ctx.row.status)) return;
        if (this.#ctx.store.sessions.get(ctx.row.session_id)?.agent_session_id === id) return;
        this.#ctx.store.sessions.setAgentSessionId(ctx.row.session_id, id);
        this.#ctx.runs.append(ctx, 'raw', { agent_session_id: id });
      },
      setRemoteTask: (taskId) => {
        if (ctx.row.remote_task_id === taskId) return;
        this.#ctx.store.runs.update(ctx.id, { remote_task_id: taskId });
        ctx.row.remote_task_id = taskId;
        this.#ctx.runs.append(ctx, 'raw', { remote_task_id: taskId });
      },
    };
  }

  /** Rejects with the abort as soon as the run is aborted; `onLate` receives a value that arrives after. */
  #raceAbort<T>(ctx: RunCtx, p: Promise<T>, onLate?: (value: T) => void): Promise<T> {
    const signal = ctx.abort.signal;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        reject(new BatonError('INTERRUPTED', 'aborted'));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          if (settled) onLate?.(v);
          else {
            settled = true;
            resolve(v);
          }
        },
        (e) => {
          signal.removeEventListener('abort', onAbort);
          if (!settled) {
            settled = true;
            reject(e);
          }
        },
      );
    });
  }

  /** The ladder after an abort: protocol cancel and a grace period (unless forced), then stop the process. */
  async #stopAfterAbort(ctx: RunCtx, session: AgentSession, turn: Promise<unknown>): Promise<void> {
    const reason = ctx.abortReason as AbortReason;
    if (!reason.force) {
      await settlesWithin(session.cancel(), 1000);
      await settlesWithin(
        turn.catch(() => undefined),
        CANCEL_GRACE_MS,
      );
    }
    this.#parts.pool.forget(ctx.row.session_id);
    await this.#parts.pool.close(session, reason.force ? 500 : KILL_GRACE_MS);
  }

  /**
   * Stops a run and resolves once it is final: a queued one at once, a started one through the
   * ladder (see {@link execute}). A forced stop overtakes a gentle one still waiting on the agent.
   */
  async abort(ctx: RunCtx, reason: AbortReason): Promise<void> {
    if (isFinalStatus(ctx.row.status)) return ctx.done;
    if (ctx.abortReason) {
      // A forced stop (force cancel, shutdown) overtakes a gentle one still waiting on the agent.
      if (reason.force && !ctx.abortReason.force) {
        ctx.abortReason = { ...(reason.status === 'interrupted' ? reason : ctx.abortReason), force: true };
        if (ctx.session) void this.#parts.pool.close(ctx.session, 0);
      }
      return ctx.done;
    }
    ctx.abortReason = reason;
    this.#parts.permissions.cancelAll(ctx, reason.status);
    if (ctx.row.status === 'waiting') {
      this.#ctx.runs.setStatus(ctx, 'running', { waiting_for: null }, { stopping: reason.status });
    }
    if (!ctx.started) {
      this.#parts.scheduler.remove(ctx);
      // A worktree run that never started leaves no setup behind.
      this.#parts.workspace.forget(ctx.id);
      this.#ctx.runs.finish(ctx, reason.status, { error: reason.error });
    } else {
      ctx.abort.abort();
    }
    return ctx.done;
  }
}
