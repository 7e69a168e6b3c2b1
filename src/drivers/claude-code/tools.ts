import { isAbsolute, resolve as resolvePath } from 'node:path';
import type { PermissionAnswer, PermissionAsk } from '../driver.js';
import type { PermissionOption, ToolCallInfo } from '../../engine/types.js';
import type { ControlRequestLine } from './wire.js';

/** Longest text kept in a tool title. */
const TITLE_MAX = 200;

/** A `can_use_tool` control request as the permission request baton asks for. */
export type ToolPermission = {
  ask: PermissionAsk;
  /** The tool's input, sent back unchanged when it is allowed. */
  input: Record<string, unknown>;
  /** claude's suggested permission updates, applied by "Always allow". */
  suggestions: unknown[];
};

/**
 * The permission request for claude's `can_use_tool` request `req`: baton's title for known tools
 * (the file or command), claude's own wording for others; "Always allow" only when claude
 * suggested permission updates.
 */
export function toolPermission(req: NonNullable<ControlRequestLine['request']>, cwd: string): ToolPermission {
  const input = req.input && typeof req.input === 'object' ? req.input : {};
  const name = typeof req.tool_name === 'string' ? req.tool_name : 'tool';
  const info = describeTool(name, input, cwd);
  const toolCall: ToolCallInfo = { kind: info.kind, title: info.title, raw_input: input };
  if (req.tool_use_id) toolCall.tool_call_id = req.tool_use_id;
  if (info.locations.length) toolCall.locations = info.locations;
  const suggestions = Array.isArray(req.permission_suggestions) ? req.permission_suggestions : [];
  const options: PermissionOption[] = [
    { option_id: 'allow', name: 'Allow', kind: 'allow_once' },
    ...(suggestions.length > 0
      ? [{ option_id: 'allow_always', name: 'Always allow', kind: 'allow_always' as const }]
      : []),
    { option_id: 'deny', name: 'Deny', kind: 'reject_once' },
  ];
  const title =
    info.kind !== 'other'
      ? info.title
      : (req.title ?? (req.description ? `${name}: ${req.description}` : name));
  return {
    ask: { title: clip(title), tool_call: toolCall, options, full_title: info.full },
    input,
    suggestions,
  };
}

/** claude's `can_use_tool` response for the answer baton got to {@link toolPermission}'s request. */
export function toolPermissionResponse(
  picked: PermissionAnswer,
  { input, suggestions }: ToolPermission,
): Record<string, unknown> {
  if (picked.outcome === 'selected' && picked.option_id === 'allow') {
    return { behavior: 'allow', updatedInput: input };
  }
  if (picked.outcome === 'selected' && picked.option_id === 'allow_always') {
    return { behavior: 'allow', updatedInput: input, updatedPermissions: suggestions };
  }
  return {
    behavior: 'deny',
    message:
      picked.outcome === 'selected'
        ? 'The user denied permission for this tool use.'
        : 'The permission request was cancelled (the run is stopping or its policy forbids it); the tool was not run.',
  };
}

/** How a claude tool shows in baton: kind (ACP's tool kinds), title and the files it touches. */
export function describeTool(
  name: string,
  input: unknown,
  cwd: string,
): { kind: string; title: string; full: string; locations: string[] } {
  const i = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof i[k] === 'string' ? (i[k] as string) : undefined);
  const abs = (p: string) => (isAbsolute(p) ? p : resolvePath(cwd, p));
  const file = str('file_path') ?? str('notebook_path');
  const locations = file ? [abs(file)] : [];
  // The title is clipped for display; the full text goes to the profile's tool rules.
  const tool = (kind: string, full: string, where = locations) => ({
    kind,
    title: clip(full),
    full,
    locations: where,
  });
  switch (name) {
    case 'Write':
    case 'Edit':
    case 'MultiEdit':
    case 'NotebookEdit':
      return tool('edit', `${name} ${file ?? ''}`.trim());
    case 'Read':
      return tool('read', `Read ${file ?? ''}`.trim());
    case 'Bash':
      return tool('execute', `Bash: ${str('command') ?? ''}`);
    case 'Grep':
    case 'Glob': {
      const path = str('path');
      return tool('search', `${name} ${str('pattern') ?? ''}`.trim(), path ? [abs(path)] : []);
    }
    case 'WebFetch':
      return tool('fetch', `WebFetch ${str('url') ?? ''}`.trim());
    case 'WebSearch':
      return tool('fetch', `WebSearch ${str('query') ?? ''}`.trim());
    default:
      return { kind: 'other', title: name, full: name, locations };
  }
}

/** A Write/Edit tool result (`tool_use_result`) as a diff entry, when it carries one. */
export function diffOf(result: unknown, cwd: string): Record<string, unknown> | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const r = result as Record<string, unknown>;
  if ((r.type !== 'create' && r.type !== 'update') || typeof r.filePath !== 'string') return undefined;
  if (typeof r.content !== 'string') return undefined;
  return {
    type: 'diff',
    path: isAbsolute(r.filePath) ? r.filePath : resolvePath(cwd, r.filePath),
    old_text: typeof r.originalFile === 'string' ? r.originalFile : null,
    new_text: r.content,
  };
}

/** The text of a tool result (non-text blocks as `[type]`). */
export function resultText(content: string | { type: string; text?: string }[] | undefined): string {
  if (typeof content === 'string') return content;
  return (content ?? []).map((b) => (typeof b.text === 'string' ? b.text : `[${b.type}]`)).join('\n');
}

/** One line of at most {@link TITLE_MAX} characters. */
export function clip(text: unknown): string {
  const one = String(text).replace(/\s+/g, ' ').trim();
  return one.length > TITLE_MAX ? `${one.slice(0, TITLE_MAX - 1)}…` : one;
}

/** The last line of `text` (at most 500 characters). */
export function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}
