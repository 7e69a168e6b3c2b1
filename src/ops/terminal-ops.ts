import { z } from 'zod';
import { APPROVERS, TERMINAL_KEYS } from '../engine/types.js';
import { operation, runRef, type Operation } from './define.js';

/** The tools of terminal runs (interactive programs in tmux) and of the user's own tmux sessions. */
export const TERMINAL_OPERATIONS: readonly Operation[] = [
  operation({
    name: 'read_terminal',
    title: 'Read a terminal run',
    description:
      'The screen of a terminal run (an interactive program in tmux): its last `lines` lines, plain text unless raw=true (ANSI kept). Works after the run ended too (the last recorded screen).',
    input: z.strictObject({
      run: runRef,
      lines: z.number().int().min(1).max(2000).optional().describe('how many lines, default 50'),
      raw: z.boolean().optional().describe('keep ANSI escape sequences'),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.readTerminal(args.run, args.lines ?? 50, args.raw ?? false),
  }),
  operation({
    name: 'send_keys',
    title: 'Type into a terminal run',
    description:
      'Types into the program of a terminal run: `text` (pasted whole, multi-line kept), then named `keys` (Enter, Escape, Tab, Up, Down, C-c, C-d...), then Enter when enter=true. Every key sent is recorded as an event.',
    input: z.strictObject({
      run: runRef,
      text: z.string().max(1_000_000).optional(),
      keys: z.array(z.enum(TERMINAL_KEYS)).max(100).optional(),
      enter: z.boolean().optional(),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args, ctx) =>
      engine.sendKeys(args.run, { text: args.text, keys: args.keys, enter: args.enter }, ctx.by ?? 'caller'),
  }),
  operation({
    name: 'wake',
    title: 'Wake idle sessions',
    description:
      'Nudges idle sessions with `text` (default: config wake.text, "continue"): a terminal run waiting at its prompt gets it typed (then Enter), a finished run (completed or interrupted) gets a follow-up on its session. `all: true`: every such run. Returns {results: [{run_id, ok, how: "typed"|"follow_up", new_run_id?, error?}]}, one per target.',
    input: z.strictObject({
      runs: z.array(runRef).min(1).max(200).optional(),
      all: z.literal(true).optional().describe('every idle run instead of `runs`'),
      text: z.string().min(1).max(10_000).optional(),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args, ctx) => engine.wake(args, ctx.by ?? 'caller'),
  }),
  operation({
    name: 'list_terminals',
    title: 'List your tmux sessions',
    description:
      "The live sessions on the user's own (default) tmux server: name, attached, windows. Needs config terminal.external (off by default).",
    input: z.strictObject({}),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
    run: (engine) => engine.listTerminals(),
  }),
  operation({
    name: 'adopt_terminal',
    title: 'Adopt one of your tmux sessions',
    description:
      "Makes the user's tmux session `target` (exact name, from list_terminals) a terminal run: read_terminal, send_keys, wait_run and wake work on it (every input recorded as events). cancel_run only detaches, force or not: baton never kills a session it did not start. Needs config terminal.external.",
    input: z.strictObject({
      target: z.string().min(1).max(200).describe('the tmux session name'),
      label: z.string().optional(),
      approver: z
        .enum(APPROVERS)
        .optional()
        .describe('who may answer prompts seen on its screen, as in spawn_run'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args) => engine.adoptTerminal(args),
  }),
];
