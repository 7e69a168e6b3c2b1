import { z } from 'zod';
import { parseDuration } from '../duration.js';
import { runnerSchema } from '../runners/options.js';

/** Keys every configured agent may have, whatever its driver. */
export const COMMON_AGENT_OPTIONS = {
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  description: z.string().optional(),
  /** false: start the agent even when baton finds no credentials for it (an auth baton cannot see). */
  check_credentials: z.boolean().optional(),
};

/** `command`, the program to start: required (and named so when missing) for `driver`. */
export function commandOption(driver: string) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? `required for driver ${driver} (the program to start)` : undefined,
    })
    .min(1);
}

/**
 * The options of an agent that is a program baton starts over a protocol (acp, claude-code, codex):
 * `driver`, `command` and the common keys; any other key is unknown.
 */
export function programAgentSchema<D extends string>(driver: D) {
  return z.strictObject({
    driver: z.literal(driver),
    command: commandOption(driver),
    ...COMMON_AGENT_OPTIONS,
    /** Where its process runs: `{ "type": "local" }` (default) or `{ "type": "ssh", ... }`. */
    runner: runnerSchema.optional(),
  });
}

/**
 * A duration ("90s", "5m" or seconds), checked as {@link parseDuration} reads it. Its problem is
 * a sentence about the key (`params.sentence`): the config error reads "<key> must be ...".
 */
export const durationOption = z.union([z.string(), z.number()]).superRefine((value, ctx) => {
  try {
    parseDuration(value, '');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.trimStart(), params: { sentence: true } });
  }
});

/** A regular expression, compiled with the `m` flag as the screen matchers use it. */
export const regexOption = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value, 'm');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a regular expression (${(err as Error).message})` });
  }
});
