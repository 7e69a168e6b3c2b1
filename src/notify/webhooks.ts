import type { WebhookConfig } from '../config.js';
import type { Confirmation, Engine } from '../engine/engine.js';
import { isFinalStatus, type RunSummary } from '../engine/types.js';

/** Attempts per delivery, and the wait before each retry. */
const RETRY_DELAYS_MS = [500, 2000];
/** How long one POST may take. */
const TIMEOUT_MS = 5000;
/** Finished runs remembered (so `finished` goes out once); the oldest are forgotten first. */
const MAX_FINISHED = 10_000;
/** Pending confirmations announced again when an owner starts (the newest). */
const RESEND_MAX = 1000;

/**
 * The body POSTed to a webhook: a run that waits or finished, or (`kind: "confirmation"`) a
 * question asked of a person with request_confirmation (with the asking run, when a run's agent asked).
 */
export type WebhookPayload =
  | { event: 'waiting' | 'finished'; run: RunSummary; sent_at: string }
  | {
      event: 'waiting';
      kind: 'confirmation';
      confirmation: Confirmation;
      run?: RunSummary;
      /** Sent again by a new owner: the question was pending when it started (the old may have sent it). */
      resent?: true;
      sent_at: string;
    };

/**
 * POSTs `waiting` (once per permission request and per confirmation asked, and again for each
 * confirmation still pending when this owner starts) and `finished` (once per run) to the configured
 * webhooks, for the runs this process hosts. Each POST has a timeout and is retried on a network
 * error or a 5xx; a failing hook is logged and never affects the run or the other hooks.
 * Redirects are not followed (a 3xx is logged as a refusal): the payload and the hook's headers
 * (its secrets) only ever go to the configured URL's origin.
 * Returns a function that stops listening.
 */
export function startWebhooks(
  engine: Engine,
  hooks: WebhookConfig[],
  log: (line: string) => void,
): () => void {
  if (hooks.length === 0) return () => undefined;
  // Requests announced, per run (dropped when the run finishes), and the runs announced finished.
  const sentWaiting = new Map<string, Set<string>>();
  const sentFinished = new Set<string>();
  const sentConfirmations = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();

  const deliver = (hook: WebhookConfig, payload: WebhookPayload, attempt = 0): void => {
    const about = 'kind' in payload ? payload.confirmation.confirmation_id : payload.run.run_id;
    const body = JSON.stringify(payload);
    fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'baton-webhook', ...hook.headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
      .then(async (res) => {
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 300 && res.status < 400) {
          const to = res.headers.get('location') ?? '(no Location)';
          log(
            `webhook ${hook.url} answered ${payload.event} of ${about} with a redirect (HTTP ${res.status} to ${to}); baton does not follow webhook redirects: configure the final URL`,
          );
          return;
        }
        if (res.status >= 500) throw new Error(`HTTP ${res.status}`);
        if (!res.ok) log(`webhook ${hook.url} refused ${payload.event} of ${about}: HTTP ${res.status}`);
      })
      .catch((err: unknown) => {
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          log(`webhook ${hook.url} failed for ${payload.event} of ${about}: ${String(err)} (gave up)`);
          return;
        }
        const t = setTimeout(() => {
          timers.delete(t);
          deliver(hook, payload, attempt + 1);
        }, delay);
        t.unref();
        timers.add(t);
      });
  };

  const onRun = (runId: string) => {
    let run: RunSummary;
    try {
      run = engine.getRun(runId);
    } catch {
      return;
    }
    let event: WebhookPayload['event'] | undefined;
    const waited = sentWaiting.get(run.run_id) ?? new Set<string>();
    if (run.status === 'waiting' && run.waiting_for && !waited.has(run.waiting_for.request_id)) {
      waited.add(run.waiting_for.request_id);
      sentWaiting.set(run.run_id, waited);
      event = 'waiting';
    } else if (isFinalStatus(run.status) && !sentFinished.has(run.run_id)) {
      sentWaiting.delete(run.run_id);
      sentFinished.add(run.run_id);
      if (sentFinished.size > MAX_FINISHED) sentFinished.delete(sentFinished.values().next().value as string);
      event = 'finished';
    }
    if (!event) return;
    const payload: WebhookPayload = { event, run, sent_at: new Date().toISOString() };
    for (const hook of hooks) if (!hook.events || hook.events.includes(event)) deliver(hook, payload);
  };
  const onConfirmation = (id: string, resent = false) => {
    let confirmation: Confirmation;
    try {
      confirmation = engine.confirmations.get(id);
    } catch {
      return;
    }
    // Announced once, when asked (a settled one is not waiting any more).
    if (confirmation.status !== 'pending' || sentConfirmations.has(id)) return;
    sentConfirmations.add(id);
    if (sentConfirmations.size > MAX_FINISHED)
      sentConfirmations.delete(sentConfirmations.values().next().value as string);
    let run: RunSummary | undefined;
    try {
      run = confirmation.run_id ? engine.getRun(confirmation.run_id) : undefined;
    } catch {
      run = undefined;
    }
    const payload: WebhookPayload = {
      event: 'waiting',
      kind: 'confirmation',
      confirmation,
      ...(run ? { run } : {}),
      ...(resent ? { resent: true as const } : {}),
      sent_at: new Date().toISOString(),
    };
    for (const hook of hooks) if (!hook.events || hook.events.includes('waiting')) deliver(hook, payload);
  };
  const onAsked = (id: string) => onConfirmation(id);
  engine.bus.on('run', onRun);
  engine.bus.on('confirmation', onAsked);
  // Questions still pending from an earlier owner (stopped or killed, perhaps before its POST went
  // out): announced again, marked `resent`, so no person is left unaware of one.
  for (const c of engine.confirmations.list('pending', RESEND_MAX).confirmations)
    onConfirmation(c.confirmation_id, true);
  return () => {
    engine.bus.off('run', onRun);
    engine.bus.off('confirmation', onAsked);
    for (const t of timers) clearTimeout(t);
  };
}
