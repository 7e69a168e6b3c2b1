import { parseDuration, waitTimeoutMs } from '../duration.js';
import { BatonError } from '../errors.js';
import type { ConfirmationRow, ConfirmationStatus } from '../store/confirmations.js';

export { CONFIRMATION_STATUSES } from '../store/confirmations.js';
import type { EngineContext } from './context.js';
import { newId } from './ids.js';
import { isHumanChannel } from './permissions.js';

/** The answers a confirmation offers when the caller names none. */
export const DEFAULT_CONFIRMATION_OPTIONS = ['approve', 'deny'];

/** A confirmation as callers see it. */
export type Confirmation = {
  confirmation_id: string;
  question: string;
  details?: string;
  options: string[];
  status: ConfirmationStatus;
  decision?: string;
  decided_by?: string;
  decided_at?: string;
  asked_by: string;
  run_id?: string;
  created_at: string;
  deadline?: string;
};

/** Input of {@link Confirmations.request}. */
export type ConfirmationRequest = {
  /** Wait again for this confirmation instead of asking a new one. */
  confirmation_id?: string;
  question?: string;
  options?: string[];
  details?: string;
  /** How long the person has; past it the confirmation expires (no decision). Default: no limit. */
  timeout?: string | number;
  /** How long this call blocks (default 50 s, at most 55 s). */
  wait?: string | number;
  signal?: AbortSignal;
};

/** What `request_confirmation` returns: the decision, or `pending` with the id to wait again. */
export type ConfirmationResult = Confirmation & { timed_out?: boolean };

/**
 * Questions any caller asks a person (a deploy, a migration): stored before they are announced,
 * answered only through a person's channels (the dashboard, `baton confirm` on a terminal,
 * elicitation where the config counts it as a person), the first answer wins. They outlive the
 * owner: a restart keeps them pending and answerable.
 */
export class Confirmations {
  readonly #ctx: EngineContext;
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
    for (const row of ctx.store.confirmations.list('pending', 10_000)) this.#arm(row);
  }

  /** Asks a new question (or, with `confirmation_id`, waits again) and blocks until decided or `wait` passes. */
  async request(
    input: ConfirmationRequest,
    by: string,
    runId: string | undefined,
  ): Promise<ConfirmationResult> {
    const waitMs = waitTimeoutMs(input.wait);
    let id = input.confirmation_id;
    if (id) {
      this.#row(id);
    } else {
      if (!input.question?.trim()) {
        throw new BatonError(
          'INVALID_PARAMS',
          'question: say what the person should confirm (or pass confirmation_id to wait again)',
        );
      }
      id = this.#ask(input, by, runId);
    }
    return this.#wait(id, waitMs, input.signal);
  }

  /** Confirmations newest first (pending ones, or of one status). */
  list(status?: ConfirmationStatus, limit = 50): { confirmations: Confirmation[] } {
    return { confirmations: this.#ctx.store.confirmations.list(status, limit).map(view) };
  }

  /** One confirmation; throws NOT_FOUND. */
  get(id: string): Confirmation {
    return view(this.#row(id));
  }

  /** The confirmations a run's agent asked. */
  ofRun(runId: string): Confirmation[] {
    return this.#ctx.store.confirmations.ofRun(runId).map(view);
  }

  /**
   * A person's answer: `approve`, `deny` or one of the offered options. Refused (NOT_APPROVER) from
   * a program's channel; ALREADY_ANSWERED when it is settled (the first answer wins).
   */
  answer(id: string, decision: string, by: string): Confirmation {
    const row = this.#row(id);
    if (!isHumanChannel(by, this.#ctx.config)) {
      const elicit = this.#ctx.config.approvals.elicitationIsHuman
        ? ", or the MCP client's elicitation prompt"
        : '';
      throw new BatonError(
        'NOT_APPROVER',
        `confirmation ${id} is answered by a person (the dashboard, baton confirm typed on a terminal${elicit}), not ${by}`,
      );
    }
    if (row.status !== 'pending') {
      throw new BatonError(
        'ALREADY_ANSWERED',
        `confirmation ${id} is already ${row.status}${row.decided_by ? ` by ${row.decided_by}` : ''}${row.decision ? ` (${row.decision})` : ''}; the first answer wins`,
      );
    }
    if (!row.options.includes(decision)) {
      throw new BatonError(
        'OPTION_NOT_FOUND',
        `"${decision}" is not offered by confirmation ${id}; choose one of: ${row.options.join(', ')}`,
      );
    }
    if (!this.#ctx.store.confirmations.resolve(id, 'answered', decision, by)) {
      return this.answer(id, decision, by);
    }
    this.#settled(id);
    return this.get(id);
  }

  /** Stops the deadline timers (the engine is shutting down). */
  stop(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #ask(input: ConfirmationRequest, by: string, runId: string | undefined): string {
    const options = input.options?.length ? [...new Set(input.options)] : DEFAULT_CONFIRMATION_OPTIONS;
    const now = new Date();
    const deadline =
      input.timeout === undefined
        ? null
        : new Date(now.getTime() + parseDuration(input.timeout, 'timeout')).toISOString();
    const id = newId('c');
    const run = runId ? this.#ctx.store.runs.get(runId) : undefined;
    const row = {
      id,
      question: input.question as string,
      details: input.details ?? null,
      options,
      asked_by: by,
      run_id: run ? run.id : null,
      created_at: now.toISOString(),
      deadline,
    };
    this.#ctx.store.confirmations.insert(row);
    if (run) {
      this.#ctx.store.eventWriter.append(run.id, 'confirmation', {
        confirmation_id: id,
        status: 'pending',
        question: row.question,
        options,
      });
      this.#ctx.store.eventWriter.flush();
    }
    this.#arm({ ...row, status: 'pending', decision: null, decided_by: null, decided_at: null });
    this.#ctx.bus.emit('confirmation', id);
    return id;
  }

  /** Expires the confirmation at its deadline (at once when it passed while no owner ran). */
  #arm(row: ConfirmationRow): void {
    if (!row.deadline) return;
    const left = Math.max(0, Date.parse(row.deadline) - Date.now());
    const timer = setTimeout(
      () => {
        if (this.#ctx.store.confirmations.resolve(row.id, 'expired', null, 'deadline')) this.#settled(row.id);
      },
      Math.min(left, 2_147_483_647),
    );
    timer.unref();
    this.#timers.set(row.id, timer);
  }

  /** Stored as settled: tells the asking run and the listeners. */
  #settled(id: string): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    const row = this.#row(id);
    if (row.run_id) {
      this.#ctx.store.eventWriter.append(row.run_id, 'confirmation', {
        confirmation_id: id,
        status: row.status,
        ...(row.decision ? { decision: row.decision } : {}),
        ...(row.decided_by ? { by: row.decided_by } : {}),
      });
      this.#ctx.store.eventWriter.flush();
    }
    this.#ctx.bus.emit('confirmation', id);
  }

  #wait(id: string, waitMs: number, signal?: AbortSignal): Promise<ConfirmationResult> {
    const now = this.#row(id);
    if (now.status !== 'pending') return Promise.resolve(view(now));
    return new Promise((resolve) => {
      const finish = (timedOut: boolean) => {
        this.#ctx.bus.off('confirmation', onChange);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        const row = this.#row(id);
        resolve({ ...view(row), ...(timedOut && row.status === 'pending' ? { timed_out: true } : {}) });
      };
      const onChange = (changed: string) => {
        if (changed === id && this.#row(id).status !== 'pending') finish(false);
      };
      const onAbort = () => finish(true);
      const timer = setTimeout(onAbort, waitMs);
      this.#ctx.bus.on('confirmation', onChange);
      signal?.addEventListener('abort', onAbort);
    });
  }

  #row(id: string): ConfirmationRow {
    const row = this.#ctx.store.confirmations.get(id);
    if (!row) {
      throw new BatonError('NOT_FOUND', `no confirmation ${id}; list_confirmations shows them`);
    }
    return row;
  }
}

function view(r: ConfirmationRow): Confirmation {
  return {
    confirmation_id: r.id,
    question: r.question,
    ...(r.details ? { details: r.details } : {}),
    options: r.options,
    status: r.status,
    ...(r.decision ? { decision: r.decision } : {}),
    ...(r.decided_by ? { decided_by: r.decided_by } : {}),
    ...(r.decided_at ? { decided_at: r.decided_at } : {}),
    asked_by: r.asked_by,
    ...(r.run_id ? { run_id: r.run_id } : {}),
    created_at: r.created_at,
    ...(r.deadline ? { deadline: r.deadline } : {}),
  };
}
