import { BatonError } from '../errors.js';
import type {
  AdoptOptions,
  AgentSession,
  Driver,
  DriverTraits,
  ExternalTerminal,
  OpenOptions,
} from './driver.js';

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
  readonly terminal: boolean;
  readonly takesCommand: boolean;
  readonly takesMaxTurns: boolean;
  readonly promptOptional: boolean;
  readonly resumesForeign: boolean;

  /** `traits` are the loaded driver's (the engine reads them before it is loaded); unset ones are false. */
  constructor(name: string, load: () => Promise<Driver>, traits: Partial<DriverTraits> = {}) {
    this.name = name;
    this.followsRemoteTasks = traits.followsRemoteTasks ?? false;
    this.adoptsSessions = traits.adoptsSessions ?? false;
    this.nativeStructuredOutput = traits.nativeStructuredOutput ?? false;
    this.policyInProcess = traits.policyInProcess ?? false;
    this.terminal = traits.terminal ?? false;
    this.takesCommand = traits.takesCommand ?? false;
    this.takesMaxTurns = traits.takesMaxTurns ?? false;
    this.promptOptional = traits.promptOptional ?? false;
    this.resumesForeign = traits.resumesForeign ?? false;
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

  async listExternal(): Promise<ExternalTerminal[]> {
    const d = await (this.#driver ??= this.#load());
    if (!d.listExternal)
      throw new BatonError('NOT_SUPPORTED', `driver ${this.name} has no external sessions`);
    return d.listExternal();
  }

  async describeExternal(name: string): Promise<{ cwd: string }> {
    const d = await (this.#driver ??= this.#load());
    if (!d.describeExternal)
      throw new BatonError('NOT_SUPPORTED', `driver ${this.name} has no external sessions`);
    return d.describeExternal(name);
  }
}
