import { z } from 'zod';
import { runnerSchema } from '../../runners/options.js';
import { COMMON_AGENT_OPTIONS, commandOption, durationOption, regexOption } from '../options.js';

/** A configured terminal agent: the program, and how to read its screen (read by terminal.ts). */
export const terminalAgentSchema = z.strictObject({
  driver: z.literal('terminal'),
  command: commandOption('terminal'),
  ...COMMON_AGENT_OPTIONS,
  /** The screen is ready for the first prompt when it matches (regex). */
  ready_pattern: regexOption.optional(),
  /** A stable screen matching this (regex) waits for input. */
  idle_pattern: regexOption.optional(),
  /** What cancel types first (text lines, or key names such as C-d). */
  exit_keys: z.array(z.string()).optional(),
  /** How long the screen must be unchanged to count as stable. */
  idle_time: durationOption.optional(),
  /** How long after pasting a prompt Enter is pressed (default 60ms). */
  enter_delay: durationOption.optional(),
  /**
   * Where the program runs: here (the default), or in a terminal an `ssh`, `container` or
   * `kubernetes` runner gives it there (the tmux pane here runs `ssh -tt`, `podman run -it`, or
   * the kubernetes bridge with a tty).
   */
  runner: runnerSchema.optional(),
});

/** A configured terminal agent, as parsed. */
export type TerminalAgentConfig = z.infer<typeof terminalAgentSchema>;
