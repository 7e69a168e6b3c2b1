import type { RunResult, RunSummary } from './types.js';

/** Verdicts of a review run (`verify_run`). */
export const VERDICTS = ['pass', 'pass_with_restrictions', 'fail_closed', 'insufficient_evidence'] as const;

/** A review's outcome, as `verify_run` returns it and the review run's `result.verification` keeps it. */
export type Verification = {
  verdict: (typeof VERDICTS)[number];
  findings: { severity: 'info' | 'minor' | 'major' | 'critical'; message: string; path?: string }[];
  evidence: string[];
};

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
