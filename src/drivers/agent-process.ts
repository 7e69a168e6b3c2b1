import { BatonError } from '../errors.js';
import { ChildHandle, settlesWithin } from '../process/child.js';
import { runnerFor } from '../runners/runner.js';
import type { OpenOptions } from './driver.js';

/** A session object that finishes its protocol handshake in `start()`. */
export interface StartableSession {
  start(): Promise<void>;
  /** Turns a failure into a BatonError (with the agent's stderr tail when it died). */
  explain(err: unknown, when: string): BatonError;
}

/**
 * Starts the agent process of `options` (its own process group, env = baton's overlaid with the
 * agent's) with `args`, builds the session on it and runs its handshake. On failure the process is
 * stopped and the error explained (a crash is given a moment to be seen as one).
 */
export async function startAgentProcess<S extends StartableSession>(
  options: OpenOptions,
  args: readonly string[],
  makeSession: (child: ChildHandle) => S,
): Promise<S> {
  const child = await spawnAgentProcess(options, args);
  const session = makeSession(child);
  try {
    await session.start();
  } catch (err) {
    if (!(err instanceof BatonError)) await settlesWithin(child.exited, 1000);
    await child.stop(500);
    throw session.explain(err, 'while starting');
  }
  return session;
}

/**
 * Starts the agent process of `options` with `args` through its runner (here by default: its own
 * process group in `options.cwd`, env = baton's overlaid with the agent's; over ssh: only the
 * agent's variables), stderr to `options.onStderr`. Throws AGENT_NOT_INSTALLED /
 * CWD_NOT_FOUND from the spawn.
 */
export async function spawnAgentProcess(options: OpenOptions, args: readonly string[]): Promise<ChildHandle> {
  const runner = options.agent.runner ?? runnerFor(undefined, '');
  const child = await runner.start({
    command: options.agent.command,
    args,
    cwd: options.cwd,
    env: options.agent.env,
    ...(options.onStderr ? { onStderr: options.onStderr } : {}),
  });
  // A closed pipe after the child died is expected; the exit is reported through `exited`.
  child.stdin.on('error', () => undefined);
  return child;
}

/** Who a deadline is about, for {@link bounded}. */
export type AgentDeadline = {
  /** What was asked (`initialize`, `turn/start`). */
  what: string;
  ms: number;
  /** The agent as the message names it (`agent gemini`, `claude`). */
  who: string;
  /** The agent's stderr tail when the deadline passes. */
  stderrTail: () => string;
};

/**
 * Settles like `p`, or fails with AGENT_ERROR "<who> did not answer <what> within <s>s" (the stderr
 * tail in the details) when `p` has not settled within `ms`. The one deadline every driver puts on
 * its agent's answers.
 */
export function bounded<T>(p: Promise<T>, { what, ms, who, stderrTail }: AgentDeadline): Promise<T> {
  return withDeadline(
    p,
    ms,
    () =>
      new BatonError('AGENT_ERROR', `${who} did not answer ${what} within ${ms / 1000}s`, {
        details: { stderr_tail: stderrTail() },
      }),
  );
}

/** The message text of anything thrown. */
export function errorText(err: unknown): string {
  return err && typeof err === 'object' && 'message' in err
    ? String((err as { message: unknown }).message)
    : String(err);
}

/**
 * Turns a failure of an agent process into a BatonError: `AGENT_EXITED` (with how it ended) when
 * the process has, else `AGENT_ERROR`; the stderr tail goes into the details, and with
 * `tailInMessage` its last line into the message too. BatonErrors pass through unchanged.
 */
export function agentFailure(
  err: unknown,
  when: string,
  who: string,
  child: ChildHandle | undefined,
  tailInMessage = false,
): BatonError {
  if (err instanceof BatonError) return err;
  const stderrTail = child?.stderrTail() ?? '';
  const end = child?.end;
  if (end) {
    const last = stderrTail.trim().split('\n').pop()?.trim();
    return new BatonError(
      'AGENT_EXITED',
      `${who} exited ${when} (${end.signal ? `signal ${end.signal}` : `code ${end.code}`})${tailInMessage && last ? `: ${last}` : ''}`,
      { cause: err, details: { stderr_tail: stderrTail } },
    );
  }
  return new BatonError('AGENT_ERROR', `${who} failed ${when}: ${errorText(err)}`, {
    cause: err,
    details: { stderr_tail: stderrTail },
  });
}

/** Settles like `p`, or rejects with `onTimeout()` when `p` has not settled within `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => BatonError): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
