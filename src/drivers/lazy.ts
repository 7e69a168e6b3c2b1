import type { AgentSession, Driver, OpenOptions } from './driver.js';

/**
 * A driver whose module is loaded on first use, so `baton mcp` answers `initialize` without
 * paying for protocol SDKs it may not need yet.
 */
export class LazyDriver implements Driver {
  readonly name: string;
  readonly #load: () => Promise<Driver>;
  #driver: Promise<Driver> | undefined;

  constructor(name: string, load: () => Promise<Driver>) {
    this.name = name;
    this.#load = load;
  }

  async open(options: OpenOptions): Promise<AgentSession> {
    this.#driver ??= this.#load();
    return (await this.#driver).open(options);
  }
}
