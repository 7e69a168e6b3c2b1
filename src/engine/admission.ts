import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { parseDuration } from '../duration.js';
import { BatonError } from '../errors.js';
import { commitExists, repoRootSync } from '../git/git.js';
import { isInside, realpathLoose } from '../paths.js';
import type { RunRow, WorktreeInfo } from '../store/runs.js';
import type { AgentSpec, EngineContext } from './context.js';
import { newId } from './ids.js';
import { compileOutputSchema } from './output.js';
import { FILE_MAX_BYTES, readCallerFile, readInputMessage } from './input.js';
import type { RunPlan } from './run.js';
import {
  APPROVERS,
  PERMISSION_POLICIES,
  flattenParts,
  type Approver,
  type InputPart,
  type PermissionPolicy,
} from './types.js';

/** Longest prompt accepted (characters). */
const PROMPT_MAX_CHARS = 1_000_000;
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/**
 * spawn_run `resume`: what an agent's own session ids look like (claude's UUIDs, codex's thread
 * ids, ACP session ids). It reaches the agent's argv (`claude --resume <id>`), so nothing that could
 * read as an option (a leading "-") or a path ("/") passes.
 */
const RESUME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
/** One part of spawn_run `input_message`, as callers give it. */
export type InputMessagePart =
  | { type: 'text'; text: string }
  | { type: 'file'; path: string; media_type?: string; name?: string }
  | { type: 'file'; data: string; media_type: string; name?: string }
  | { type: 'data'; data: unknown };

/** Input of {@link Admission.plan} (Engine.spawnRun), as front ends pass it (shape already checked). */
export type SpawnInput = {
  /** Required unless the profile names one. */
  agent?: string;
  /** A named preset from the config's `profiles`; explicit parameters override its values. */
  profile?: string;
  cwd: string;
  prompt?: string;
  prompt_file?: string;
  /** Multipart input: text, files (by path inside the roots, or inline base64) and JSON data. */
  input_message?: InputMessagePart[];
  /** Free text (planner, worker, reviewer...): stored, shown, filterable; may pick a profile (config `roles`). */
  role?: string;
  label?: string;
  model?: string;
  timeout?: string | number;
  policy?: PermissionPolicy;
  approver?: Approver;
  /** Terminal runs of agent `terminal`: the program to run (argv); needs `terminal.allow_any_command`. */
  command?: string[];
  output_schema?: Record<string, unknown>;
  session_id?: string;
  /**
   * The agent's own id of a session started outside baton (a person's `claude` or `codex` session,
   * an ACP session the agent can load): the run continues it, in a new baton session.
   */
  resume?: string;
  isolation?: 'none' | 'worktree';
  /** Worktree isolation: the branch point (default HEAD). */
  base_ref?: string;
  /** Worktree isolation: untracked files of the repository to copy in (glob patterns, e.g. ".env"). */
  include?: string[];
  metadata?: Record<string, unknown>;
  parent_run_id?: string;
};

/** How a new run's work tree is made: the branch point and the untracked files to copy in. */
export type WorktreeSetup = { base: string; include: string[] };

/**
 * Admission: a spawn_run or follow_up checked against the config, the catalog and the store, and
 * turned into a {@link RunPlan}; and the cwd checks a run passes again when it starts.
 */
export class Admission {
  readonly #ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  /**
   * Checks a spawn_run and makes the run's plan: prompt or prompt_file, profile, agent (known and
   * ready), policy, approver, timeout, output schema, metadata, label, session, cwd, work tree,
   * depth and command. For isolation "worktree", `setup` is what the tree is made from.
   */
  async plan(request: SpawnInput): Promise<{ plan: RunPlan; setup?: WorktreeSetup }> {
    // prompt_file first, read asynchronously and bounded; everything after it is synchronous, so
    // the checks below and the insert see the same state.
    const fromFile = await this.#readPromptFile(request);
    const parts = await readInputMessage(this.#ctx.config.roots, request.input_message);
    const role = this.#checkRole(request.role);
    if (this.#ctx.stopping)
      throw new BatonError('INTERNAL', 'baton is shutting down; try again once it is back');
    const { input, profile } = this.#applyProfile(
      // A role may pick a profile (config `roles`) when the caller names none.
      role && request.profile === undefined && this.#ctx.config.roles[role]
        ? { ...request, profile: this.#ctx.config.roles[role].profile }
        : request,
    );
    if (!input.agent) {
      throw new BatonError('INVALID_PARAMS', 'agent is required (or a profile that names one)');
    }
    const agent = this.#ctx.agents.get(input.agent);
    // Fail fast, before anything is queued: a run of an agent that cannot start would only hang or fail later.
    const notReady = this.#ctx.agents.readiness(agent.name);
    if (notReady) {
      throw new BatonError(notReady.code, `agent ${agent.name}: ${notReady.problem}. Fix: ${notReady.fix}`);
    }
    const policy = input.policy ?? 'ask';
    if (!(PERMISSION_POLICIES as readonly string[]).includes(policy)) {
      throw new BatonError('INVALID_PARAMS', `policy must be one of ${PERMISSION_POLICIES.join(', ')}`);
    }
    const approver = input.approver ?? 'any';
    if (!(APPROVERS as readonly string[]).includes(approver)) {
      throw new BatonError('INVALID_PARAMS', `approver must be one of ${APPROVERS.join(', ')}`);
    }
    const asked = this.#readPrompt(input, fromFile, parts !== undefined);
    const instructions = profile?.values.instructions;
    let prompt = typeof instructions === 'string' && asked ? `${asked}\n\n${instructions}` : asked;
    let message: InputPart[] | null = null;
    if (parts) {
      // The whole message as parts: the prompt first, the profile's instructions last.
      message = [
        ...(asked ? [{ type: 'text' as const, text: asked }] : []),
        ...parts,
        ...(typeof instructions === 'string' ? [{ type: 'text' as const, text: instructions }] : []),
      ];
      prompt = flattenParts(message);
      if (prompt.length > FILE_MAX_BYTES) {
        throw new BatonError(
          'INVALID_PARAMS',
          `input_message is longer than ${FILE_MAX_BYTES} characters as text; send fewer or smaller parts`,
        );
      }
    }
    const timeoutMs =
      input.timeout === undefined
        ? this.#ctx.config.defaultTimeoutMs
        : parseDuration(input.timeout, 'timeout');
    if (input.output_schema !== undefined) compileOutputSchema(input.output_schema);
    if (input.metadata !== undefined && JSON.stringify(input.metadata).length > 16 * 1024) {
      throw new BatonError('INVALID_PARAMS', 'metadata must be at most 16 KB of JSON');
    }
    this.#checkLabel(input.label);
    const resume = this.#checkResume(agent, input);

    const sessionId = input.session_id;
    let cwd: string;
    if (sessionId) {
      const session = this.#ctx.store.sessions.get(sessionId);
      if (!session)
        throw new BatonError(
          'SESSION_NOT_FOUND',
          `no session "${sessionId}"; get_run shows a run's session_id`,
        );
      if (session.agent !== agent.name) {
        throw new BatonError(
          'INVALID_PARAMS',
          `session ${sessionId} belongs to agent ${session.agent}, not ${agent.name}; pass agent "${session.agent}"`,
        );
      }
      cwd = this.#checkCwd(input.cwd);
      if (cwd !== session.cwd) {
        throw new BatonError('INVALID_PARAMS', `session ${sessionId} works in ${session.cwd}; pass that cwd`);
      }
    } else {
      cwd = this.#checkCwd(input.cwd);
    }
    const runId = newId('r');
    let worktree: WorktreeInfo | null = null;
    let setup: WorktreeSetup | undefined;
    if (input.isolation === 'worktree') {
      if (sessionId) {
        throw new BatonError(
          'INVALID_PARAMS',
          'isolation "worktree" starts a new session; use follow_up to continue one',
        );
      }
      const repo = repoRootSync(cwd);
      if (!repo) {
        throw new BatonError(
          'NOT_A_GIT_REPO',
          `${cwd} is not inside a git repository: isolation "worktree" needs one (git init, or use isolation "none")`,
        );
      }
      const base = input.base_ref ?? 'HEAD';
      if (!commitExists(repo, base)) {
        throw new BatonError('INVALID_PARAMS', `base_ref "${base}" is not a commit of ${repo}`);
      }
      const path = join(this.#ctx.config.home, 'worktrees', runId);
      worktree = { repo, path, branch: `baton/${input.label ?? runId}` };
      // The same folder inside the run's work tree.
      cwd = join(path, relative(realpathLoose(repo), cwd));
      setup = { base, include: input.include ?? [] };
    } else if (input.base_ref !== undefined || input.include !== undefined) {
      throw new BatonError('INVALID_PARAMS', 'base_ref and include go with isolation "worktree"');
    }
    const parentRunId = this.#checkDepth(input.parent_run_id);
    const plan: RunPlan = {
      id: runId,
      isolation: input.isolation ?? 'none',
      worktree,
      profile,
      agent: agent.name,
      cwd,
      prompt,
      label: input.label,
      model: input.model,
      timeoutMs,
      policy,
      approver,
      command: this.#checkCommand(agent, input.command),
      outputSchema: input.output_schema,
      sessionId,
      ...(resume ? { resume } : {}),
      metadata: input.metadata,
      parentRunId,
      role: role ?? null,
      input: message,
    };
    return setup ? { plan, setup } : { plan };
  }

  /** Refuses a follow-up message that cannot continue `row`'s session (empty, too long, tree discarded). */
  checkMessage(row: RunRow, message: string): void {
    if (!message.trim()) throw new BatonError('INVALID_PARAMS', 'message must not be empty');
    if (row.worktree?.discarded) {
      // A new tree from HEAD would not hold the changes the agent's session remembers making.
      throw new BatonError(
        'INVALID_PARAMS',
        `run ${row.id}'s work tree was discarded; start a new run (spawn_run) instead of a follow-up`,
      );
    }
    if (message.length > PROMPT_MAX_CHARS) {
      throw new BatonError('INVALID_PARAMS', `message is longer than ${PROMPT_MAX_CHARS} characters`);
    }
  }

  /**
   * The plan of a follow-up run on `row`'s session: its settings, checked again (the config may
   * have changed since: the command and the cwd must still be allowed).
   */
  followUpPlan(row: RunRow, message: string, label: string | undefined): RunPlan {
    const agent = this.#ctx.agents.get(row.agent);
    this.#checkLabel(label);
    this.#checkCommand(agent, row.command ?? undefined);
    // A work tree that vanished is made again when the run starts, and checked then.
    if (!row.worktree || existsSync(row.worktree.path)) this.checkRunCwd(row.cwd, row.worktree);
    return {
      agent: row.agent,
      cwd: row.cwd,
      prompt: message,
      label,
      model: row.model ?? undefined,
      timeoutMs: row.timeout_ms,
      policy: row.policy,
      approver: row.approver,
      command: row.command,
      isolation: row.isolation,
      worktree: row.worktree,
      profile: row.profile,
      outputSchema: row.output_schema ?? undefined,
      sessionId: row.session_id,
      metadata: undefined,
      parentRunId: row.parent_run_id ?? undefined,
      // A follow-up keeps the role; its message is text.
      role: row.role,
      input: null,
    };
  }
  /**
   * The text of `prompt_file` (see {@link readCallerFile}).
   */
  async #readPromptFile(input: SpawnInput): Promise<string | undefined> {
    const file = input.prompt_file;
    if (file === undefined) return undefined;
    if (input.prompt !== undefined) {
      throw new BatonError('INVALID_PARAMS', 'give either prompt or prompt_file, not both');
    }
    return (await readCallerFile(this.#ctx.config.roots, file, 'prompt_file')).toString('utf8');
  }

  /**
   * spawn_run `resume`: a plausible session id ({@link RESUME_PATTERN}), for an agent whose driver
   * can reopen a session started outside baton, in a new baton session (not beside `session_id`,
   * not in a new work tree), and not one a baton session already continues.
   */
  #checkResume(agent: AgentSpec, input: SpawnInput): string | undefined {
    const id = input.resume;
    if (id === undefined) return undefined;
    if (typeof id !== 'string' || !RESUME_PATTERN.test(id)) {
      throw new BatonError(
        'INVALID_PARAMS',
        'resume must be the agent\'s own session id: 1-200 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (e.g. a claude session UUID or a codex thread id)',
      );
    }
    if (!this.#ctx.agents.traitsOf(agent.name).resumesForeign) {
      throw new BatonError(
        'RESUME_NOT_SUPPORTED',
        `agent ${agent.name} (driver ${agent.driver}) cannot resume a session started outside baton; resume works with claude-code, codex and ACP agents that offer session/load or session/resume`,
      );
    }
    if (input.session_id !== undefined) {
      throw new BatonError(
        'INVALID_PARAMS',
        "give either resume (the agent's own session id, started outside baton) or session_id (a baton session), not both",
      );
    }
    if (input.isolation === 'worktree') {
      throw new BatonError(
        'INVALID_PARAMS',
        'resume continues the agent\'s session in the folder it was started in; isolation "worktree" would move it to a new one (use isolation "none")',
      );
    }
    const held = this.#ctx.store.sessions.findByAgentSession(agent.name, id);
    if (held) {
      throw new BatonError(
        'INVALID_PARAMS',
        `baton session ${held.id} already continues ${agent.name} session ${id}; pass session_id "${held.id}" (or follow_up one of its runs)`,
      );
    }
    return id;
  }

  /** spawn_run `role`: 1-64 characters of free text, no control characters. */
  #checkRole(role: string | undefined): string | undefined {
    if (role === undefined) return undefined;
    // eslint-disable-next-line no-control-regex
    if (typeof role !== 'string' || !role.trim() || role.length > 64 || /[\u0000-\u001f\u007f]/.test(role)) {
      throw new BatonError(
        'INVALID_PARAMS',
        'role must be 1-64 characters of text without control characters (e.g. "planner", "worker", "reviewer")',
      );
    }
    return role.trim();
  }

  #readPrompt(input: SpawnInput, fromFile: string | undefined, hasParts: boolean): string {
    // (prompt beside prompt_file was refused when the file was read.)
    let prompt = input.prompt ?? fromFile;
    // input_message says what to do; a prompt beside it goes first.
    if (hasParts && (prompt === undefined || prompt.trim() === '')) return '';
    // A terminal program may start without input (it asks its own questions).
    if (prompt === undefined && this.#ctx.agents.traitsOf(input.agent ?? '').promptOptional) prompt = '';
    else if (prompt === undefined || prompt.trim() === '') {
      throw new BatonError(
        'INVALID_PARAMS',
        'prompt is required (or prompt_file, or input_message): say what the agent should do',
      );
    }
    if (prompt.length > PROMPT_MAX_CHARS) {
      throw new BatonError(
        'INVALID_PARAMS',
        `prompt is longer than ${PROMPT_MAX_CHARS} characters; use prompt_file`,
      );
    }
    return prompt;
  }

  /**
   * spawn_run with a `profile`: the profile's values fill what the caller did not give; its
   * instructions go after the prompt. Returns the input to use and what the profile applied.
   */
  #applyProfile(input: SpawnInput): {
    input: SpawnInput;
    profile: { name: string; values: Record<string, unknown> } | null;
  } {
    if (input.profile === undefined) return { input, profile: null };
    const p = this.#ctx.config.profiles[input.profile];
    if (!p) {
      const names = Object.keys(this.#ctx.config.profiles);
      throw new BatonError(
        'INVALID_PARAMS',
        `no profile "${input.profile}"; ${names.length ? `configured: ${names.join(', ')}` : `add one under "profiles" in ${this.#ctx.config.configPath}`}`,
      );
    }
    const values: Record<string, unknown> = {};
    const out: SpawnInput = { ...input };
    for (const key of ['agent', 'policy', 'approver', 'model', 'timeout', 'isolation'] as const) {
      if (out[key] === undefined && p[key] !== undefined) {
        (out as Record<string, unknown>)[key] = p[key];
        values[key] = p[key];
      }
    }
    if (p.instructions) values.instructions = p.instructions;
    if (p.max_turns) values.max_turns = p.max_turns;
    if (p.allow_tools) values.allow_tools = p.allow_tools;
    if (p.deny_tools) values.deny_tools = p.deny_tools;
    if (p.runner) values.runner = p.runner;
    return { input: out, profile: { name: input.profile, values } };
  }

  /**
   * A run started by a sub-agent (its baton has BATON_PARENT_RUN) is that run's child; it may nest
   * at most `delegation.max_depth` levels below a top-level run.
   */
  #checkDepth(parentId: string | undefined): string | undefined {
    if (!parentId) return undefined;
    let depth = 0;
    let cursor: string | null | undefined = parentId;
    const seen = new Set<string>();
    while (cursor && !seen.has(cursor) && seen.size < 100) {
      seen.add(cursor);
      const row = this.#ctx.store.runs.get(cursor);
      if (!row) break;
      depth++;
      cursor = row.parent_run_id;
    }
    if (depth === 0) return undefined; // an unknown parent (another BATON_HOME): a top-level run
    if (depth > this.#ctx.config.delegation.maxDepth) {
      throw new BatonError(
        'FORBIDDEN',
        `run ${parentId} is already ${depth - 1} level(s) below a top-level run: delegation.max_depth (${this.#ctx.config.delegation.maxDepth}) allows no deeper run; raise it in ${this.#ctx.config.configPath}`,
      );
    }
    return parentId;
  }

  /**
   * True for the built-in agent named after a driver that takes any command (agent `terminal`):
   * it runs the program given as spawn_run `command`.
   */
  #takesCommand(agent: AgentSpec): boolean {
    return (
      agent.source === 'builtin' &&
      agent.name === agent.driver &&
      this.#ctx.agents.traitsOf(agent.name).takesCommand === true
    );
  }

  /** spawn_run `command`: only for an agent that takes one, and only when the config allows any command. */
  #checkCommand(agent: AgentSpec, command: string[] | undefined): string[] | null {
    const takes = this.#takesCommand(agent);
    if (takes && !command?.length) {
      throw new BatonError(
        'INVALID_PARAMS',
        `agent "${agent.name}" runs the program given in command (argv, e.g. ["python3", "-q"]); or configure a terminal agent under agents`,
      );
    }
    if (command === undefined) return null;
    if (!takes) {
      const which = this.#ctx.agents
        .all()
        .filter((a) => this.#takesCommand(a))
        .map((a) => `"${a.name}"`);
      throw new BatonError(
        'INVALID_PARAMS',
        `command is only for ${which.length ? `agent ${which.join(' or ')}` : 'an agent whose driver runs any program'}; agent ${agent.name} runs its configured command`,
      );
    }
    if (!this.#ctx.config.terminal.allowAnyCommand) {
      throw new BatonError(
        'FORBIDDEN',
        `running any command in a terminal is off: only configured agents may start. To allow it, set "terminal": { "allow_any_command": true } in ${this.#ctx.config.configPath}`,
      );
    }
    if (command.length === 0 || command.some((a) => typeof a !== 'string') || !command[0]) {
      throw new BatonError('INVALID_PARAMS', 'command must be a non-empty argv array of strings');
    }
    return command;
  }

  #checkLabel(label: string | undefined): void {
    if (label === undefined) return;
    if (!LABEL_PATTERN.test(label) || label.startsWith('r_')) {
      throw new BatonError(
        'INVALID_PARAMS',
        'label must be 1-64 letters, digits, ".", "_" or "-", start with a letter or digit, and not start with "r_"',
      );
    }
    const taken = this.#ctx.store.runs.getByLabel(label);
    if (taken) {
      throw new BatonError(
        'LABEL_TAKEN',
        `label "${label}" is already used by run ${taken.id}; choose another label`,
      );
    }
  }

  #checkCwd(cwd: string): string {
    if (!isAbsolute(cwd))
      throw new BatonError('INVALID_PARAMS', `cwd must be an absolute path (got "${cwd}")`);
    let st;
    try {
      st = statSync(cwd);
    } catch {
      throw new BatonError('CWD_NOT_FOUND', `cwd ${cwd} does not exist`);
    }
    if (!st.isDirectory()) throw new BatonError('CWD_NOT_FOUND', `cwd ${cwd} is not a directory`);
    const real = realpathLoose(cwd);
    // baton's own work trees (isolation "worktree") are allowed too: a review or a new run there.
    const worktrees = realpathLoose(join(this.#ctx.config.home, 'worktrees'));
    const inTree = isInside(worktrees, real) && real !== worktrees;
    // The rest of baton's state folder (config, token, database) is never a workspace.
    if (!inTree && isInside(realpathLoose(this.#ctx.config.home), real)) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `cwd ${cwd}${real !== cwd ? ` (really ${real})` : ''} is baton's own state folder (BATON_HOME ${this.#ctx.config.home}) or inside it; choose a project folder`,
      );
    }
    if (!this.#ctx.config.roots.some((root) => isInside(root, real)) && !inTree) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `cwd ${cwd}${real !== cwd ? ` (really ${real})` : ''} is outside the allowed roots (${this.#ctx.config.roots.join(', ')}); add a root under "roots" in ${this.#ctx.config.configPath}`,
      );
    }
    return real;
  }

  /**
   * A run's cwd, checked again when it starts or is followed up: inside the roots ({@link checkCwd})
   * and, for a run with a work tree, inside that work tree (a branch may commit its folder as a
   * symlink out of it). Returns the real path.
   */
  checkRunCwd(cwd: string, worktree: WorktreeInfo | null | undefined): string {
    const real = realpathLoose(cwd);
    if (worktree && !isInside(realpathLoose(worktree.path), real)) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `cwd ${cwd} (really ${real}) is outside its work tree ${worktree.path}: a symlink in the checked-out tree leads out of it; use a base_ref whose folder is a real directory`,
      );
    }
    return this.#checkCwd(cwd);
  }
}
