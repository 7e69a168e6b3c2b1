import { z } from 'zod';
import { CONFIRMATION_STATUSES } from '../engine/confirmations.js';
import { APPROVERS, EVENT_TYPES, PERMISSION_POLICIES, RUN_STATUSES } from '../engine/types.js';
import { BatonError } from '../errors.js';
import { VERSION } from '../version.js';
import { duration, operation, runRef, type Operation } from './define.js';
import { HOOK_OPERATION } from './hook.js';
import { TERMINAL_OPERATIONS } from './terminal-ops.js';

export type { OpCtx, Operation, OwnerHooks } from './define.js';

/** Every tool of CONTRACT.md. The same definitions serve stdio and (later) HTTP. */
export const OPERATIONS: readonly Operation[] = [
  operation({
    name: 'list_agents',
    title: 'List agents',
    description:
      'The agents baton can run, whether each is installed and ready, and the fix when it is not. `name`: only that agent.',
    input: z.strictObject({
      name: z
        .string()
        .min(1)
        .max(200)
        .optional()
        .describe('only this agent (AGENT_NOT_FOUND when there is none)'),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: async (engine, args: { name?: string }) => ({
      agents: args.name ? [await engine.agentInfo(args.name)] : await engine.listAgents(),
    }),
  }),
  operation({
    name: 'spawn_run',
    title: 'Start an agent run',
    description:
      'Start a sub-agent run and return its summary at once (status "queued"); it does not wait for the agent. ' +
      'Then call wait_run to block until it finishes or needs an answer (permission prompt). ' +
      'Give at least one of prompt, prompt_file or input_message (multipart: text, files, JSON data; sent as parts to A2A agents ' +
      'and as content blocks to ACP agents, as text to the others). role (e.g. "planner", "worker", "reviewer") is shown and ' +
      'filterable in list_runs, and picks the profile the config maps it to when no profile is given.',
    input: z.strictObject({
      agent: z
        .string()
        .min(1)
        .optional()
        .describe(
          'agent name from list_agents, e.g. "demo", "gemini" (required unless the profile names one)',
        ),
      profile: z
        .string()
        .min(1)
        .optional()
        .describe(
          'a named preset from the config (agent, policy, model, timeout, isolation, instructions, tool rules)',
        ),
      cwd: z.string().min(1).describe('absolute working directory, inside the configured roots'),
      prompt: z.string().optional().describe('what the agent should do'),
      prompt_file: z
        .string()
        .optional()
        .describe('absolute path of a file holding the prompt (instead of prompt)'),
      input_message: z
        .array(
          z.union([
            z.strictObject({ type: z.literal('text'), text: z.string() }),
            z.strictObject({
              type: z.literal('file'),
              path: z
                .string()
                .min(1)
                .describe('absolute path inside the roots; a regular file of at most 4 MB'),
              media_type: z.string().optional(),
              name: z.string().optional(),
            }),
            z.strictObject({
              type: z.literal('file'),
              data: z.string().describe('the file content, base64'),
              media_type: z.string().min(1).describe('e.g. "text/plain", "image/png"'),
              name: z.string().optional(),
            }),
            z.strictObject({ type: z.literal('data'), data: z.unknown().describe('any JSON value') }),
          ]),
        )
        .min(1)
        .max(64)
        .optional()
        .describe(
          'multipart input (after prompt, when both are given): text, a file by path or inline (base64 with media_type), JSON data; at most 64 parts, 8 MB in all',
        ),
      role: z
        .string()
        .min(1)
        .max(64)
        .optional()
        .describe(
          'the run\'s role, free text such as "planner", "worker", "reviewer"; a config "roles" entry may give it a profile',
        ),
      label: z.string().optional().describe('unique name to refer to the run by'),
      model: z.string().optional(),
      timeout: duration.optional(),
      policy: z
        .enum(PERMISSION_POLICIES)
        .optional()
        .describe('how permission prompts are answered; default "ask"'),
      approver: z
        .enum(APPROVERS)
        .optional()
        .describe(
          'who may answer permission prompts: "any" (default), "caller" (only you, with answer_permission), or "human" (a person: the dashboard, baton approve/deny on a terminal, or your client\'s elicitation prompt during wait_run where the config allows it); typed input (send_keys, follow_up) at a terminal run\'s prompt counts as an answer',
        ),
      command: z
        .array(z.string())
        .min(1)
        .max(256)
        .optional()
        .describe(
          'agent "terminal" only: the program to run in a terminal, as argv (needs terminal.allow_any_command in the config)',
        ),
      output_schema: z
        .record(z.string(), z.unknown())
        .optional()
        .describe('JSON Schema the final answer must match'),
      session_id: z.string().optional().describe('continue this session (from a run summary)'),
      resume: z
        .string()
        .min(1)
        .max(200)
        .optional()
        .describe(
          "continue a session started outside baton, by the agent's own session id (claude-code: the session UUID, codex: the thread id, ACP agents that can load or resume sessions: the session id); pass the cwd it was started in",
        ),
      isolation: z
        .enum(['none', 'worktree'])
        .optional()
        .describe(
          '"worktree": the run works in its own git work tree on branch baton/<label or run id>, kept until discard_run',
        ),
      base_ref: z
        .string()
        .min(1)
        .optional()
        .describe('worktree isolation: the commit to branch from (default HEAD)'),
      include: z
        .array(z.string().min(1))
        .max(100)
        .optional()
        .describe('worktree isolation: untracked files to copy in, as glob patterns (e.g. ".env")'),
      metadata: z.record(z.string(), z.unknown()).optional(),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args, ctx) =>
      engine.spawnRun(ctx.parentRun ? { ...args, parent_run_id: ctx.parentRun } : args),
  }),
  operation({
    name: 'get_run',
    title: 'Get a run',
    description: "One run's summary: status, what it waits for, result, error.",
    input: z.strictObject({ run: runRef }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.getRun(args.run),
  }),
  operation({
    name: 'list_runs',
    title: 'List runs',
    description: 'Runs, newest first, filtered by status, agent, label or role; paged with cursor.',
    input: z.strictObject({
      status: z.enum(RUN_STATUSES).optional(),
      agent: z.string().optional(),
      label: z.string().optional(),
      role: z.string().optional(),
      limit: z.number().int().min(1).max(200).optional(),
      cursor: z.string().optional(),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.listRuns(args),
  }),
  operation({
    name: 'wait_run',
    title: 'Wait for runs',
    description:
      'Block until one of the runs needs attention (until "attention": finished or waiting for a permission answer) ' +
      'or is finished (until "finished"), or the timeout passes (default 50s, at most 55s). Default runs: every active run. ' +
      'Sends progress notifications while waiting. Call it again after timed_out.',
    input: z.strictObject({
      runs: z.array(runRef).max(200).optional(),
      until: z.enum(['attention', 'finished']).optional(),
      timeout: duration.optional(),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args, ctx) =>
      engine.waitRuns({
        runs: args.runs,
        until: args.until,
        timeout: args.timeout,
        signal: ctx.signal,
        onProgress: ctx.progress,
      }),
  }),
  operation({
    name: 'get_events',
    title: 'Get run events',
    description:
      "A page of a run's events (messages, thoughts, tool calls, permissions, usage...). Pages are capped at about 16k tokens; " +
      'continue with after_seq = next_seq while has_more. tail=true gives the latest events.',
    input: z.strictObject({
      run: runRef,
      after_seq: z.number().int().min(0).optional(),
      types: z.array(z.enum(EVENT_TYPES)).optional(),
      limit: z.number().int().min(1).max(1000).optional(),
      tail: z.boolean().optional(),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.getEvents(args.run, args),
  }),
  operation({
    name: 'get_artifact',
    title: 'Read an artifact',
    description:
      'Page through an event field that was too large to keep inline (events list them under "artifacts" with their field_path).',
    input: z.strictObject({
      run: runRef,
      seq: z.number().int().min(1),
      field_path: z.string().describe('JSON Pointer inside the event data, e.g. "/text"'),
      offset: z.number().int().min(0).optional(),
      limit: z.number().int().min(1).max(1048576).optional(),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.getArtifact(args.run, args.seq, args.field_path, args.offset, args.limit),
  }),
  operation({
    name: 'answer_permission',
    title: 'Answer a permission prompt',
    description: "Answer the pending permission request of a waiting run with one of its options' option_id.",
    input: z.strictObject({ run: runRef, option_id: z.string().min(1), request_id: z.string().optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    run: (engine, args, ctx) =>
      engine.answerPermission(args.run, args.option_id, args.request_id, ctx.by ?? 'caller'),
  }),
  operation({
    name: 'request_confirmation',
    title: 'Ask a person to confirm',
    description:
      'Ask a person a yes/no (or option) question about anything (a deploy, a migration). It is kept until answered ' +
      '(the dashboard, baton confirm on a terminal, or your elicitation prompt where the config counts it as a person). ' +
      'Blocks up to `wait` (default 50s, at most 55s) and returns the decision ("approve", "deny" or one of your options), ' +
      'who decided (decided_by) and when (decided_at); or status "pending" with confirmation_id: call again with just ' +
      'confirmation_id to wait again.',
    input: z.strictObject({
      confirmation_id: z.string().min(1).optional().describe('wait again for this confirmation'),
      question: z.string().min(1).max(10_000).optional().describe('what the person should confirm'),
      options: z
        .array(z.string().min(1).max(200))
        .min(2)
        .max(20)
        .optional()
        .describe('the answers offered (default "approve" and "deny")'),
      details: z.string().max(100_000).optional().describe('more context shown with the question'),
      timeout: duration
        .optional()
        .describe('how long the person has; then it expires undecided (default: no limit)'),
      wait: duration.optional().describe('how long this call blocks (default 50s, at most 55s)'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args, ctx) =>
      engine.confirmations.request(
        { ...args, ...(ctx.signal ? { signal: ctx.signal } : {}) },
        ctx.by ?? 'caller',
        ctx.parentRun,
      ),
  }),
  operation({
    name: 'list_confirmations',
    title: 'List confirmations',
    description: 'Questions asked of a person (request_confirmation), newest first; status filters them.',
    input: z.strictObject({
      status: z.enum(CONFIRMATION_STATUSES).optional(),
      limit: z.number().int().min(1).max(200).optional(),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.confirmations.list(args.status, args.limit),
  }),
  operation({
    name: 'get_confirmation',
    title: 'Get a confirmation',
    description:
      'One confirmation: its question, options, status, and the decision with who decided and when.',
    input: z.strictObject({ confirmation_id: z.string().min(1) }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.confirmations.get(args.confirmation_id),
  }),
  operation({
    name: 'answer_confirmation',
    title: 'Answer a confirmation',
    description:
      'A person answers a pending confirmation: decision "approve", "deny" or one of its options. Only a person\'s ' +
      'channels may (the dashboard, baton confirm on a terminal, elicitation where the config allows); the first answer wins.',
    input: z.strictObject({ confirmation_id: z.string().min(1), decision: z.string().min(1) }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    run: (engine, args, ctx) =>
      engine.confirmations.answer(args.confirmation_id, args.decision, ctx.by ?? 'caller'),
  }),
  operation({
    name: 'follow_up',
    title: 'Send a follow-up',
    description:
      'Continue the conversation of a run: a new run on the same session, so the agent keeps its context.',
    input: z.strictObject({ run: runRef, message: z.string().min(1), label: z.string().optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args, ctx) => engine.followUp(args.run, args.message, args.label, ctx.by ?? 'caller'),
  }),
  operation({
    name: 'cancel_run',
    title: 'Cancel a run',
    description:
      'Cancel a run: the agent is asked to stop, then its processes are terminated. force=true kills at once. Returns when it is final.',
    input: z.strictObject({ run: runRef, force: z.boolean().optional() }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.cancelRun(args.run, args.force ?? false),
  }),
  ...TERMINAL_OPERATIONS,
  operation({
    name: 'get_diff',
    title: "Show a run's changes",
    description:
      'The unified diff of what a run changed in its git work tree since it started (live while it runs), of one path or all; paged by bytes with offset/next_offset. result.changed_files lists the files.',
    input: z.strictObject({
      run: runRef,
      path: z.string().min(1).optional().describe('one file, relative to the repository root'),
      offset: z.number().int().min(0).optional(),
      limit: z.number().int().min(1).max(1048576).optional().describe('bytes, default 65536'),
    }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.getDiff(args.run, args),
  }),
  operation({
    name: 'verify_run',
    title: 'Verify a run',
    description:
      "Starts a read-only review run (policy deny_all) of another run's changes (its diff) or of evidence files against a task, and waits (up to `wait`, default 50s) for the verdict: pass, pass_with_restrictions, fail_closed or insufficient_evidence, with findings and the evidence cited. An answer that does not validate is fail_closed. If it is still reviewing, wait_run on run_id; the verdict is then in result.verification.",
    input: z.strictObject({
      run: runRef.optional().describe('the run whose changes to review'),
      task: z
        .string()
        .min(1)
        .optional()
        .describe("what the work must do (default: the reviewed run's prompt)"),
      evidence: z.array(z.string().min(1)).max(100).optional().describe('files the reviewer must examine'),
      cwd: z
        .string()
        .min(1)
        .optional()
        .describe("where the reviewer works (default: the reviewed run's cwd)"),
      agent: z.string().min(1).optional().describe("the reviewer (default: the reviewed run's agent)"),
      profile: z.string().min(1).optional(),
      timeout: duration.optional(),
      wait: duration.optional().describe('how long to wait for the verdict (default 50s, at most 55s)'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: (engine, args, ctx) => engine.verifyRun({ ...args, signal: ctx.signal }),
  }),
  operation({
    name: 'get_usage',
    title: 'Usage of a run, its session and its tree',
    description:
      'Tokens and cost of a run, of its whole session (follow-ups), and of its run tree: it and every run started below it by sub-agents through baton (parent_run_id).',
    input: z.strictObject({ run: runRef }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.getUsage(args.run),
  }),
  operation({
    name: 'discard_run',
    title: "Discard a run's work tree",
    description:
      'Removes the git work tree and branch of a finished run started with isolation "worktree" (and its follow-ups). Merge or copy what you want first.',
    input: z.strictObject({ run: runRef }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    run: (engine, args) => engine.discardRun(args.run),
  }),
  operation({
    name: 'server_status',
    title: 'Server status',
    description: "baton's version, state folder, store and run counts.",
    input: z.strictObject({}),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    run: async (engine) => {
      const agents = await engine.listAgents();
      return {
        version: VERSION,
        home: engine.config.home,
        store: engine.store.file,
        roots: engine.config.roots,
        runs: engine.status(),
        usage: engine.usageTotals().usage,
        agents_ready: agents.filter((a) => a.ready).map((a) => a.name),
      };
    },
  }),
  operation({
    name: 'shutdown',
    title: 'Stop baton',
    description:
      'Stops the baton owner (the daemon) cleanly. Refused while runs are active unless force=true, which cancels them first (kill ladder). Removes its socket, pid and lock files and returns what it cancelled and removed; the next call starts a new daemon.',
    input: z.strictObject({ force: z.boolean().optional().describe('cancel active runs first') }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    run: (_engine, args, ctx) => {
      if (!ctx.owner) throw new BatonError('NOT_SUPPORTED', 'no baton owner process serves this call');
      // An agent's own baton (a sub-agent) may not stop what runs its parent.
      if (ctx.parentRun) {
        throw new BatonError(
          'FORBIDDEN',
          `shutdown is refused to a sub-agent's baton (of run ${ctx.parentRun})`,
        );
      }
      return ctx.owner.shutdown(args.force ?? false);
    },
  }),
  operation({
    name: 'usage_totals',
    title: 'Usage of every run',
    description: 'How many runs there are, and their tokens and cost summed.',
    input: z.strictObject({}),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    internal: true,
    run: (engine) => engine.usageTotals(),
  }),
  operation({
    name: 'owner_info',
    title: 'Where the owner keeps its state',
    description: 'The state folder, config file, database and roots of the owner (baton doctor).',
    input: z.strictObject({}),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    internal: true,
    run: (engine, _args, ctx) => ({
      home: engine.config.home,
      config: engine.config.configPath,
      store: engine.store.file,
      roots: engine.config.roots,
      pid: process.pid,
      elicitation_is_human: engine.config.approvals.elicitationIsHuman,
      // A sub-agent's front: no person's channel (elicitation included) is its.
      front_is_agent: Boolean(ctx.parentRun),
    }),
  }),
  operation({
    name: 'terminal_target',
    title: "A terminal run's tmux session",
    description: 'The tmux socket and session of a live terminal run (baton attach).',
    input: z.strictObject({ run: runRef }),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    internal: true,
    run: (engine, args) => engine.terminalTarget(args.run),
  }),
  HOOK_OPERATION,
];

/** Formats zod issues as "field: what is expected" lines. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.join('.') || '(arguments)';
      if (i.code === 'unrecognized_keys') return `unknown parameter(s): ${i.keys.join(', ')}`;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** Validates raw arguments against a tool's schema; throws INVALID_PARAMS naming the fields. */
export function parseArgs(def: Operation, raw: unknown): unknown {
  const parsed = def.input.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new BatonError('INVALID_PARAMS', `${def.name}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}
