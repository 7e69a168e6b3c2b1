import { BatonError } from '../errors.js';
import type { RunRow } from '../store/runs.js';
import type { EngineContext } from './context.js';
import { isFinalStatus, type RunSummary } from './types.js';

/** What `wake` takes: some runs, or every idle one (`all`), and the nudge (default config `wake.text`). */
export type WakeInput = { runs?: string[]; all?: boolean; text?: string };

/** One target of `wake`: typed into its terminal, or sent as a follow-up (`new_run_id`), or why not. */
export type WakeResult = {
  run_id: string;
  ok: boolean;
  how?: 'typed' | 'follow_up';
  new_run_id?: string;
  error?: { code: string; message: string };
};

/** At most this many targets per call (`all` takes the newest idle ones). */
export const WAKE_MAX_TARGETS = 200;

/** Final statuses whose session `all` wakes with a follow-up (not cancelled, failed or timed out ones). */
const IDLE_FINAL = ['completed', 'interrupted'] as const;

/** What {@link wakeRuns} uses of the engine. */
export type WakeDeps = {
  ctx: EngineContext;
  resolve: (ref: string) => RunRow;
  followUp: (ref: string, message: string, by: string) => Promise<RunSummary>;
};

/**
 * Sends a nudge to idle sessions: a live run waiting for input (a terminal program at its prompt,
 * a remote agent's question) gets the text typed in (Enter after it) or as its answer; a finished
 * run whose session can continue gets a follow-up. Every input goes through follow_up, so it is
 * recorded as the run's events and respects its approver. Reports pass/fail per target.
 */
export async function wakeRuns(
  deps: WakeDeps,
  input: WakeInput,
  by: string,
): Promise<{ results: WakeResult[] }> {
  const { ctx } = deps;
  if (input.text !== undefined && !input.text.trim()) {
    throw new BatonError(
      'INVALID_PARAMS',
      'wake: text is empty (leave it out for the default, config wake.text)',
    );
  }
  if (!input.all && !input.runs?.length) {
    throw new BatonError('INVALID_PARAMS', 'wake needs runs (ids or labels) or all: true');
  }
  if (input.all && input.runs?.length) {
    throw new BatonError('INVALID_PARAMS', 'wake takes runs or all: true, not both');
  }
  const text = input.text ?? ctx.config.wake.text;
  const targets: (RunRow | { ref: string; error: BatonError })[] = input.all
    ? idleRuns(ctx)
    : (input.runs ?? []).map((ref) => {
        try {
          return deps.resolve(ref);
        } catch (err) {
          return { ref, error: err instanceof BatonError ? err : new BatonError('INTERNAL', String(err)) };
        }
      });
  const results: WakeResult[] = [];
  for (const t of targets.slice(0, WAKE_MAX_TARGETS)) {
    if ('ref' in t) {
      results.push({ run_id: t.ref, ok: false, error: { code: t.error.code, message: t.error.message } });
      continue;
    }
    results.push(await wakeOne(deps, t, text, by));
  }
  return { results };
}

async function wakeOne(deps: WakeDeps, row: RunRow, text: string, by: string): Promise<WakeResult> {
  const { ctx } = deps;
  try {
    const live = ctx.runs.get(row.id);
    const terminal = Boolean(ctx.agents.traitsOf(row.agent).terminal);
    if (live) {
      const w = live.row.waiting_for;
      if (live.row.status !== 'waiting' || w?.kind !== 'input') {
        throw new BatonError(
          'RUN_NOT_WAITING',
          w?.kind === 'permission'
            ? `run ${row.id} waits for a permission answer (answer_permission), not for input`
            : `run ${row.id} is ${live.row.status}, not idle`,
        );
      }
      await deps.followUp(row.id, text, by);
      return { run_id: row.id, ok: true, how: terminal ? 'typed' : 'follow_up' };
    }
    if (!isFinalStatus(row.status)) {
      throw new BatonError(
        'RUN_NOT_WAITING',
        `run ${row.id} is ${row.status} in another process or not started`,
      );
    }
    if (terminal) {
      throw new BatonError('RUN_FINISHED', `run ${row.id} is ${row.status}: its terminal program is gone`);
    }
    const next = await deps.followUp(row.id, text, by);
    return { run_id: row.id, ok: true, how: 'follow_up', new_run_id: next.run_id };
  } catch (err) {
    const e = err instanceof BatonError ? err : new BatonError('INTERNAL', (err as Error).message);
    return { run_id: row.id, ok: false, error: { code: e.code, message: e.message } };
  }
}

/**
 * Every idle run, oldest first: live runs waiting for input, then the newest run of each session
 * that ended completed or interrupted (of an agent that keeps a session: not a terminal program).
 */
function idleRuns(ctx: EngineContext): RunRow[] {
  const waiting = [...ctx.runs.values()]
    .map((c) => c.row)
    .filter((r) => r.status === 'waiting' && r.waiting_for?.kind === 'input');
  const finished = ctx.store.runs
    .list({ statuses: [...IDLE_FINAL], limit: WAKE_MAX_TARGETS })
    .filter((r) => !ctx.agents.traitsOf(r.agent).terminal)
    .filter((r) => ctx.store.runs.lastOfSession(r.session_id)?.id === r.id)
    .reverse();
  return [...waiting, ...finished];
}
