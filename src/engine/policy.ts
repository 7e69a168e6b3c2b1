import { isConfined } from '../paths.js';
import type { PermissionAsk } from '../drivers/driver.js';
import { judgeToolRules } from './tool-rules.js';
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
 * What a profile's tool rules answer (see {@link judgeToolRules}): a request denied by
 * `deny_tools` is rejected, one that `allow_tools` allows is allowed once; `'ask'` when a rule
 * applies but the command cannot be judged (a person or the caller must decide, whatever the
 * policy); undefined when no rule applies (the policy and the approver decide). Rules see the
 * full title and command (`ask.full_title`, `tool_call.raw_input.command`), never a clipped one.
 */
export function decideByProfile(
  rules: { allow_tools?: string[]; deny_tools?: string[] } | undefined,
  ask: PermissionAsk,
): PermissionOption | 'ask' | undefined {
  if (!rules) return undefined;
  const tool = ask.tool_call;
  const first = ask.full_title ?? tool.title ?? ask.title;
  const raw = tool.raw_input as { command?: unknown } | null | undefined;
  const command =
    raw && typeof raw === 'object' && typeof raw.command === 'string'
      ? raw.command
      : tool.kind === 'execute' || tool.kind === undefined
        ? // ACP agents often show a command as markdown code: `npm test`.
          (/^`([^`]+)`$/.exec(first)?.[1] ?? first)
        : undefined;
  const titles = [...new Set([first, tool.title, ask.title].filter((t): t is string => Boolean(t)))];
  const verdict = judgeToolRules(rules, {
    ...(tool.kind ? { kind: tool.kind } : {}),
    titles,
    ...(command !== undefined ? { command } : {}),
  });
  if (verdict === 'deny') return rejectOption(ask.options) ?? 'ask';
  if (verdict === 'allow') return pick(ask.options, ['allow_once', 'allow_always']);
  return verdict === 'unsure' ? 'ask' : undefined;
}
