import type { DriverEvent } from '../driver.js';
import { asJson, type Json } from './peer.js';

/** `cmd1 && cmd2` from codex's parsed actions, else the command line itself. */
export function commandTitle(command: string, actions: unknown): string {
  if (Array.isArray(actions) && actions.length > 0) {
    const parts = actions.map((a) => asJson(a).command).filter((c): c is string => typeof c === 'string');
    if (parts.length === actions.length) return parts.join(' && ');
  }
  return command;
}

const TOOL_STATUS: Record<string, string> = {
  inProgress: 'in_progress',
  completed: 'completed',
  failed: 'failed',
  declined: 'failed',
};

function diffContent(change: Json): Json {
  const kind = asJson(change.kind);
  const diff = String(change.diff ?? '');
  switch (kind.type) {
    case 'add':
      return { type: 'diff', path: change.path, old_text: null, new_text: diff };
    case 'delete':
      return { type: 'diff', path: change.path, old_text: diff, new_text: '' };
    default:
      return {
        type: 'diff',
        path: change.path,
        unified_diff: diff,
        ...(typeof kind.move_path === 'string' ? { move_path: kind.move_path } : {}),
      };
  }
}

/**
 * Maps one codex thread item (v2 `ThreadItem`) at its start or completion to normalized events.
 * Messages and reasoning stream as deltas; their completed text is only emitted when no delta came.
 * Unknown item types are kept as `raw`.
 */
export function mapItem(item: Json, phase: 'started' | 'completed', streamed: Set<string>): DriverEvent[] {
  const id = String(item.id ?? '');
  const type = String(item.type ?? 'unknown');
  const toolEvent = phase === 'started' ? 'tool_call' : 'tool_update';
  const status = TOOL_STATUS[String(item.status)] ?? (phase === 'started' ? 'in_progress' : 'completed');
  switch (type) {
    case 'userMessage':
    case 'hookPrompt':
      return []; // our own prompt, recorded by the engine
    case 'agentMessage':
      if (phase === 'completed' && !streamed.has(id) && typeof item.text === 'string' && item.text) {
        return [{ type: 'message_chunk', text: item.text }];
      }
      return [];
    case 'reasoning': {
      if (phase !== 'completed' || streamed.has(id)) return [];
      const parts = [...asArray(item.summary), ...asArray(item.content)].filter(
        (s): s is string => typeof s === 'string' && s.length > 0,
      );
      return parts.length > 0 ? [{ type: 'thought_chunk', text: parts.join('\n') }] : [];
    }
    case 'commandExecution': {
      const command = String(item.command ?? '');
      const data: Json = { tool_call_id: id, kind: 'execute', status };
      if (phase === 'started') {
        data.title = commandTitle(command, item.commandActions);
        data.raw_input = { command, cwd: item.cwd ?? null };
      } else {
        data.raw_output = {
          exit_code: item.exitCode ?? null,
          duration_ms: item.durationMs ?? null,
          ...(item.status === 'declined' ? { declined: true } : {}),
        };
        if (typeof item.aggregatedOutput === 'string' && item.aggregatedOutput) {
          data.content = [{ type: 'text', text: item.aggregatedOutput }];
        }
      }
      return [{ type: toolEvent, data }];
    }
    case 'fileChange': {
      const changes = asArray(item.changes).map(asJson);
      const paths = changes.map((c) => String(c.path ?? '')).filter(Boolean);
      const data: Json = { tool_call_id: id, kind: 'edit', status, locations: paths };
      if (phase === 'started') data.title = paths.length > 0 ? `Edit ${paths.join(', ')}` : 'Edit files';
      if (changes.length > 0) data.content = changes.map(diffContent);
      if (phase === 'completed' && item.status === 'declined') data.raw_output = { declined: true };
      return [{ type: toolEvent, data }];
    }
    case 'mcpToolCall':
    case 'dynamicToolCall': {
      const data: Json = { tool_call_id: id, kind: 'other', status };
      if (phase === 'started') {
        data.title =
          type === 'mcpToolCall' ? `${String(item.server)}.${String(item.tool)}` : String(item.tool);
        data.raw_input = item.arguments ?? null;
      } else {
        data.raw_output = {
          result: item.result ?? item.contentItems ?? null,
          error: item.error ?? null,
          ...(item.success != null ? { success: item.success } : {}),
        };
      }
      return [{ type: toolEvent, data }];
    }
    case 'webSearch':
    case 'imageView': {
      const data: Json = { tool_call_id: id, kind: type === 'webSearch' ? 'fetch' : 'read', status };
      if (phase === 'started') {
        data.title =
          type === 'webSearch' ? `Search ${String(item.query ?? '')}` : `View ${String(item.path ?? '')}`;
        data.raw_input = item;
      }
      return [{ type: toolEvent, data }];
    }
    default:
      return phase === 'completed' ? [{ type: 'raw', data: { codex: `item/${type}`, item } }] : [];
  }
}

/** The text of a codex turn error, with its additional details. */
export function turnErrorText(error: Json): string {
  const message = typeof error.message === 'string' ? error.message : JSON.stringify(error);
  const more =
    typeof error.additionalDetails === 'string' && error.additionalDetails
      ? ` (${error.additionalDetails})`
      : '';
  return `${message}${more}`;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A finite number, else undefined. */
export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
