import { BatonError } from '../errors.js';
import { ChildHandle, settlesWithin } from '../process/child.js';
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
  const child = await ChildHandle.start({
    command: options.agent.command,
    args,
    cwd: options.cwd,
    env: { ...process.env, ...options.agent.env },
    onStderr: options.onStderr,
  });
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
