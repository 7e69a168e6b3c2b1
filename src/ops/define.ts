import { z } from 'zod';
import type { Engine } from '../engine/engine.js';

export const duration = z
  .union([z.string(), z.number()])
  .describe('a duration: "90s", "5m", "1h", or a number of seconds');
export const runRef = z.string().min(1).describe('a run id (r_...) or a unique label');

/** One MCP tool: its input schema (zod, also published as JSON Schema), annotations and handler. */
export type Operation = {
  name: string;
  title: string;
  description: string;
  input: z.ZodObject;
  annotations: {
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
  /** For baton's own fronts (the CLI), not published as an MCP tool or REST route. */
  internal?: boolean;
  /** `ctx` gives wait_run its abort signal and progress callback. */
  run: (
    engine: Engine,
    args: never,
    ctx: OpCtx,
  ) => Promise<Record<string, unknown>> | Record<string, unknown>;
};

/** What a front end passes a tool besides its arguments. */
export type OpCtx = {
  signal?: AbortSignal;
  progress?: (elapsedMs: number, message: string) => void;
  /** Who acts, recorded with permission answers (`caller` for MCP, `api` for REST, `cli`...). */
  by?: string;
  /** Runs this caller starts are children of this run (a sub-agent's baton, through the daemon). */
  parentRun?: string;
  /** The owner process itself (for `shutdown`); absent where no owner serves (tests of the engine alone). */
  owner?: OwnerHooks;
};

/** What operations may ask of the owner process. */
export type OwnerHooks = {
  /**
   * Stops the owner cleanly: refused (INVALID_PARAMS) while runs are active unless `force`, which
   * cancels them with the kill ladder first; removes daemon.sock, daemon.pid and owner.lock; the
   * process exits once the answer is sent. Resolves with what it did.
   */
  shutdown: (force: boolean, asked?: string) => Promise<Record<string, unknown>>;
};

export function operation<S extends z.ZodObject>(def: {
  name: string;
  title: string;
  description: string;
  input: S;
  annotations: Operation['annotations'];
  internal?: boolean;
  run: (
    engine: Engine,
    args: z.infer<S>,
    ctx: OpCtx,
  ) => Promise<Record<string, unknown>> | Record<string, unknown>;
}): Operation {
  return def as unknown as Operation;
}
