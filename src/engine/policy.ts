import { isConfined } from '../paths.js';
import type { PermissionAsk } from '../drivers/driver.js';
import type { PermissionOption, PermissionOptionKind, PermissionPolicy } from './types.js';

/** Tool kinds that change files. */
const EDIT_KINDS = new Set(['edit', 'delete', 'move']);

function pick(options: PermissionOption[], kinds: PermissionOptionKind[]): PermissionOption | undefined {
  for (const kind of kinds) {
    const found = options.find((o) => o.kind === kind);
    if (found) return found;
  }
  return undefined;
}

/** The option that rejects this request once (or always), if the agent offered one. */
export function rejectOption(options: PermissionOption[]): PermissionOption | undefined {
  return pick(options, ['reject_once', 'reject_always']);
}

/**
 * What the run's policy answers on its own, or undefined when a person or the caller must decide.
 * `allow_all` allows, `deny_all` rejects, `auto_edit` allows edits whose every location is inside
 * the run's cwd (symlinks resolved) and asks for the rest, `ask` always asks.
 */
export function decideByPolicy(
  policy: PermissionPolicy,
  ask: PermissionAsk,
  cwd: string,
): PermissionOption | undefined {
  switch (policy) {
    case 'ask':
      return undefined;
    case 'allow_all':
      return pick(ask.options, ['allow_once', 'allow_always']);
    case 'deny_all':
      return rejectOption(ask.options);
    case 'auto_edit': {
      const locations = ask.tool_call.locations ?? [];
      const isEdit = EDIT_KINDS.has(ask.tool_call.kind ?? '');
      if (isEdit && locations.length > 0 && locations.every((l) => isConfined(cwd, l))) {
        return pick(ask.options, ['allow_once', 'allow_always']);
      }
      return undefined;
    }
    default: {
      const never: never = policy;
      return never;
    }
  }
}
