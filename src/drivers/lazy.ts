import type { AgentSession, Driver, OpenOptions } from './driver.js';

/**
 * A driver whose module is loaded on first use, so `baton mcp` answers `initialize` without
 * paying for protocol SDKs it may not need yet.
 */
export class LazyDriver implements Driver {
  readonly name: string;
  readonly #load: () => Promise<Driver>;
  #driver: Promise<Driver> | undefined;

  readonly nativeStructuredOutput: boolean;

  constructor(name: string, load: () => Promise<Driver>, nativeStructuredOutput = false) {
    this.name = name;
    this.nativeStructuredOutput = nativeStructuredOutput;
    this.#load = load;
  }

  async open(options: OpenOptions): Promise<AgentSession> {
    this.#driver ??= this.#load();
    return (await this.#driver).open(options);
  }
}
