import { z } from 'zod';
import { COMMON_AGENT_OPTIONS } from '../options.js';

/** A configured remote agent (driver a2a): where it is and how to authenticate. */
export const a2aAgentSchema = z.strictObject({
  driver: z.literal('a2a'),
  /** The remote agent's base URL (its card is at <url>/.well-known/agent-card.json). */
  url: z.url({
    protocol: /^https?$/,
    error: (issue) =>
      issue.input === undefined
        ? `an a2a agent needs the remote agent's URL (e.g. "http://host:7420/a2a/claude-code/")`
        : undefined,
  }),
  /** The bearer token the remote agent requires. */
  token: z.string().min(1).optional(),
  /** The environment variable that holds the bearer token (keeps it out of the file). */
  token_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .optional(),
  /** Extra HTTP headers sent with every request. */
  headers: z.record(z.string(), z.string()).optional(),
  /** Shown as the agent's command (default: the URL). */
  command: z.string().min(1).optional(),
  ...COMMON_AGENT_OPTIONS,
});

/** A configured a2a agent, as parsed. */
export type A2aAgentConfig = z.infer<typeof a2aAgentSchema>;
