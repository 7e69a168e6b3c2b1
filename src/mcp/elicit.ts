import { randomBytes } from 'node:crypto';
import {
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  type ElicitRequestFormParams,
  type InputRequiredResult,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { WaitResult } from '../engine/engine.js';
import type { RunSummary, WaitingFor } from '../engine/types.js';
import { toBatonError } from '../errors.js';
import type { Baton } from '../ops/baton.js';

/**
 * What a 2026-07-28 `wait_run` round asked the client: one entry per input request key. Sealed
 * (HMAC, per-process key, 10 minutes) because it comes back from the client and decides which
 * run's permission request an answer goes to.
 */
type AskedState = { asked: { key: string; run: string; request_id: string }[]; seen: string[] };

/** One codec per process: every round of a flow is served by this process. */
export const askedStateCodec = createRequestStateCodec<AskedState>({
  key: randomBytes(32),
  bind: (ctx) => ctx.mcpReq.method,
});

/** True when the connected client declared form elicitation. */
function canElicit(server: McpServer): boolean {
  return Boolean(server.server.getClientCapabilities()?.elicitation?.form);
}

/** The elicitation form of a permission request: one choice per option. */
export function permissionForm(run: RunSummary, w: WaitingFor): ElicitRequestFormParams {
  const where = w.tool_call?.locations?.length ? ` (${w.tool_call.locations.join(', ')})` : '';
  return {
    message: `${run.agent} run ${run.label ?? run.run_id} in ${run.cwd} asks for permission: ${w.title}${where}`,
    requestedSchema: {
      type: 'object',
      properties: {
        option_id: {
          type: 'string',
          title: 'Answer',
          oneOf: w.options.map((o) => ({ const: o.option_id, title: o.name })),
        },
      },
      required: ['option_id'],
    },
  };
}

/**
 * Runs of `result` waiting for a person that the client has not been asked about in this call;
 * none unless the config counts elicitation as a person (`approvals.elicitation_is_human`): the
 * client's answer would be refused anyway.
 */
function toAsk(
  result: WaitResult,
  asked: Set<string>,
  elicitationIsHuman: boolean,
): { run: RunSummary; waiting: WaitingFor }[] {
  const out: { run: RunSummary; waiting: WaitingFor }[] = [];
  if (!elicitationIsHuman) return out;
  for (const run of result.runs) {
    const w = run.waiting_for;
    if (run.status === 'waiting' && run.approver === 'human' && w && !asked.has(w.request_id)) {
      out.push({ run, waiting: w });
    }
  }
  return out;
}

/**
 * The option an elicitation answer picks: `accept` the chosen one, `decline` the first reject
 * option, `cancel` (dismissed) none.
 */
export function pickOption(
  w: Pick<WaitingFor, 'options'>,
  action: string,
  content: Record<string, unknown> | undefined,
): string | undefined {
  if (action === 'accept' && typeof content?.option_id === 'string') return content.option_id;
  if (action !== 'decline') return undefined;
  return (
    w.options.find((o) => o.kind === 'reject_once') ?? w.options.find((o) => o.kind.startsWith('reject'))
  )?.option_id;
}

/**
 * Applies a person's elicitation answer: `accept` picks the chosen option, `decline` the first
 * reject option, `cancel` (dismissed) leaves the request pending for the dashboard or the CLI.
 * An answer that lost the race (the dashboard answered first) is dropped.
 */
async function applyAnswer(
  baton: Baton,
  runId: string,
  w: Pick<WaitingFor, 'request_id' | 'options'>,
  action: string,
  content: Record<string, unknown> | undefined,
): Promise<boolean> {
  const optionId = pickOption(w, action, content);
  if (!optionId) return false;
  try {
    await baton.call(
      'answer_permission',
      { run: runId, option_id: optionId, request_id: w.request_id },
      { via: 'elicitation' },
    );
    return true;
  } catch (err) {
    const code = toBatonError(err).code;
    if (code === 'ALREADY_ANSWERED' || code === 'RUN_NOT_WAITING' || code === 'REQUEST_NOT_FOUND')
      return false;
    throw err;
  }
}

/**
 * Asks through a 2025-era elicitation request (a request the server sends), abandoned as soon as
 * the permission request is settled elsewhere or the caller gives up on wait_run. True when the
 * person's answer settled the request.
 */
async function askByRequest(
  baton: Baton,
  server: McpServer,
  ctx: ServerContext,
  run: RunSummary,
  w: WaitingFor,
): Promise<boolean> {
  const abort = new AbortController();
  const stopWatching = baton.watch(
    (change) => {
      if (change.type !== 'run' || change.run_id !== run.run_id) return;
      baton.call<RunSummary>('get_run', { run: run.run_id }).then(
        (now) => {
          if (now.waiting_for?.request_id !== w.request_id) abort.abort();
        },
        () => abort.abort(),
      );
    },
    { events: false },
  );
  const onCallerGone = () => abort.abort();
  ctx.mcpReq.signal.addEventListener('abort', onCallerGone);
  try {
    // A person may take a while: wait as long as the request itself may stay pending.
    const r = await ctx.mcpReq.elicitInput(permissionForm(run, w), {
      signal: abort.signal,
      timeout: 24 * 3600_000,
    });
    return await applyAnswer(baton, run.run_id, w, r.action, r.content);
  } catch {
    // Withdrawn (answered elsewhere, caller gone), or the client failed to ask: the run stays
    // waiting for the dashboard or the CLI, and wait_run reports it.
    return false;
  } finally {
    stopWatching();
    ctx.mcpReq.signal.removeEventListener('abort', onCallerGone);
  }
}

/**
 * `wait_run` with people in the loop: when a run started with `approver: "human"` waits for a
 * permission answer and the client declared form elicitation, the client is asked (the person at
 * the MCP host answers), then the wait goes on with the time left. On the 2025 protocol the ask is
 * an `elicitation/create` request; on 2026-07-28 it is an `input_required` result the client
 * fulfils and retries. Clients without elicitation are never asked: they get the waiting run.
 */
export async function waitWithElicitation(
  baton: Baton,
  server: McpServer,
  ctx: ServerContext,
  input: {
    runs?: string[] | undefined;
    until?: 'attention' | 'finished' | undefined;
    timeout_ms: number;
    signal: AbortSignal;
    onProgress?: ((elapsedMs: number, message: string) => void) | undefined;
  },
): Promise<WaitResult | InputRequiredResult> {
  const asked = new Set<string>();
  const modern = ctx.mcpReq.envelope !== undefined;
  if (modern) {
    // A retried round: apply what the person answered (asked ones are not asked again this call).
    const state = ctx.mcpReq.requestState<AskedState>();
    if (state && typeof state === 'object' && Array.isArray(state.asked)) {
      for (const id of state.seen ?? []) asked.add(id);
      for (const a of state.asked) {
        asked.add(a.request_id);
        const view = inputResponse(ctx.mcpReq.inputResponses, a.key);
        if (view.kind !== 'elicit') continue;
        const run = await baton.call<RunSummary>('get_run', { run: a.run });
        const w = run.waiting_for;
        if (!w || w.request_id !== a.request_id) continue;
        await applyAnswer(baton, a.run, w, view.action, view.content);
      }
    }
  }
  const deadline = Date.now() + input.timeout_ms;
  let elicitationIsHuman: boolean | undefined;
  for (;;) {
    const result = await baton.call<WaitResult>(
      'wait_run',
      {
        ...(input.runs ? { runs: input.runs } : {}),
        ...(input.until ? { until: input.until } : {}),
        timeout: `${Math.max(1, deadline - Date.now())}ms`,
      },
      { signal: input.signal, ...(input.onProgress ? { progress: input.onProgress } : {}) },
    );
    if (!canElicit(server)) return result;
    elicitationIsHuman ??= (await baton.call<{ elicitation_is_human: boolean }>('owner_info'))
      .elicitation_is_human;
    const ask = toAsk(result, asked, elicitationIsHuman);
    if (ask.length === 0) return result;
    if (modern) {
      const entries = ask.map((a, i) => ({ key: `permission_${i}`, ...a }));
      return inputRequired({
        inputRequests: Object.fromEntries(
          entries.map((e) => [e.key, inputRequired.elicit(permissionForm(e.run, e.waiting))]),
        ),
        requestState: await askedStateCodec.mint(
          {
            asked: entries.map((e) => ({ key: e.key, run: e.run.run_id, request_id: e.waiting.request_id })),
            seen: [...asked],
          },
          ctx,
        ),
      });
    }
    let answered = false;
    for (const a of ask) {
      asked.add(a.waiting.request_id);
      input.onProgress?.(0, `asking the user about ${a.run.label ?? a.run.run_id}: ${a.waiting.title}`);
      if (await askByRequest(baton, server, ctx, a.run, a.waiting)) answered = true;
    }
    // Nothing answered (dismissed, or settled elsewhere): report the runs as they are now.
    if (!answered || Date.now() >= deadline) {
      const runs = await Promise.all(
        result.runs.map((r) => baton.call<RunSummary>('get_run', { run: r.run_id })),
      );
      return { ...result, runs };
    }
  }
}
