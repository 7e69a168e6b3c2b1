import { ChildHandle } from '../process/child.js';
import { ContainerRunner } from './container.js';
import { KubernetesRunner } from './kubernetes.js';
import type { RunnerConfig } from './options.js';
import { SshRunner } from './ssh.js';

/** What a runner starts: the agent's program, where, with which variables. */
export type RunnerSpawn = {
  command: string;
  args: readonly string[];
  /** The run's folder as the agent sees it ({@link Runner.agentCwd}). */
  cwd: string;
  /** The variables the agent's config names (and baton's quirk fixes): the only ones a remote agent gets. */
  env: Record<string, string>;
  onStderr?: (text: string) => void;
};

/** What a terminal here runs for an agent's program elsewhere ({@link Runner.terminal}). */
export type TerminalLaunch = {
  command: string;
  args: string[];
  /** Removes what was prepared for it when the terminal could not be started (best effort). */
  abandon(): Promise<void>;
};

/**
 * Runs a short helper program (git) on the runner's side, in `cwd` there, with bounded output
 * and time; `env` is added to that side's environment. Resolves with stdout; rejects with an
 * `ExecFailure`. (The same shape as git/'s `SideExec`, which this layer may not import.)
 */
export type RunnerExec = (
  command: string,
  args: readonly string[],
  opts: { cwd: string; env?: Record<string, string>; maxBuffer?: number; timeoutMs?: number },
) => Promise<string>;

/**
 * Where agent processes run. It starts the agent's program and hands the driver a
 * {@link ChildHandle} on its stdio; stopping that handle (the kill ladder) reaches the agent
 * wherever it runs.
 */
export interface Runner {
  readonly type: RunnerConfig['type'];
  /** True when the agent runs on this machine, unconfined, and sees its files (ACP fs/* can be served). */
  readonly local: boolean;
  /** True when the agent sees the run's folder at the same path on this machine (git for its changes runs here). */
  readonly sharesFolder: boolean;
  /** The run's folder (a local path) as the agent sees it; throws CWD_NOT_ALLOWED when it has none there. */
  agentCwd(localCwd: string): string;
  start(spawn: RunnerSpawn): Promise<ChildHandle>;
  /** Where it runs, for messages (`user@host`); "here" for local. */
  readonly where: string;
  /**
   * The program a terminal here (a tmux pane) runs to give the agent's program a terminal where it
   * runs (`ssh -tt`, `podman run -it`): started with no variables of the agent's (they go to the
   * other side the runner's own way), it ends when the agent's program does, and when it is killed
   * nothing of the agent's is left on the other side. Undefined: terminal runs only run here.
   */
  terminal?(spawn: Omit<RunnerSpawn, 'onStderr'>): Promise<TerminalLaunch>;
  /** Runs helper programs where the agent's files are (git for changed_files); undefined: here. */
  readonly exec?: RunnerExec;
  /**
   * The same runner bound to one run's local folder and session, when it needs them to start
   * (kubernetes: the base commit; a container: the session's home folder).
   */
  forRun?(localCwd: string, sessionId: string): Runner;
  /**
   * The agent's work tree when it starts, for a runner that makes it from a commit before the
   * agent exists (kubernetes: a clone of the base commit): its folder there and its git tree.
   * Undefined from it: the state is not known here (its changes are not tracked).
   */
  startTree?(localCwd: string): Promise<{ root: string; tree: string } | undefined>;
  /**
   * Removes what an earlier owner of baton's home left on this runner (a container whose reaper
   * died with it); what this process started is kept.
   */
  sweep?(): Promise<void>;
  /** Why it cannot run agents now, with the fix (baton doctor); undefined when it can. */
  check(): Promise<{ problem: string; fix: string } | undefined>;
}

/** Runs agents here, as child processes in their own groups, env = baton's overlaid with the agent's. */
export class LocalRunner implements Runner {
  readonly type = 'local';
  readonly local = true;
  readonly sharesFolder = true;
  readonly where = 'here';

  agentCwd(localCwd: string): string {
    return localCwd;
  }

  async start(spawn: RunnerSpawn): Promise<ChildHandle> {
    return ChildHandle.start({
      command: spawn.command,
      args: spawn.args,
      cwd: spawn.cwd,
      env: { ...process.env, ...spawn.env },
      ...(spawn.onStderr ? { onStderr: spawn.onStderr } : {}),
    });
  }

  async check(): Promise<undefined> {
    return undefined;
  }
}

const LOCAL = new LocalRunner();
const cache = new Map<string, Runner>();

/**
 * The runner of a config entry (`undefined`: local). `stateDir` is baton's private state folder
 * (0700), where an ssh runner keeps its connection sockets. One runner per distinct config, so
 * runs on one host share its connection.
 */
export function runnerFor(config: RunnerConfig | undefined, stateDir: string): Runner {
  if (!config || config.type === 'local') return LOCAL;
  const key = JSON.stringify([config, stateDir]);
  let runner = cache.get(key);
  if (!runner) {
    runner =
      config.type === 'ssh'
        ? new SshRunner(config, stateDir)
        : config.type === 'container'
          ? new ContainerRunner(config, stateDir)
          : new KubernetesRunner(config, stateDir);
    cache.set(key, runner);
  }
  return runner;
}

/**
 * At an owner's start: each distinct runner of `configs` removes what an earlier owner left
 * (best effort: what cannot be listed now is asked again at the next start).
 */
export function sweepRunners(configs: readonly (RunnerConfig | undefined)[], stateDir: string): void {
  const runners = new Set(configs.map((c) => runnerFor(c, stateDir)));
  for (const runner of runners) void runner.sweep?.().catch(() => undefined);
}

/** Closes the shared connections of every runner made so far (baton is stopping). */
export async function closeRunners(): Promise<void> {
  await Promise.all([...cache.values()].map((r) => (r instanceof SshRunner ? r.close() : undefined)));
  cache.clear();
}
