import { startAgentProcess } from '../agent-process.js';
import type { AgentSession, Driver, OpenOptions } from '../driver.js';
import { CodexSession } from './session.js';

/**
 * Drives the OpenAI Codex CLI natively through `codex app-server` (JSON-RPC over stdio JSONL,
 * protocol v2 of codex 0.169): `initialize` → `thread/start` (or `thread/resume` with the saved
 * thread id) → one `turn/start` per prompt, with `outputSchema` when the caller gave a JSON Schema.
 * One process keeps the thread across turns; `agentSessionId` is codex's thread id.
 *
 * Arguments: the agent's configured `args` are passed first; `app-server` is appended unless they
 * already contain it (so the catalog entry is just `command: codex`). The environment is
 * `{...process.env, ...agent.env}`: codex reads `CODEX_HOME` (default `~/.codex`) for its config,
 * auth and sessions; this driver never writes there itself.
 *
 * Policy mapping (codex `approvalPolicy` / `sandbox` at thread start):
 * - `ask`       → `untrusted` + `workspace-write`: codex asks before every command that is not on
 *                 its own read-only allow list (verified: even `echo` asks) and before every
 *                 `apply_patch`, so each write and command reaches baton as a permission request.
 * - `auto_edit` → the same; the engine then allows edits inside the cwd and asks for the rest.
 * - `allow_all` → `on-request` + `workspace-write`: codex acts inside the workspace sandbox
 *                 without asking; escalations beyond it still come to baton (which allows them).
 * - `deny_all`  → `untrusted` + `read-only`: nothing can be written even if a request were allowed,
 *                 and every attempt is still reported (and denied by the engine).
 *
 * Approval requests (`item/commandExecution/requestApproval`, `item/fileChange/requestApproval`,
 * `item/permissions/requestApproval`, `mcpServer/elicitation/request`) become permission requests
 * with the options `accept` (allow_once, "Allow"), `acceptForSession` (allow_always, "Allow for
 * this session") and `decline` (reject_once, "Deny"); a cancelled request answers `cancel`.
 */
export class CodexDriver implements Driver {
  readonly name = 'codex';
  readonly nativeStructuredOutput = true;
  readonly resumesForeign = true;
  readonly policyInProcess = true;

  async open(options: OpenOptions): Promise<AgentSession> {
    const args = options.agent.args.includes('app-server')
      ? options.agent.args
      : [...options.agent.args, 'app-server'];
    return startAgentProcess(options, args, (child) => new CodexSession(child, options));
  }
}
