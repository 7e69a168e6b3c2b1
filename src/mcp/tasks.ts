import {
  inputResponse,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type ElicitRequestFormParams,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Confirmation, ConfirmationResult } from '../engine/engine.js';
import type { RunSummary, WaitingFor } from '../engine/types.js';
import { toBatonError } from '../errors.js';
import type { Baton } from '../ops/baton.js';
import { confirmationForm } from './confirm-elicit.js';
import { permissionForm, pickOption } from './elicit.js';

/** The MCP Tasks extension (2026-07-28): `tools/call` may answer with a task handle. */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
/** How often a client should poll `tasks/get`. */
const POLL_INTERVAL_MS = 1000;
/** Longest task id looked up (run and confirmation ids are far shorter). */
const MAX_TASK_ID = 200;
/** How long `tasks/cancel` waits for the run to stop before it acknowledges anyway. */
const CANCEL_ACK_MS = 5000;

type ToolResult = {
  content: { type: 'text'; text: string }[];
  structuredContent: Record<string, unknown>;
  isError?: boolean;
};
type TaskStatus = 'working' | 'input_required' | 'completed' | 'cancelled' | 'failed';
type InputRequest = { method: 'elicitation/create'; params: ElicitRequestFormParams & { mode: 'form' } };
/** A task as `tasks/get` returns it (the extension's DetailedTask), before `resultType`. */
export type TaskView = {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttlMs: number | null;
  pollIntervalMs: number;
  inputRequests?: Record<string, InputRequest>;
  result?: ToolResult;
};
/** Who may answer through this front (owner_info). */
type Channels = { elicitation_is_human: boolean; front_is_agent?: boolean };

function toolResult(value: object, isError = false): ToolResult {
  const structured = value as Record<string, unknown>;
  return {
    content: [{ type: 'text', text: JSON.stringify(structured) }],
    structuredContent: structured,
    ...(isError ? { isError: true } : {}),
  };
}

/** True when the client declared the tasks extension on this request (2026-07-28 envelope). */
export function declaresTasks(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const caps = envelope?.[CLIENT_CAPABILITIES] as { extensions?: Record<string, unknown> } | undefined;
  const ext = caps?.extensions?.[TASKS_EXTENSION];
  return typeof ext === 'object' && ext !== null;
}

/** The input request key of a run's permission request (unique over the task's life). */
const permissionKey = (w: WaitingFor) => `permission_${w.request_id}`;
const confirmationKey = (c: Confirmation) => `confirm_${c.confirmation_id}`;

/**
 * Whether an elicitation answer from this front may settle the run's permission request: the
 * channel is `elicitation`, a person's when the config says so, a program's otherwise; a
 * sub-agent's front has no person's channel.
 */
function elicitationMayAnswer(run: RunSummary, ch: Channels): boolean {
  const human = ch.elicitation_is_human && !ch.front_is_agent;
  if (ch.elicitation_is_human && ch.front_is_agent) return false;
  if (run.approver === 'human') return human;
  if (run.approver === 'caller') return !ch.elicitation_is_human;
  return true;
}

/** Where the answer to a permission request comes from when this client cannot give it. */
function whoAnswers(run: RunSummary): string {
  const id = run.label ?? run.run_id;
  if (run.approver !== 'human') return `answer it with answer_permission {run: "${id}", option_id}`;
  return `a person answers it (the dashboard, or baton approve/deny ${id} typed on a terminal)`;
}

/** A run as a task: queued/running → working, a permission prompt → input_required, final → completed/cancelled. */
export function runTask(run: RunSummary, ch: Channels): TaskView {
  const base = {
    taskId: run.run_id,
    createdAt: run.created_at,
    lastUpdatedAt: run.ended_at ?? run.started_at ?? run.created_at,
    ttlMs: null,
    pollIntervalMs: POLL_INTERVAL_MS,
  };
  const w = run.waiting_for;
  switch (run.status) {
    case 'completed':
      return { ...base, status: 'completed', result: toolResult(run) };
    case 'cancelled':
      return { ...base, status: 'cancelled', statusMessage: `run ${run.run_id} was cancelled` };
    case 'failed':
    case 'timed_out':
    case 'interrupted': {
      const why = run.error ? `${run.error.code}: ${run.error.message}` : run.status;
      const resume = run.status === 'interrupted' ? ' (follow_up resumes it)' : '';
      return {
        ...base,
        status: 'completed',
        statusMessage: `run ${run.status}${resume}: ${why}`,
        result: toolResult(run, true),
      };
    }
    case 'waiting':
      if (w?.kind === 'permission' && w.options.length > 0 && elicitationMayAnswer(run, ch)) {
        return {
          ...base,
          status: 'input_required',
          statusMessage: `waiting for permission: ${w.title}`,
          inputRequests: {
            [permissionKey(w)]: {
              method: 'elicitation/create',
              params: { mode: 'form', ...permissionForm(run, w) },
            },
          },
        };
      }
      return {
        ...base,
        status: 'working',
        statusMessage: w
          ? w.kind === 'permission'
            ? `waiting for permission: ${w.title}; ${whoAnswers(run)}`
            : `waiting at a prompt${w.prompt ? ` (${w.prompt})` : ''}: answer with send_keys or follow_up`
          : 'waiting',
      };
    default:
      return { ...base, status: 'working', statusMessage: run.status };
  }
}

/** A confirmation as a task: pending → input_required (a person at this client) or working; settled → completed. */
export function confirmationTask(c: ConfirmationResult, ch: Channels): TaskView {
  const base = {
    taskId: c.confirmation_id,
    createdAt: c.created_at,
    lastUpdatedAt: c.decided_at ?? c.created_at,
    ttlMs: null,
    pollIntervalMs: POLL_INTERVAL_MS,
  };
  if (c.status !== 'pending') {
    const { timed_out: _t, ...settled } = c;
    return { ...base, status: 'completed', result: toolResult(settled) };
  }
  if (ch.elicitation_is_human && !ch.front_is_agent) {
    return {
      ...base,
      status: 'input_required',
      statusMessage: `waiting for a person: ${c.question}`,
      inputRequests: {
        [confirmationKey(c)]: {
          method: 'elicitation/create',
          params: { mode: 'form', ...confirmationForm(c) },
        },
      },
    };
  }
  return {
    ...base,
    status: 'working',
    statusMessage: `waiting for a person to answer "${c.question}" (the dashboard, or baton confirm ${c.confirmation_id} typed on a terminal)`,
  };
}

/** The `CreateTaskResult` of a task: its Task fields only (no payload), `resultType: "task"`. */
export function createTaskResult(t: TaskView): Record<string, unknown> {
  const { inputRequests: _i, result: _r, ...task } = t;
  return { resultType: 'task', ...task };
}

const taskParams = z.looseObject({ taskId: z.string() });
const notFound = (id: string) =>
  new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    `Failed to retrieve task: no task ${JSON.stringify(id.slice(0, MAX_TASK_ID))} (a task id is a run id or a confirmation id)`,
  );

/**
 * Serves the extension's methods on `server`: `tasks/get`, `tasks/update` and `tasks/cancel`.
 * A task is a run (spawn_run) or a confirmation (request_confirmation), its id the run's or the
 * confirmation's: its state is the owner's (durable, the same from every front), nothing is kept
 * here.
 */
export function registerTaskMethods(server: McpServer, baton: Baton): void {
  let channels: Promise<Channels> | undefined;
  const channelsOf = () => {
    channels ??= baton.call<Channels>('owner_info').catch((err: unknown) => {
      channels = undefined;
      throw err;
    });
    return channels;
  };
  const gate = (ctx: ServerContext) => {
    if (!declaresTasks(ctx)) {
      throw new MissingRequiredClientCapabilityError(
        { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
        `Missing required client capability: the ${TASKS_EXTENSION} extension (declare it in this request's client capabilities)`,
      );
    }
  };
  type Found =
    | { kind: 'run'; run: RunSummary; view: TaskView }
    | { kind: 'confirmation'; confirmation: Confirmation; view: TaskView };
  const find = async (id: string): Promise<Found> => {
    if (id.length === 0 || id.length > MAX_TASK_ID) throw notFound(id);
    const ch = await channelsOf();
    try {
      if (id.startsWith('c_')) {
        const confirmation = await baton.call<Confirmation>('get_confirmation', { confirmation_id: id });
        return { kind: 'confirmation', confirmation, view: confirmationTask(confirmation, ch) };
      }
      const run = await baton.call<RunSummary>('get_run', { run: id });
      // `run` also takes labels: a task id is the run id itself.
      if (run.run_id !== id) throw notFound(id);
      return { kind: 'run', run, view: runTask(run, ch) };
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      const code = toBatonError(err).code;
      if (code === 'RUN_NOT_FOUND' || code === 'NOT_FOUND') throw notFound(id);
      throw err;
    }
  };

  server.server.setRequestHandler('tasks/get', { params: taskParams }, async (params, ctx) => {
    gate(ctx);
    return (await find(params.taskId)).view;
  });

  server.server.setRequestHandler('tasks/update', { params: taskParams }, async (params, ctx) => {
    gate(ctx);
    const found = await find(params.taskId);
    const responses = ctx.mcpReq.inputResponses;
    // Only the keys outstanding now count; others (answered, superseded, unknown) are ignored.
    for (const key of Object.keys(found.view.inputRequests ?? {})) {
      const view = inputResponse(responses, key);
      if (view.kind !== 'elicit') continue;
      try {
        if (found.kind === 'run' && found.run.waiting_for) {
          const w = found.run.waiting_for;
          const optionId = pickOption(w, view.action, view.content);
          if (!optionId) continue;
          await baton.call(
            'answer_permission',
            { run: found.run.run_id, option_id: optionId, request_id: w.request_id },
            { via: 'elicitation' },
          );
        } else if (found.kind === 'confirmation') {
          const c = found.confirmation;
          let decision: string | undefined;
          if (view.action === 'accept' && typeof view.content?.decision === 'string')
            decision = view.content.decision;
          else if (view.action === 'decline' && c.options.includes('deny')) decision = 'deny';
          if (!decision) continue;
          await baton.call(
            'answer_confirmation',
            { confirmation_id: c.confirmation_id, decision },
            { via: 'elicitation' },
          );
        }
      } catch (err) {
        const e = toBatonError(err);
        // Lost a race (answered elsewhere): the answer is dropped, as the spec allows.
        if (e.code === 'ALREADY_ANSWERED' || e.code === 'RUN_NOT_WAITING' || e.code === 'REQUEST_NOT_FOUND')
          continue;
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${e.code}: ${e.message}`);
      }
    }
    return {};
  });

  server.server.setRequestHandler('tasks/cancel', { params: taskParams }, async (params, ctx) => {
    gate(ctx);
    const found = await find(params.taskId);
    // A confirmation cannot be withdrawn: it stays for a person (cancellation is cooperative).
    if (found.kind !== 'run' || found.view.status === 'completed' || found.view.status === 'cancelled')
      return {};
    const cancelling = baton
      .call('cancel_run', { run: found.run.run_id }, { via: 'caller' })
      .catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cancelling, new Promise((r) => (timer = setTimeout(r, CANCEL_ACK_MS)))]);
    clearTimeout(timer);
    return {};
  });
}

/** `spawn_run` as a task: the run is stored (so tasks/get resolves) before the handle is returned. */
export async function spawnRunTask(baton: Baton, args: unknown): Promise<Record<string, unknown>> {
  const run = await baton.call<RunSummary>('spawn_run', args, { via: 'caller' });
  const ch = await baton.call<Channels>('owner_info');
  return createTaskResult(runTask(run, ch));
}

/**
 * `request_confirmation` as a task: asked (or looked up) without blocking; a settled one is the
 * plain result (`settled`), a pending one a task.
 */
export async function confirmationTaskResult(
  baton: Baton,
  args: Record<string, unknown>,
): Promise<{ task: Record<string, unknown> } | { settled: ConfirmationResult }> {
  const first = await baton.call<ConfirmationResult>(
    'request_confirmation',
    { ...args, wait: '1ms' },
    { via: 'caller' },
  );
  if (first.status !== 'pending') return { settled: first };
  const ch = await baton.call<Channels>('owner_info');
  return { task: createTaskResult(confirmationTask(first, ch)) };
}
