import type { PermissionOption, ToolCallInfo } from '../../engine/types.js';
import type { DriverEvent, PermissionAnswer, PermissionAsk } from '../driver.js';
import { commandTitle } from './items.js';
import { RpcError, asJson, type Json, type RpcId } from './peer.js';

/** What answering codex's requests needs from its session. */
export type ApprovalHost = {
  /** Routes one approval to the running turn; without a turn it is cancelled. */
  ask: (id: RpcId, ask: PermissionAsk) => Promise<PermissionAnswer>;
  /** The file changes `item/started` announced for an item (a file-change approval names only the item). */
  changesOf: (itemId: string) => Json[];
  /** Records an event in the running turn. */
  emit: (event: DriverEvent) => void;
};

/**
 * Answers one request codex sends (approvals, elicitations, questions) by asking `host` for a
 * permission and translating the answer into codex's words. Requests baton does not handle fail
 * with JSON-RPC "method not found".
 */
export async function answerServerRequest(
  host: ApprovalHost,
  method: string,
  params: Json,
  id: RpcId,
): Promise<unknown> {
  switch (method) {
    case 'item/commandExecution/requestApproval':
      return { decision: await askDecision(host, id, commandAsk(params)) };
    case 'item/fileChange/requestApproval':
      return {
        decision: await askDecision(host, id, fileChangeAsk(host, params)),
      };
    case 'item/permissions/requestApproval':
      return answerPermissions(host, id, params);
    case 'mcpServer/elicitation/request':
      return answerElicitation(host, id, params);
    case 'item/tool/requestUserInput': {
      // HACK: codex's `request_user_input` tool (experimental) asks the person free-form questions;
      // baton's sink has no input requests yet. We answer with no answers, which codex reports to
      // the model as unanswered, and record the questions. Remove once the engine has input requests.
      host.emit({ type: 'raw', data: { codex: method, questions: params.questions ?? null } });
      return { answers: {} };
    }
    case 'execCommandApproval':
    case 'applyPatchApproval': {
      // Protocol v1 approvals (only sent to v1 clients); answered the same way, in v1 words.
      const ask =
        method === 'execCommandApproval'
          ? commandAsk({
              itemId: params.callId,
              command: Array.isArray(params.command) ? params.command.join(' ') : params.command,
              cwd: params.cwd,
              reason: params.reason,
            })
          : fileAsk(
              String(params.callId ?? id),
              Object.entries(asJson(params.fileChanges)).map(([path, c]) => ({ path, kind: asJson(c) })),
              params,
            );
      const decision = await askDecision(host, id, ask);
      const v1: Record<string, unknown> = {
        accept: 'approved',
        acceptForSession: 'approved_for_session',
        decline: { denied: { rejection: 'denied by the baton caller' } },
        cancel: 'abort',
      };
      return { decision: v1[decision] };
    }
    default:
      // Auth refresh, attestation, dynamic tools: nothing baton offers.
      throw new RpcError(-32601, `baton does not handle ${method}`);
  }
}

function fileChangeAsk(host: ApprovalHost, params: Json): PermissionAsk {
  const itemId = String(params.itemId ?? '');
  return fileAsk(itemId, host.changesOf(itemId), params);
}

/** Asks the engine and returns codex's v2 decision word. */
async function askDecision(
  host: ApprovalHost,
  id: RpcId,
  ask: PermissionAsk,
): Promise<'accept' | 'acceptForSession' | 'decline' | 'cancel'> {
  const answer = await host.ask(id, ask);
  if (answer.outcome !== 'selected') return 'cancel';
  if (answer.option_id === 'accept' || answer.option_id === 'acceptForSession') return answer.option_id;
  return 'decline';
}

async function answerPermissions(host: ApprovalHost, id: RpcId, params: Json): Promise<unknown> {
  const requested = asJson(params.permissions);
  const granted: Json = {};
  for (const [k, v] of Object.entries(requested)) if (v != null) granted[k] = v;
  const toolCall: ToolCallInfo = {
    tool_call_id: String(params.itemId ?? id),
    kind: 'other',
    title:
      typeof params.reason === 'string' && params.reason ? params.reason : 'Grant additional permissions',
    raw_input: { permissions: requested, cwd: params.cwd ?? null },
  };
  const answer = await host.ask(id, {
    title: `codex asks for more permissions: ${toolCall.title}`,
    tool_call: toolCall,
    options: DECISION_OPTIONS,
  });
  if (answer.outcome === 'selected' && answer.option_id === 'accept')
    return { permissions: granted, scope: 'turn' };
  if (answer.outcome === 'selected' && answer.option_id === 'acceptForSession') {
    return { permissions: granted, scope: 'session' };
  }
  return { permissions: {}, scope: 'turn' };
}

async function answerElicitation(host: ApprovalHost, id: RpcId, params: Json): Promise<unknown> {
  const server = String(params.serverName ?? 'mcp');
  const message = String(params.message ?? 'An MCP server asks for confirmation');
  const toolCall: ToolCallInfo = {
    tool_call_id: `elicitation-${String(id)}`,
    kind: 'other',
    title: `${server}: ${message}`,
    raw_input: {
      server,
      mode: params.mode ?? null,
      message,
      ...(params.requestedSchema !== undefined ? { requested_schema: params.requestedSchema } : {}),
      ...(params.url !== undefined ? { url: params.url } : {}),
      ...(params._meta != null ? { meta: params._meta } : {}),
    },
  };
  const answer = await host.ask(id, {
    title: toolCall.title ?? message,
    tool_call: toolCall,
    options: ELICITATION_OPTIONS,
  });
  if (answer.outcome !== 'selected') return { action: 'cancel', content: null, _meta: null };
  // HACK: baton has no form answers yet; an accepted form is sent back with empty content, which
  // is what codex's own MCP tool-call approvals expect (an object schema with no properties).
  if (answer.option_id === 'accept') return { action: 'accept', content: {}, _meta: null };
  return { action: 'decline', content: null, _meta: null };
}

/** The options of every approval codex asks for; the ids are codex's own decision words. */
const DECISION_OPTIONS: PermissionOption[] = [
  { option_id: 'accept', name: 'Allow', kind: 'allow_once' },
  { option_id: 'acceptForSession', name: 'Allow for this session', kind: 'allow_always' },
  { option_id: 'decline', name: 'Deny', kind: 'reject_once' },
];

const ELICITATION_OPTIONS: PermissionOption[] = [
  { option_id: 'accept', name: 'Allow', kind: 'allow_once' },
  { option_id: 'decline', name: 'Deny', kind: 'reject_once' },
];

function commandAsk(params: Json): PermissionAsk {
  const command = String(params.command ?? '');
  const title = commandTitle(command, params.commandActions);
  const raw: Json = { command, cwd: params.cwd ?? null };
  if (typeof params.reason === 'string' && params.reason) raw.reason = params.reason;
  if (typeof params.kind === 'string') raw.approval_kind = params.kind;
  if (params.networkApprovalContext != null) raw.network = params.networkApprovalContext;
  const toolCall: ToolCallInfo = {
    tool_call_id: String(params.itemId ?? params.approvalId ?? ''),
    kind: 'execute',
    title,
    raw_input: raw,
  };
  return {
    title: `Run ${title}${typeof params.reason === 'string' && params.reason ? ` (${params.reason})` : ''}`,
    tool_call: toolCall,
    options: DECISION_OPTIONS,
  };
}

function fileAsk(itemId: string, changes: Json[], params: Json): PermissionAsk {
  const paths = changes.map((c) => String(c.path ?? '')).filter(Boolean);
  const locations = [...paths];
  if (typeof params.grantRoot === 'string' && params.grantRoot) locations.push(params.grantRoot);
  const title = paths.length > 0 ? `Edit ${paths.join(', ')}` : 'Edit files';
  const raw: Json = { changes: changes.map((c) => ({ path: c.path, kind: asJson(c.kind).type ?? c.kind })) };
  if (typeof params.reason === 'string' && params.reason) raw.reason = params.reason;
  if (typeof params.grantRoot === 'string' && params.grantRoot) raw.grant_root = params.grantRoot;
  return {
    title,
    tool_call: { tool_call_id: itemId, kind: 'edit', title, locations, raw_input: raw },
    options: DECISION_OPTIONS,
  };
}
