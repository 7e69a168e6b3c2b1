import type { Config } from '../config.js';
import type { AgentLaunch, Driver, DriverTraits, TerminalOptions } from '../drivers/driver.js';
import type { Store } from '../store/store.js';
import type { EngineBus } from './bus.js';
import type { Runs } from './run.js';

/** An agent of the catalog, as the engine's parts see it (the catalog itself stays behind {@link Agents}). */
export type AgentSpec = {
  name: string;
  /** The driver's name: a key of the engine's drivers. */
  driver: string;
  source: 'builtin' | 'config';
  command: string;
  args: string[];
  /** Terminal agents: screen patterns, exit keys, stable-screen time. */
  terminal?: Omit<TerminalOptions, 'width' | 'height'>;
};

/** The agents baton knows and the drivers that talk to them. */
export interface Agents {
  /** Every agent, built-in and configured. */
  all(): AgentSpec[];
  /** One agent, or undefined when the catalog has no agent of that name. */
  find(name: string): AgentSpec | undefined;
  /** One agent; throws AGENT_NOT_FOUND naming the known ones. */
  get(name: string): AgentSpec;
  /** The driver of an agent; throws NOT_SUPPORTED when this build lacks it. */
  driverOf(name: string): Driver;
  /**
   * What the agent's driver declares; all unset when this build lacks the driver, so checking a
   * trait never fails for want of it ({@link driverOf} does, where the driver is needed).
   */
  traitsOf(name: string): Partial<DriverTraits>;
  /** Why the agent cannot start now (not installed, no credentials), with the fix; undefined when it can. */
  readiness(
    name: string,
  ): { code: 'AGENT_NOT_INSTALLED' | 'AGENT_NOT_READY'; problem: string; fix: string } | undefined;
  /** How to start the agent: its command, arguments, environment and (remote agents) URL and headers. */
  launch(name: string): AgentLaunch;
}

/**
 * What the engine's parts share: the config, the store, the bus, the agents, the live runs, and
 * whether the engine is stopping. Each part gets this and the few other parts it calls.
 */
export type EngineContext = {
  readonly config: Config;
  readonly store: Store;
  readonly bus: EngineBus;
  /** The owner process, recorded on the runs it hosts. */
  readonly hostPid: number;
  readonly hostStart: string | null;
  readonly agents: Agents;
  readonly runs: Runs;
  /** True once shutdown began: nothing new starts. */
  stopping: boolean;
  /** Reports a failure no caller is waiting for (a store write failing inside a run's task). */
  readonly reportError: (err: unknown) => void;
};
