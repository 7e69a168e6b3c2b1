// The contract scenario's steps as the runner tests (ssh, container, kubernetes) and the contract
// tests drive them: its file, the structured-answer schema, a git work tree to run in.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT, waitFor, type Server, type Summary } from './helpers.js';

/** test/fixtures/contract-scenario.json: WRITE_FILE, SLOW, ANSWER_JSON, REMEMBER/code word. */
export const CONTRACT_SCENARIO = join(ROOT, 'test', 'fixtures', 'contract-scenario.json');

/** The schema of the scenario's ANSWER_JSON reply. */
export const ANSWER_SCHEMA = {
  type: 'object',
  properties: { answer: { type: 'number' }, word: { type: 'string' } },
  required: ['answer', 'word'],
  additionalProperties: false,
};

/** A git work tree in `dir` with one commit holding `file`. */
export function gitRepo(dir: string, file: string): void {
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { stdio: 'ignore' });
  git('init', '-q');
  writeFileSync(join(dir, file), `${file}\n`);
  git('add', '.');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init');
}

/** An ANSWER_JSON run with {@link ANSWER_SCHEMA} completes with the validated structured answer. */
export async function expectStructuredAnswer(
  s: Server,
  spawnRun: (prompt: string, extra: Record<string, unknown>) => Promise<Summary>,
): Promise<void> {
  const json = await spawnRun('ANSWER_JSON {"answer":42,"word":"baton"}', { output_schema: ANSWER_SCHEMA });
  const answered = (await waitFor(s, json.run_id)) as Summary;
  expect(answered.status, JSON.stringify(answered.error)).toBe('completed');
  expect(answered.result.structured_error).toBeUndefined();
  expect(answered.result.structured).toEqual({ answer: 42, word: 'baton' });
}

/** Answers the permission `waiting` (a run's summary) asks with its option of `kind`; resolves with the run's end. */
export async function answerAndWait(s: Server, waiting: Summary, kind: string): Promise<Summary> {
  const option = (waiting.waiting_for.options as Summary[]).find((o) => o.kind === kind);
  expect(option, `an option of kind ${kind}`).toBeDefined();
  await s.call('answer_permission', { run: waiting.run_id, option_id: option?.option_id });
  return (await waitFor(s, waiting.run_id)) as Summary;
}

/**
 * A follow_up of `run` asking for the code word; it completes, and (with `word`) its answer holds
 * the earlier "REMEMBER the word <word>" turn. Resolves with the follow-up run.
 */
export async function askCodeWord(s: Server, run: string, word?: string): Promise<Summary> {
  const next = (await s.call('follow_up', { run, message: 'what was the code word?' })) as Summary;
  const done = (await waitFor(s, next.run_id)) as Summary;
  expect(done.status, JSON.stringify(done.error)).toBe('completed');
  if (word) expect(done.result.text).toContain(`REMEMBER the word ${word}`);
  return done;
}
