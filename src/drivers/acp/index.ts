import { startAgentProcess } from '../agent-process.js';
import type { AgentSession, Driver, OpenOptions } from '../driver.js';
import { AcpSession } from './session.js';

/**
 * Drives any Agent Client Protocol agent over stdio (`@agentclientprotocol/sdk` 2.x app builder).
 * Serves `fs/read_text_file` and `fs/write_text_file` confined to the run's cwd, maps every
 * `session/update` variant to normalized events, and reopens sessions with `session/load` or
 * `session/resume` when the agent advertises them.
 */
export class AcpDriver implements Driver {
  readonly name = 'acp';
  readonly nativeStructuredOutput = false;
  readonly resumesForeign = true;
  readonly policyInProcess = false;

  async open(options: OpenOptions): Promise<AgentSession> {
    return startAgentProcess(options, options.agent.args, (child) => new AcpSession(child, options));
  }
}
