import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import type { Operation } from './define.js';

/**
 * `terminal_hook`: what a terminal program's own hook reports (`baton hook <event>`, run by the
 * program: claude-tui's Stop, PermissionRequest, SessionStart...). Internal (baton's CLI only);
 * the owner hands it to the live session whose hook id it names, which takes it only with that
 * session's token: a program can only speak for its own run.
 */
export const HOOK_OPERATION = {
  name: 'terminal_hook',
  title: "A terminal program's hook event",
  description:
    "Delivers a hook event of a terminal program to its run (baton hook, run by the program's hooks).",
  input: z.strictObject({
    id: z.string().regex(/^b_[0-9a-f]{12}$/, 'the hook id of a terminal program (b_ and 12 hex digits)'),
    token: z.string().min(1).max(200),
    event: z.string().regex(/^[A-Za-z]{1,40}$/, 'a hook event name (letters)'),
    payload: z.record(z.string(), z.unknown()).default({}),
  }),
  annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: false },
  internal: true,
  run: (
    engine: Engine,
    args: { id: string; token: string; event: string; payload: Record<string, unknown> },
  ) => engine.terminalHook(args.id, args.token, args.event, args.payload),
} as unknown as Operation;
