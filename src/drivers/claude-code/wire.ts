import type { Usage } from '../../engine/types.js';

// Wire types: the parts of claude's stream-json protocol this driver reads (claude-code 2.1.330).

export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string }
  | { type: 'redacted_thinking' }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | {
      type: 'tool_result';
      tool_use_id: string;
      content?: string | { type: string; text?: string }[];
      is_error?: boolean;
    };

export type AssistantLine = {
  type: 'assistant';
  message?: { content?: ContentBlock[] };
  parent_tool_use_id?: string | null;
};
export type UserLine = {
  type: 'user';
  message?: { content?: string | ContentBlock[] };
  parent_tool_use_id?: string | null;
  tool_use_result?: unknown;
};
export type SystemLine = {
  type: 'system';
  subtype?: string;
  session_id?: string;
  model?: string;
  permissionMode?: string;
  claude_code_version?: string;
  error_status?: number | null;
  error?: string;
  attempt?: number;
};
export type ResultLine = {
  type: 'result';
  subtype?: string;
  is_error?: boolean;
  result?: string;
  errors?: string[];
  api_error_status?: number | null;
  stop_reason?: string | null;
  terminal_reason?: string;
  structured_output?: unknown;
  total_cost_usd?: number;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cache_read_input_tokens?: number;
    cache_creation_input_tokens?: number;
  };
  model_usage_since_last_result?: Record<string, { costUSD?: number }>;
};
export type ControlRequestLine = {
  type: 'control_request';
  request_id: string;
  request?: {
    subtype?: string;
    tool_name?: string;
    display_name?: string;
    title?: string;
    description?: string;
    input?: Record<string, unknown>;
    permission_suggestions?: unknown[];
    tool_use_id?: string;
  };
};
export type ControlResponseLine = {
  type: 'control_response';
  response?: { subtype?: string; request_id?: string; response?: unknown; error?: string };
};
export type ControlCancelLine = { type: 'control_cancel_request'; request_id: string };
export type StreamEventLine = { type: 'stream_event'; event?: unknown };

/** One stdout line of claude, by `type`. */
export type ClaudeLine =
  | AssistantLine
  | UserLine
  | SystemLine
  | ResultLine
  | ControlRequestLine
  | ControlResponseLine
  | ControlCancelLine
  | StreamEventLine;

/** Every line type this driver knows. */
export const LINE_TYPES: readonly ClaudeLine['type'][] = [
  'assistant',
  'user',
  'system',
  'result',
  'control_request',
  'control_response',
  'control_cancel_request',
  'stream_event',
];

/**
 * A turn's usage from its result line. `total_cost_usd` is cumulative over the whole conversation
 * (it even carries over a --resume) and `model_usage_since_last_result[model].costUSD` is this
 * turn's; without the latter the cost is the total's growth since `lastTotalCost`.
 */
export function turnUsage(msg: ResultLine, lastTotalCost: number | undefined): Usage | undefined {
  const usage: Usage = {};
  const u = msg.usage;
  if (u?.input_tokens != null) usage.input_tokens = u.input_tokens;
  if (u?.output_tokens != null) usage.output_tokens = u.output_tokens;
  if (u?.cache_read_input_tokens != null) usage.cached_read_tokens = u.cache_read_input_tokens;
  const since = msg.model_usage_since_last_result;
  if (since && Object.keys(since).length > 0) {
    usage.cost_usd = Object.values(since).reduce((sum, m) => sum + (m.costUSD ?? 0), 0);
  } else if (msg.total_cost_usd != null) {
    usage.cost_usd = msg.total_cost_usd - (lastTotalCost ?? 0);
  }
  return Object.keys(usage).length > 0 ? usage : undefined;
}
