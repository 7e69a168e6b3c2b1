import type { AgentSession, Driver, OpenOptions } from '../driver.js';
import { ClaudeCodeSession } from './session.js';

/**
 * Drives Claude Code natively: `claude -p --input-format stream-json --output-format stream-json
 * --verbose --permission-prompt-tool stdio`, one long-lived process per session (each turn is one
 * user line on stdin), permission prompts answered over stdio (`control_request` `can_use_tool`),
 * cancel by the `interrupt` control request, structured output through claude's own JSON-schema
 * mechanism (`initialize.jsonSchema`, the `StructuredOutput` tool). New sessions get their id from
 * us (`--session-id`), so it is known at open; reopened sessions use `--resume <id>`.
 *
 * Policy: `auto_edit` starts claude in `--permission-mode acceptEdits`; every other policy uses the
 * default mode, so each tool permission reaches baton's engine, which answers by policy.
 * `bypassPermissions` is never used (claude refuses it as root, and baton's policies decide).
 */
export class ClaudeCodeDriver implements Driver {
  readonly name = 'claude-code';
  readonly nativeStructuredOutput = true;
  readonly resumesForeign = true;
  readonly policyInProcess = true;

  /** Starts claude in `options.cwd`. Throws AGENT_NOT_INSTALLED / CWD_NOT_FOUND from the spawn. */
  async open(options: OpenOptions): Promise<AgentSession> {
    const session = new ClaudeCodeSession(options);
    await session.spawn();
    return session;
  }
}
