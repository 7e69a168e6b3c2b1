import type { RunEvent } from '../engine/types.js';

/**
 * A change to the runs of a `BATON_HOME`, as the owner announces it (always after it is stored):
 * a run's row changed, new events were stored, a confirmation was asked or settled, or (`reset`) the owner was replaced and a view
 * should read everything again.
 */
export type Change =
  | { type: 'run'; run_id: string }
  | { type: 'events'; run_id: string; events: RunEvent[] }
  | { type: 'confirmation'; confirmation_id: string }
  | { type: 'reset' };

/** The kinds of front that reach the owner; each has its own answer channels (see {@link FRONT_CHANNELS}). */
export const FRONT_KINDS = ['mcp', 'serve', 'cli'] as const;
export type FrontKind = (typeof FRONT_KINDS)[number];

/**
 * The channels (`by`, recorded with every permission answer) each kind of front may act through;
 * the first is its default. The owner derives `by` from the front's kind and this table: a client
 * can pick one of its own kind's channels, never name another (`policy:*`, `profile:*`, another
 * front's), so the audit trail says which surface answered.
 */
export const FRONT_CHANNELS: Record<FrontKind, readonly string[]> = {
  mcp: ['caller', 'elicitation'],
  // serve's /mcp endpoint answers as an MCP caller does.
  serve: ['api', 'dashboard', 'a2a', 'caller', 'elicitation'],
  cli: ['cli', 'script'],
};

/** What a front passes with an operation besides its arguments. */
export type CallCtx = {
  signal?: AbortSignal;
  /** Long operations (wait_run) report progress here. */
  progress?: (elapsedMs: number, message: string) => void;
  /** One of the front's own channels ({@link FRONT_CHANNELS}); default its first. */
  via?: string;
};

/**
 * The one interface every front (MCP, REST and the dashboard, A2A, the CLI) uses to reach runs:
 * the operations of `ops/operations.ts` by name, and the stream of changes. {@link LocalBaton}
 * serves it in the owner's process; `OwnerClient` over `$BATON_HOME/daemon.sock` everywhere else.
 */
export interface Baton {
  /** The `BATON_HOME` whose runs these are. */
  readonly home: string;
  /**
   * Runs one operation (`spawn_run`, `get_run`, ...; arguments validated by its schema). Rejects with
   * a `BatonError` (INVALID_PARAMS naming the field, RUN_NOT_FOUND, ...).
   */
  call<T extends object = Record<string, unknown>>(op: string, args?: unknown, ctx?: CallCtx): Promise<T>;
  /**
   * Calls `listener` for every change from now on. `events: false` leaves out event payloads (a
   * `run` change still arrives). Returns the function that stops it.
   */
  watch(listener: (change: Change) => void, opts?: { events?: boolean }): () => void;
}
