import type { AdoptOptions, AgentSession, Driver, OpenOptions } from './driver.js';

/**
 * A driver whose module is loaded on first use, so `baton mcp` answers `initialize` without
 * paying for protocol SDKs it may not need yet.
 */
export class LazyDriver implements Driver {
  readonly name: string;
  readonly #load: () => Promise<Driver>;
  #driver: Promise<Driver> | undefined;

  readonly nativeStructuredOutput: boolean;
  readonly policyInProcess: boolean;
  readonly followsRemoteTasks: boolean;
  readonly adoptsSessions: boolean;

  constructor(
    name: string,
    load: () => Promise<Driver>,
    traits: {
      nativeStructuredOutput?: boolean;
      policyInProcess?: boolean;
      followsRemoteTasks?: boolean;
      adoptsSessions?: boolean;
    } = {},
  ) {
    this.name = name;
    this.followsRemoteTasks = traits.followsRemoteTasks ?? false;
    this.adoptsSessions = traits.adoptsSessions ?? false;
    this.nativeStructuredOutput = traits.nativeStructuredOutput ?? false;
    this.policyInProcess = traits.policyInProcess ?? false;
    this.#load = load;
  }

  async open(options: OpenOptions): Promise<AgentSession> {
    this.#driver ??= this.#load();
    return (await this.#driver).open(options);
  }

  async adopt(options: AdoptOptions): Promise<AgentSession | undefined> {
    if (!this.adoptsSessions) return undefined;
    this.#driver ??= this.#load();
    return (await this.#driver).adopt?.(options);
  }
}
