import { BatonError } from '../errors.js';
import type { RunRow } from '../store/runs.js';
import type { SpawnInput } from './admission.js';
import {
  VERDICTS,
  isFinalStatus,
  verificationOf,
  type RunStatus,
  type RunSummary,
  type Verification,
} from './types.js';

export { VERDICTS, verificationOf, type Verification } from './types.js';
import { WAIT_DEFAULT_MS } from '../duration.js';
import type { WaitInput, WaitResult } from './waiting.js';

/** The JSON Schema the reviewer's answer must match. */
export const VERIFICATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['verdict', 'findings', 'evidence'],
  properties: {
    verdict: { enum: [...VERDICTS] },
    findings: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['severity', 'message'],
        properties: {
          severity: { enum: ['info', 'minor', 'major', 'critical'] },
          message: { type: 'string', minLength: 1 },
          path: { type: 'string' },
        },
      },
    },
    evidence: {
      type: 'array',
      items: { type: 'string' },
      description: 'files (and lines) the verdict rests on',
    },
  },
} as const;

/** The metadata key that marks a review run (its value: the reviewed run id, or null). */
export const REVIEW_OF = 'baton_review_of';

/**
 * The prompt of a review run: the task, what changed (diff) or the evidence to read, and how to
 * answer. The reviewer may read files but not change anything (policy deny_all).
 */
export function reviewPrompt(p: {
  task: string;
  reviewed?: RunSummary;
  diff?: { text: string; truncated: boolean };
  evidence: string[];
}): string {
  const parts = [
    'You are reviewing work done by another agent. Do not change anything: read only.',
    '',
    'The task (the spec the work must meet):',
    p.task,
  ];
  if (p.reviewed) {
    const files = p.reviewed.result?.changed_files ?? [];
    parts.push(
      '',
      `The run under review: ${p.reviewed.run_id} (${p.reviewed.agent}), status ${p.reviewed.status}.`,
    );
    if (p.reviewed.result?.text) parts.push('Its final answer:', p.reviewed.result.text);
    if (files.length > 0) {
      parts.push(
        'Files it changed:',
        ...files.map((f) => `- ${f.path} (${f.status}, +${f.additions} -${f.deletions})`),
      );
    }
  }
  if (p.diff?.text) {
    parts.push(
      '',
      `The diff${p.diff.truncated ? ' (cut; read the files for the rest)' : ''}:`,
      '```diff',
      p.diff.text,
      '```',
    );
  }
  if (p.evidence.length > 0)
    parts.push('', 'Evidence to examine (read these files):', ...p.evidence.map((e) => `- ${e}`));
  parts.push(
    '',
    'Check the work against the task. Cite the files (and lines) your verdict rests on in "evidence".',
    'verdict: "pass" (meets the task), "pass_with_restrictions" (meets it with caveats listed in findings),',
    '"fail_closed" (does not meet it, or is unsafe), "insufficient_evidence" (you cannot tell from what you can see).',
  );
  return parts.join('\n');
}

/** Input of {@link verifyRun} (`verify_run`). */
export type VerifyInput = {
  run?: string;
  task?: string;
  evidence?: string[];
  cwd?: string;
  agent?: string;
  profile?: string;
  timeout?: string | number;
  wait?: string | number;
  signal?: AbortSignal;
};

/** What `verify_run` returns: the review run, and its verdict once it is over. */
export type VerifyResult = {
  run_id: string;
  status: RunStatus;
  reviewed_run?: string;
} & Partial<Verification>;

/** The engine operations a review uses. */
export interface VerifyOps {
  getRun(ref: string): RunSummary;
  resolveRun(ref: string): RunRow;
  getDiff(ref: string, opts: { limit?: number }): Promise<{ diff: string; next_offset?: number }>;
  spawnRun(input: SpawnInput): Promise<RunSummary>;
  waitRuns(input: WaitInput): Promise<WaitResult>;
}

/**
 * Starts a read-only review run (policy deny_all, the verdict schema) of another run's changes
 * or of evidence files against a task, and waits up to `wait` for its verdict. An answer that
 * does not validate, or a review that fails, is `fail_closed`.
 */
export async function verifyRun(ops: VerifyOps, input: VerifyInput): Promise<VerifyResult> {
  const reviewed = input.run ? ops.getRun(input.run) : undefined;
  if (!reviewed && !(input.evidence?.length && input.cwd)) {
    throw new BatonError('INVALID_PARAMS', 'give run (whose changes to review), or evidence with cwd');
  }
  const row = reviewed ? ops.resolveRun(reviewed.run_id) : undefined;
  const task = input.task ?? row?.prompt;
  if (!task) throw new BatonError('INVALID_PARAMS', 'task is required: what the work must do');
  let diff: { text: string; truncated: boolean } | undefined;
  if (row?.repo_root && row.base_tree) {
    const d = await ops.getDiff(row.id, { limit: 100_000 });
    diff = { text: d.diff, truncated: d.next_offset !== undefined };
  }
  const agent = input.agent ?? (input.profile ? undefined : reviewed?.agent);
  const review = await ops.spawnRun({
    ...(agent ? { agent } : {}),
    ...(input.profile ? { profile: input.profile } : {}),
    cwd: input.cwd ?? reviewed?.cwd ?? '',
    prompt: reviewPrompt({ task, reviewed, diff, evidence: input.evidence ?? [] }),
    policy: 'deny_all',
    output_schema: VERIFICATION_SCHEMA as unknown as Record<string, unknown>,
    ...(input.timeout !== undefined ? { timeout: input.timeout } : {}),
    metadata: { [REVIEW_OF]: reviewed?.run_id ?? null },
  });
  const waited = await ops.waitRuns({
    runs: [review.run_id],
    until: 'finished',
    timeout: input.wait ?? WAIT_DEFAULT_MS / 1000,
    signal: input.signal,
  });
  const r = waited.runs[0] ?? ops.getRun(review.run_id);
  const base = {
    run_id: r.run_id,
    status: r.status,
    ...(reviewed ? { reviewed_run: reviewed.run_id } : {}),
  };
  if (!isFinalStatus(r.status)) return base;
  return { ...base, ...(r.result?.verification ?? verificationOf(r.status, r.result, r.error)) };
}
