import type { Config } from '../config.js';
import type { PermissionAnswer, PermissionAsk } from '../drivers/driver.js';
import { BatonError } from '../errors.js';
import type { RunRow } from '../store/runs.js';
import type { EngineContext } from './context.js';
import { newId } from './ids.js';
import { decideByPolicy, decideByProfile, rejectOption } from './policy.js';
import type { Pending, RunCtx } from './run.js';
import { isFinalStatus, type RunSummary, type WaitingFor } from './types.js';

/**
 * Channels a program answers through: the MCP caller, REST with the bearer token, `baton
 * approve/deny` from a script (stdin not a terminal, or run by an agent of a baton run).
 */
const PROGRAM_CHANNELS = ['caller', 'api', 'script'];
/**
 * Channels a person answers through: the dashboard, `baton approve/deny` on a terminal, and MCP
 * elicitation when the config's `approvals.elicitation_is_human` says the MCP host shows it to a
 * person (otherwise the MCP client program answers it: a program channel).
 */
export const HUMAN_CHANNELS = ['dashboard', 'cli', 'elicitation'];

/** True when `by` is a person by the config (elicitation only with `approvals.elicitation_is_human`). */
export function isHumanChannel(by: string, config: Pick<Config, 'approvals'>): boolean {
  if (by === 'elicitation') return config.approvals.elicitationIsHuman;
  return HUMAN_CHANNELS.includes(by);
}

/**
 * Refuses an answer from a channel the run's `approver` does not accept: `caller` takes programs
 * only, `human` people only, `any` both. `what` names the answer (a permission answer, typed input).
 */
export function checkApprover(
  row: RunRow,
  by: string,
  config: Pick<Config, 'approvals'>,
  what?: string,
): void {
  const human = isHumanChannel(by, config);
  const known = human || PROGRAM_CHANNELS.includes(by) || by === 'elicitation';
  const subject = what ?? `run ${row.id} was started with approver "${row.approver}"`;
  if (row.approver === 'caller' && (human || !known)) {
    throw new BatonError(
      'NOT_APPROVER',
      `${subject}: only its MCP caller (answer_permission) or the REST API may answer, not ${by}`,
    );
  }
  if (row.approver === 'human' && !human) {
    const elicit = config.approvals.elicitationIsHuman
      ? "or the MCP client's elicitation prompt"
      : "or (with approvals.elicitation_is_human in the config) the MCP client's elicitation prompt";
    throw new BatonError(
      'NOT_APPROVER',
      `${subject}: a person answers it (the dashboard, baton approve/deny typed on a terminal, ${elicit}), not ${by}`,
    );
  }
}

/**
 * A run's permission requests: each is decided by the profile's tool rules, then the policy, and
 * otherwise waits (the run shows `waiting`) for an answer from a channel the run's approver
 * accepts, until the deadline rejects it (fail closed). Typed input at a terminal prompt answers it too.
 */
export class Permissions {
  readonly #ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  /** Answers the pending permission request of a waiting run. */
  answer(row: RunRow, optionId: string, requestId: string | undefined, by: string): RunSummary {
    checkApprover(row, by, this.#ctx.config);
    const ctx = this.#ctx.runs.get(row.id);
    // A request already settled: the first answer won; say who gave it.
    if (requestId && !ctx?.pending.has(requestId)) {
      const settled = this.#ctx.store.permissions.get(requestId);
      if (settled && settled.run_id === row.id && settled.status !== 'pending') {
        throw new BatonError(
          'ALREADY_ANSWERED',
          `request ${requestId} of run ${row.id} is already ${settled.status}${settled.answered_by ? ` by ${settled.answered_by}` : ''}${settled.option_id ? ` (${settled.option_id})` : ''}; the first answer wins`,
        );
      }
    }
    if (!ctx) {
      throw new BatonError(
        'RUN_NOT_WAITING',
        row.status === 'waiting'
          ? `run ${row.id} shows a question this owner has not taken over yet (baton restarted): get_run again in a moment and answer its new request`
          : `run ${row.id} is ${row.status}, not waiting for an answer`,
      );
    }
    const pending = requestId ? ctx.pending.get(requestId) : ctx.pending.values().next().value;
    if (!pending) {
      if (requestId && ctx.pending.size > 0) {
        throw new BatonError(
          'REQUEST_NOT_FOUND',
          `run ${row.id} has no pending request ${requestId}; pending: ${[...ctx.pending.keys()].join(', ')}`,
        );
      }
      if (ctx.row.waiting_for?.kind === 'input') {
        throw new BatonError(
          'RUN_NOT_WAITING',
          `run ${row.id} waits for input at a prompt, not for a permission answer: use follow_up or send_keys`,
        );
      }
      throw new BatonError(
        'RUN_NOT_WAITING',
        `run ${row.id} is ${ctx.row.status}, not waiting for an answer`,
      );
    }
    const option = pending.waiting.options.find((o) => o.option_id === optionId);
    if (!option) {
      throw new BatonError(
        'OPTION_NOT_FOUND',
        `option "${optionId}" is not offered; choose one of: ${pending.waiting.options.map((o) => o.option_id).join(', ')}`,
      );
    }
    this.resolve(ctx, pending.id, { outcome: 'selected', option_id: option.option_id }, by);
    return this.#ctx.runs.summarize(ctx.row);
  }

  /**
   * An agent's permission question: recorded, then decided by the profile's rules or the policy,
   * or left pending (the run waits) until answered, withdrawn by the agent (`signal`), or the
   * deadline rejects it. Never rejects.
   */
  ask(ctx: RunCtx, ask: PermissionAsk, signal: AbortSignal): Promise<PermissionAnswer> {
    const id = newId('p');
    const now = new Date();
    ctx.recorder.record('permission_request', {
      request_id: id,
      title: ask.title,
      tool_call: ask.tool_call,
      options: ask.options,
    });
    const deadline = new Date(now.getTime() + this.#ctx.config.permissionTimeoutMs).toISOString();
    this.#ctx.store.eventWriter.flush();
    this.#ctx.store.permissions.insert({
      id,
      run_id: ctx.id,
      title: ask.title,
      tool_call: ask.tool_call,
      options: ask.options,
      created_at: now.toISOString(),
      deadline,
    });
    if (ctx.abortReason) {
      this.#ctx.store.permissions.resolve(id, 'cancelled', null, ctx.abortReason.status);
      this.#ctx.runs.append(ctx, 'permission_resolved', {
        request_id: id,
        outcome: 'cancelled',
        by: ctx.abortReason.status,
      });
      return Promise.resolve({ outcome: 'cancelled' });
    }
    // The profile's tool rules first (deny wins), then the policy.
    const byProfile = decideByProfile(
      ctx.row.profile?.values as { allow_tools?: string[]; deny_tools?: string[] },
      ask,
    );
    if (byProfile && byProfile !== 'ask') {
      const by = `profile:${ctx.row.profile?.name}`;
      this.#ctx.store.permissions.resolve(id, 'answered', byProfile.option_id, by);
      this.#ctx.runs.append(ctx, 'permission_resolved', {
        request_id: id,
        outcome: 'selected',
        option_id: byProfile.option_id,
        kind: byProfile.kind,
        by,
      });
      return Promise.resolve({ outcome: 'selected', option_id: byProfile.option_id });
    }
    // A command the profile's rules cannot judge goes to a person, whatever the policy allows.
    const decided =
      byProfile === 'ask'
        ? undefined
        : decideByPolicy(ctx.row.policy, ask, ctx.row.cwd, [this.#ctx.config.home]);
    if (decided) {
      this.#ctx.store.permissions.resolve(id, 'answered', decided.option_id, `policy:${ctx.row.policy}`);
      this.#ctx.runs.append(ctx, 'permission_resolved', {
        request_id: id,
        outcome: 'selected',
        option_id: decided.option_id,
        kind: decided.kind,
        by: `policy:${ctx.row.policy}`,
      });
      return Promise.resolve({ outcome: 'selected', option_id: decided.option_id });
    }
    if (ctx.row.policy === 'deny_all') {
      // No reject option offered: cancel the request rather than allow it.
      this.#ctx.store.permissions.resolve(id, 'cancelled', null, 'policy:deny_all');
      this.#ctx.runs.append(ctx, 'permission_resolved', {
        request_id: id,
        outcome: 'cancelled',
        by: 'policy:deny_all',
      });
      return Promise.resolve({ outcome: 'cancelled' });
    }
    return new Promise<PermissionAnswer>((resolve) => {
      const waiting: WaitingFor = {
        kind: 'permission',
        request_id: id,
        title: ask.title,
        tool_call: ask.tool_call,
        options: ask.options,
        deadline,
      };
      const timer = setTimeout(() => {
        const reject = rejectOption(ask.options);
        this.resolve(
          ctx,
          id,
          reject ? { outcome: 'selected', option_id: reject.option_id } : { outcome: 'cancelled' },
          'deadline',
          `no answer within ${Math.round(this.#ctx.config.permissionTimeoutMs / 1000)}s: rejected (fail closed)`,
        );
      }, this.#ctx.config.permissionTimeoutMs);
      ctx.pending.set(id, { id, waiting, resolve, timer });
      if (signal.aborted) {
        this.resolve(ctx, id, { outcome: 'cancelled' }, 'agent', 'the agent withdrew the request');
        return;
      }
      signal.addEventListener(
        'abort',
        () => this.resolve(ctx, id, { outcome: 'cancelled' }, 'agent', 'the agent withdrew the request'),
        { once: true },
      );
      this.#refreshWaiting(ctx);
    });
  }

  /** Settles a pending request with `answer` from `by`: stored, recorded, handed to the agent. */
  resolve(ctx: RunCtx, id: string, answer: PermissionAnswer, by: string, note?: string): void {
    const p = ctx.pending.get(id);
    if (!p) return;
    clearTimeout(p.timer);
    ctx.pending.delete(id);
    const expired = by === 'deadline';
    this.#ctx.store.permissions.resolve(
      id,
      answer.outcome === 'cancelled' ? 'cancelled' : expired ? 'expired' : 'answered',
      answer.outcome === 'selected' ? answer.option_id : null,
      by,
    );
    const option =
      answer.outcome === 'selected'
        ? p.waiting.options.find((o) => o.option_id === answer.option_id)
        : undefined;
    this.#ctx.runs.append(ctx, 'permission_resolved', {
      request_id: id,
      outcome: answer.outcome,
      ...(answer.outcome === 'selected' ? { option_id: answer.option_id, kind: option?.kind } : {}),
      by,
      ...(note ? { note } : {}),
    });
    p.resolve(answer);
    if (!ctx.abortReason && !isFinalStatus(ctx.row.status)) this.#refreshWaiting(ctx);
  }

  /** Settles every pending request of the run as cancelled by `by` (the run is stopping or over). */
  cancelAll(ctx: RunCtx, by: string): void {
    for (const p of [...ctx.pending.values()]) this.resolve(ctx, p.id, { outcome: 'cancelled' }, by);
  }

  /**
   * Input about to be typed into a terminal program that waits on a permission prompt answers
   * that prompt: refused (NOT_APPROVER) unless the run's approver accepts `by`; otherwise each
   * pending request is resolved as answered by `by` (the option whose id is the typed `text`, else
   * outcome "typed"), and the driver is told not to type an answer of its own.
   */
  answerByTyping(ctx: RunCtx, text: string | undefined, by: string): void {
    const first = ctx.pending.values().next().value as Pending | undefined;
    if (!first) return;
    checkApprover(
      ctx.row,
      by,
      this.#ctx.config,
      `run ${ctx.id} waits on the permission prompt "${first.waiting.title}" and was started with approver "${ctx.row.approver}"; typed input would answer it`,
    );
    for (const p of [...ctx.pending.values()]) {
      clearTimeout(p.timer);
      ctx.pending.delete(p.id);
      const typed = text?.trim().toLowerCase();
      const option = typed ? p.waiting.options.find((o) => o.option_id.toLowerCase() === typed) : undefined;
      this.#ctx.store.permissions.resolve(p.id, 'answered', option?.option_id ?? null, by);
      this.#ctx.runs.append(ctx, 'permission_resolved', {
        request_id: p.id,
        outcome: option ? 'selected' : 'typed',
        ...(option ? { option_id: option.option_id, kind: option.kind } : {}),
        by,
        note: 'answered by typing into the terminal',
      });
      // The typed input is the answer: the driver types nothing more.
      p.resolve({ outcome: 'cancelled' });
    }
    this.#refreshWaiting(ctx);
  }

  #refreshWaiting(ctx: RunCtx): void {
    const first = ctx.pending.values().next().value as Pending | undefined;
    if (first) {
      if (ctx.row.status !== 'waiting' || ctx.row.waiting_for?.request_id !== first.id) {
        this.#ctx.runs.setStatus(ctx, 'waiting', { waiting_for: first.waiting }, { request_id: first.id });
      }
    } else if (ctx.row.status === 'waiting') {
      this.#ctx.runs.setStatus(ctx, 'running', { waiting_for: null });
    }
  }
}
