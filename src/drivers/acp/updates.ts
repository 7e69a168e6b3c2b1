import type * as acp from '@agentclientprotocol/sdk/unstable';
import type { Usage } from '../../engine/types.js';
import type { DriverEvent } from '../driver.js';

/** The values a select config option offers (groups flattened); empty for other kinds. */
export function optionValues(option: acp.SessionConfigOption): string[] {
  const raw = (option as { options?: unknown }).options;
  if (!Array.isArray(raw)) return [];
  const out: string[] = [];
  for (const o of raw as { value?: unknown; options?: { value?: unknown }[] }[]) {
    if (typeof o.value === 'string') out.push(o.value);
    for (const g of o.options ?? []) if (typeof g.value === 'string') out.push(g.value);
  }
  return out;
}

/** The model ids of the older unstable `models` field of a session response, if present. */
export function modelsOf(res: unknown): string[] | undefined {
  const models = (res as { models?: { availableModels?: { modelId?: unknown }[] } } | null)?.models;
  if (!Array.isArray(models?.availableModels)) return undefined;
  return models.availableModels.map((m) => m.modelId).filter((id): id is string => typeof id === 'string');
}

function textOf(block: acp.ContentBlock): string | undefined {
  return block.type === 'text' ? block.text : undefined;
}

function mapUsage(update: {
  used: number | null;
  size: number | null;
  cost?: { amount: number; currency: string } | null;
}): Usage {
  const usage: Usage = {};
  if (typeof update.used === 'number') usage.context_used = update.used;
  if (typeof update.size === 'number') usage.context_size = update.size;
  if (update.cost && update.cost.currency.toUpperCase() === 'USD') usage.cost_usd = update.cost.amount;
  return usage;
}

function toolCallData(
  tc: Omit<acp.ToolCallUpdate, 'toolCallId'> & { toolCallId: string },
): Record<string, unknown> {
  const data: Record<string, unknown> = { tool_call_id: tc.toolCallId };
  if (tc.title != null) data.title = tc.title;
  if (tc.kind != null) data.kind = tc.kind;
  if (tc.status != null) data.status = tc.status;
  if (tc.locations?.length) data.locations = tc.locations.map((l) => l.path);
  if (tc.rawInput !== undefined) data.raw_input = tc.rawInput;
  if (tc.rawOutput !== undefined) data.raw_output = tc.rawOutput;
  if (tc.content?.length) {
    data.content = tc.content.map((c) => {
      if (c.type === 'diff')
        return { type: 'diff', path: c.path, old_text: c.oldText ?? null, new_text: c.newText };
      if (c.type === 'terminal') return { type: 'terminal', terminal_id: c.terminalId };
      const text = textOf(c.content);
      return text !== undefined ? { type: 'text', text } : { type: 'content', content: c.content };
    });
  }
  return data;
}

/** Maps one `session/update` to a normalized event; unknown variants are kept as `raw`. */
export function mapUpdate(update: acp.SessionUpdate): DriverEvent | undefined {
  switch (update.sessionUpdate) {
    case 'agent_message_chunk': {
      const text = textOf(update.content);
      return text !== undefined
        ? { type: 'message_chunk', text }
        : { type: 'raw', data: { session_update: update.sessionUpdate, content: update.content } };
    }
    case 'agent_thought_chunk': {
      const text = textOf(update.content);
      return text !== undefined
        ? { type: 'thought_chunk', text }
        : { type: 'raw', data: { session_update: update.sessionUpdate, content: update.content } };
    }
    case 'user_message_chunk': {
      const text = textOf(update.content);
      return text !== undefined ? { type: 'user_chunk', text } : undefined;
    }
    case 'tool_call':
      return { type: 'tool_call', data: toolCallData(update) };
    case 'tool_call_update':
      return { type: 'tool_update', data: toolCallData(update) };
    case 'plan':
      return { type: 'plan', data: { entries: update.entries } };
    case 'usage_update':
      return { type: 'usage', usage: mapUsage(update) };
    case 'available_commands_update':
    case 'current_mode_update':
    case 'config_option_update':
    case 'session_info_update': {
      const { sessionUpdate, ...rest } = update as { sessionUpdate: string } & Record<string, unknown>;
      return { type: 'info', data: { session_update: sessionUpdate, ...rest } };
    }
    case 'notice':
    case 'compaction_update':
    case 'compaction_summary_chunk':
    case 'plan_update':
    case 'plan_removed':
    case 'subagent_update':
    case 'session_message':
    case 'session_message_chunk': {
      const { sessionUpdate, ...rest } = update as { sessionUpdate: string } & Record<string, unknown>;
      return { type: 'raw', data: { session_update: sessionUpdate, ...rest } };
    }
    default: {
      const unknownUpdate: never = update;
      return { type: 'raw', data: { session_update: 'unknown', update: unknownUpdate as unknown } };
    }
  }
}
