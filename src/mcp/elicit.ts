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
import type { Engine, WaitInput, WaitResult } from '../engine/engine.js';
import type { RunSummary, WaitingFor } from '../engine/types.js';
import { toBatonError } from '../errors.js';

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
function permissionForm(run: RunSummary, w: WaitingFor): ElicitRequestFormParams {
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
 * Applies a person's elicitation answer: `accept` picks the chosen option, `decline` the first
 * reject option, `cancel` (dismissed) leaves the request pending for the dashboard or the CLI.
 * An answer that lost the race (the dashboard answered first) is dropped.
 */
async function applyAnswer(
  engine: Engine,
  runId: string,
  w: Pick<WaitingFor, 'request_id' | 'options'>,
  action: string,
  content: Record<string, unknown> | undefined,
): Promise<boolean> {
  let optionId: string | undefined;
  if (action === 'accept' && typeof content?.option_id === 'string') optionId = content.option_id;
  else if (action === 'decline') {
    optionId = (
      w.options.find((o) => o.kind === 'reject_once') ?? w.options.find((o) => o.kind.startsWith('reject'))
    )?.option_id;
  }
  if (!optionId) return false;
  try {
    await engine.answerPermission(runId, optionId, w.request_id, 'elicitation');
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
  engine: Engine,
  server: McpServer,
  ctx: ServerContext,
  run: RunSummary,
  w: WaitingFor,
): Promise<boolean> {
  const abort = new AbortController();
  const onRun = (runId: string) => {
    if (runId !== run.run_id) return;
    if (engine.getRun(runId).waiting_for?.request_id !== w.request_id) abort.abort();
  };
  const onCallerGone = () => abort.abort();
  engine.bus.on('run', onRun);
  ctx.mcpReq.signal.addEventListener('abort', onCallerGone);
  try {
    // A person may take a while: wait as long as the request itself may stay pending.
    const r = await ctx.mcpReq.elicitInput(permissionForm(run, w), {
      signal: abort.signal,
      timeout: 24 * 3600_000,
    });
    return await applyAnswer(engine, run.run_id, w, r.action, r.content);
  } catch {
    // Withdrawn (answered elsewhere, caller gone), or the client failed to ask: the run stays
    // waiting for the dashboard or the CLI, and wait_run reports it.
    return false;
  } finally {
    engine.bus.off('run', onRun);
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
  engine: Engine,
  server: McpServer,
  ctx: ServerContext,
  input: WaitInput & { timeout_ms: number },
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
        const run = engine.getRun(a.run);
        const w = run.waiting_for;
        if (!w || w.request_id !== a.request_id) continue;
        await applyAnswer(engine, a.run, w, view.action, view.content);
      }
    }
  }
  const deadline = Date.now() + input.timeout_ms;
  for (;;) {
    const result = await engine.waitRuns({ ...input, timeout: `${Math.max(1, deadline - Date.now())}ms` });
    if (!canElicit(server)) return result;
    const ask = toAsk(result, asked, engine.config.approvals.elicitationIsHuman);
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
      if (await askByRequest(engine, server, ctx, a.run, a.waiting)) answered = true;
    }
    // Nothing answered (dismissed, or settled elsewhere): report the runs as they are now.
    if (!answered || Date.now() >= deadline) {
      return { ...result, runs: result.runs.map((r) => engine.getRun(r.run_id)) };
    }
  }
}
