/** Run statuses, in lifecycle order. The last five are final. */
export const RUN_STATUSES = [
  'queued',
  'starting',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
  'timed_out',
  'interrupted',
] as const;
/** One of {@link RUN_STATUSES}. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses a run never leaves. */
export const FINAL_STATUSES = ['completed', 'failed', 'cancelled', 'timed_out', 'interrupted'] as const;
/** Statuses of a run that is not over. */
export const ACTIVE_STATUSES = ['queued', 'starting', 'running', 'waiting'] as const;

/** True when `status` is final. */
export function isFinalStatus(status: RunStatus): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/** How a run's permission requests are answered when nobody is asked. */
export const PERMISSION_POLICIES = ['ask', 'auto_edit', 'allow_all', 'deny_all'] as const;
/** One of {@link PERMISSION_POLICIES}. */
export type PermissionPolicy = (typeof PERMISSION_POLICIES)[number];

/** Who may answer a run's permission requests: anyone, only the MCP caller, or only a person. */
export const APPROVERS = ['any', 'caller', 'human'] as const;
/** One of {@link APPROVERS}. */
export type Approver = (typeof APPROVERS)[number];

/** Normalized event types, the same for every driver. */
export const EVENT_TYPES = [
  'status',
  'message',
  'thought',
  'tool_call',
  'tool_update',
  'plan',
  'permission_request',
  'permission_resolved',
  'input_request',
  'usage',
  'stderr',
  'terminal',
  'result',
  'error',
  'warning',
  'raw',
  'confirmation',
] as const;
/** One of {@link EVENT_TYPES}. */
export type EventType = (typeof EVENT_TYPES)[number];

/** Kinds of permission option, as ACP defines them. */
export const PERMISSION_OPTION_KINDS = [
  'allow_once',
  'allow_always',
  'reject_once',
  'reject_always',
] as const;
/** One of {@link PERMISSION_OPTION_KINDS}. */
export type PermissionOptionKind = (typeof PERMISSION_OPTION_KINDS)[number];

/** One answer a permission request offers. */
export type PermissionOption = { option_id: string; name: string; kind: PermissionOptionKind };

/** What a tool call that asks for permission is about. */
export type ToolCallInfo = {
  tool_call_id?: string;
  kind?: string;
  title?: string;
  locations?: string[];
  raw_input?: unknown;
};

/** The pending question of a `waiting` run. */
export type WaitingFor = {
  /** `permission`: answer with answer_permission. `input`: a terminal program waits at a prompt (follow_up or send_keys). */
  kind: 'permission' | 'input';
  request_id: string;
  title: string;
  tool_call?: ToolCallInfo;
  options: PermissionOption[];
  deadline?: string;
  /** `input`: the prompt line the program shows. */
  prompt?: string;
};

/** Token usage and cost, whatever the agent reported. */
export type Usage = {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  thought_tokens?: number;
  cached_read_tokens?: number;
  context_used?: number;
  context_size?: number;
  cost_usd?: number;
};

/** One file a run changed, against the state when it started. */
export type ChangedFile = {
  path: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed' | 'type_changed';
  additions: number;
  deletions: number;
  /** The old path of a rename. */
  from?: string;
};

/** A file this run and another active run in the same work tree both touched. */
export type Overlap = { path: string; run_id: string };

/** What a finished run produced. */
export type RunResult = {
  text: string;
  text_truncated?: boolean;
  structured?: unknown;
  structured_error?: { message: string; errors: string[] };
  stop_reason?: string;
  usage?: Usage;
  /** Files changed in the run's git work tree (at most 200; get_diff shows them). */
  changed_files?: ChangedFile[];
  changed_files_truncated?: boolean;
  /** Files another active run in the same work tree touched too. */
  overlaps?: Overlap[];
  /** A review run's verdict (verify_run). */
  verification?: Verification;
};

/** Why a run did not complete. */
export type RunError = { code: string; message: string; stderr_tail?: string };

/** The run summary of CONTRACT.md: small, stable keys, absent when unknown. */
export type RunSummary = {
  run_id: string;
  label?: string;
  agent: string;
  status: RunStatus;
  cwd: string;
  session_id: string;
  /**
   * get_run only: the agent's own id of the session (claude's session id, codex's thread id, the
   * ACP session id), what `claude --resume` / `codex resume` take; absent until the agent made it.
   */
  agent_session_id?: string;
  /**
   * get_run only: questions the run's agent asked a person (request_confirmation) that nobody has
   * answered yet; answer_confirmation or the dashboard settles them.
   */
  pending_confirmations?: { confirmation_id: string; question: string; options: string[] }[];
  parent_run_id: string | null;
  policy: PermissionPolicy;
  /** Present when not `any`: who may answer this run's permission requests. */
  approver?: Approver;
  /** The profile the run was started with (its applied values are in get_run's row, not here). */
  profile?: string;
  /** The run's role (spawn_run `role`), when it has one. */
  role?: string;
  created_at: string;
  started_at?: string;
  ended_at: string | null;
  waiting_for?: WaitingFor;
  result?: RunResult;
  error?: RunError;
  /** Remote (A2A) agents: the task id on the remote side. */
  remote_task_id?: string;
  last_seq: number;
};

/** One stored event as callers see it. */
export type RunEvent = {
  seq: number;
  ts: string;
  type: EventType;
  data: Record<string, unknown>;
  /** Fields of `data` moved to artifact files; read them with get_artifact. */
  artifacts?: { field_path: string; total_bytes: number }[];
};

/** Named keys `send_keys` accepts (tmux key names). */
export const TERMINAL_KEYS = [
  'Enter',
  'Escape',
  'Tab',
  'BTab',
  'Space',
  'BSpace',
  'Up',
  'Down',
  'Left',
  'Right',
  'Home',
  'End',
  'PageUp',
  'PageDown',
  'Delete',
  'C-a',
  'C-c',
  'C-d',
  'C-e',
  'C-k',
  'C-l',
  'C-r',
  'C-u',
  'C-w',
  'C-z',
] as const;

/** Verdicts of a review run (`verify_run`). */
export const VERDICTS = ['pass', 'pass_with_restrictions', 'fail_closed', 'insufficient_evidence'] as const;

/** A review's outcome, as `verify_run` returns it and the review run's `result.verification` keeps it. */
export type Verification = {
  verdict: (typeof VERDICTS)[number];
  findings: { severity: 'info' | 'minor' | 'major' | 'critical'; message: string; path?: string }[];
  evidence: string[];
};

/** The verification of a finished review run: its validated answer, or fail_closed. */
export function verificationOf(
  status: string,
  result: RunResult | undefined,
  error?: { message: string },
): Verification {
  if (status === 'completed' && result?.structured !== undefined) return result.structured as Verification;
  const why = result?.structured_error
    ? `the reviewer's answer did not validate: ${result.structured_error.errors.join('; ')}`
    : `the review run ended ${status}${error ? `: ${error.message}` : ''}`;
  return { verdict: 'fail_closed', findings: [{ severity: 'critical', message: why }], evidence: [] };
}

/**
 * One part of a run's multipart input (spawn_run `input_message`), as stored: files are read at
 * admission and kept as base64 bytes (a file given by path keeps its path too).
 */
export type InputPart =
  | { type: 'text'; text: string }
  | { type: 'file'; name: string; media_type: string; data: string; size: number; path?: string }
  | { type: 'data'; data: unknown };

/** True when a file of this media type is text that can be shown inline. */
export function isTextMedia(mediaType: string): boolean {
  return (
    mediaType.startsWith('text/') ||
    /^application\/(json|xml|yaml|x-yaml|toml|javascript|typescript|x-sh|sql)\b/.test(mediaType) ||
    /\+(json|xml)$/.test(mediaType)
  );
}

/**
 * The parts as one text, for agents that take text only: text as is, text files inline in a
 * fence, other files named (with their path when they have one), data as a JSON fence.
 */
export function flattenParts(parts: readonly InputPart[]): string {
  return parts
    .map((p) => {
      if (p.type === 'text') return p.text;
      if (p.type === 'data') return `\`\`\`json\n${JSON.stringify(p.data, null, 2)}\n\`\`\``;
      const where = p.path ?? p.name;
      if (isTextMedia(p.media_type)) {
        return `File ${where} (${p.media_type}):\n\`\`\`\n${Buffer.from(p.data, 'base64').toString('utf8')}\n\`\`\``;
      }
      return `[file ${where} (${p.media_type}, ${p.size} bytes) not shown: this agent takes text only]`;
    })
    .join('\n\n');
}
