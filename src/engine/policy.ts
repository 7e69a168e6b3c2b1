import picomatch from 'picomatch';
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
 * the run's cwd (relative ones mean the cwd's; symlinks resolved; see {@link isConfined}) and not
 * inside an `excluded` folder such as `$BATON_HOME`, and asks for the rest; `ask` always asks.
 */
export function decideByPolicy(
  policy: PermissionPolicy,
  ask: PermissionAsk,
  cwd: string,
  excluded: readonly string[] = [],
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
      if (isEdit && locations.length > 0 && locations.every((l) => isConfined(cwd, l, excluded))) {
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

/**
 * What a profile's tool rules answer: a request whose tool (title or kind, case-insensitive glob)
 * matches `deny_tools` is rejected, else one matching `allow_tools` is allowed once; undefined when
 * neither matches (the policy and the approver decide).
 */
export function decideByProfile(
  rules: { allow_tools?: string[]; deny_tools?: string[] } | undefined,
  ask: PermissionAsk,
): PermissionOption | undefined {
  if (!rules) return undefined;
  const names = [ask.tool_call.title, ask.title, ask.tool_call.kind].filter((n): n is string => Boolean(n));
  const matches = (globs: string[] | undefined) =>
    Boolean(globs?.length) && names.some((n) => picomatch(globs ?? [], { nocase: true, dot: true })(n));
  if (matches(rules.deny_tools)) return rejectOption(ask.options);
  if (matches(rules.allow_tools)) return pick(ask.options, ['allow_once', 'allow_always']);
  return undefined;
}
