import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ValidateFunction } from 'ajv';
import { BatonError } from '../errors.js';
import { validateBounded, VALIDATE_TIMEOUT_MS } from './bounded-validate.js';

// Ajv is loaded on first use: most runs have no output_schema, and start-up time matters.
let ajvClass: typeof AjvClass | undefined;
function loadAjv(): typeof AjvClass {
  ajvClass ??= (createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvClass }).Ajv;
  return ajvClass;
}

/** Compiles a caller's JSON Schema; throws INVALID_PARAMS saying why when it is not one. */
export function compileOutputSchema(schema: unknown): ValidateFunction {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new BatonError(
      'INVALID_PARAMS',
      'output_schema must be a JSON Schema object, e.g. {"type":"object"}',
    );
  }
  try {
    // A fresh Ajv per schema: schemas with the same $id must not collide, and nothing is kept forever.
    return new (loadAjv())({ allErrors: true, strict: false }).compile(schema as Record<string, unknown>);
  } catch (err) {
    throw new BatonError(
      'INVALID_PARAMS',
      `output_schema is not a valid JSON Schema: ${(err as Error).message}`,
    );
  }
}

/** Most JSON values {@link jsonCandidates} returns (each is validated in turn). */
const MAX_CANDIDATES = 20;
/** Answers longer than this are only read whole or by fenced blocks, not scanned for values. */
const MAX_SCAN_CHARS = 1_000_000;
/** Value starts ({ or [) tried in the scan, and characters read by all of them together: prose full of brackets cannot make it quadratic. */
const MAX_STARTS = 200;
const SCAN_BUDGET = 2_000_000;

/**
 * The end of the JSON object or array that starts at `start` (`{` or `[`): the index of its
 * closing bracket, strings and escapes respected; -1 when it does not close before `stop`.
 */
function closingIndex(text: string, start: number, stop: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < stop; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return i;
      if (depth < 0) return -1;
    }
  }
  return -1;
}

/**
 * Every JSON value an agent's final answer may mean, most likely first: the whole text, fenced
 * blocks (last first), then each object or array standing in the prose (last first; a value
 * inside a larger one is not listed separately), so a sentence before or after the JSON, braces
 * in it included, does not hide it. At most {@link MAX_CANDIDATES}; bounded work on any input.
 */
export function jsonCandidates(text: string): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<string>();
  const consider = (raw: string): boolean => {
    const t = raw.trim();
    if (!t || seen.has(t) || out.length >= MAX_CANDIDATES) return false;
    seen.add(t);
    try {
      out.push(JSON.parse(t));
      return true;
    } catch {
      return false;
    }
  };
  consider(text);
  for (const m of [...text.matchAll(/```(?:json)?\s*\n([\s\S]*?)```/g)].reverse()) consider(m[1] ?? '');
  if (text.length <= MAX_SCAN_CHARS) {
    const spans: string[] = [];
    let starts = 0;
    let budget = SCAN_BUDGET;
    for (let i = 0; i < text.length && starts < MAX_STARTS && budget > 0; i++) {
      const ch = text[i];
      if (ch !== '{' && ch !== '[') continue;
      starts++;
      const stop = Math.min(text.length, i + budget);
      const end = closingIndex(text, i, stop);
      budget -= (end < 0 ? stop : end + 1) - i;
      if (end < 0) continue;
      const span = text.slice(i, end + 1);
      try {
        JSON.parse(span);
      } catch {
        continue; // not JSON: a value may still start inside it
      }
      spans.push(span);
      i = end;
    }
    for (const span of spans.reverse()) consider(span);
  }
  return out;
}

/** The most likely JSON value of an agent's final answer (see {@link jsonCandidates}). */
export function extractJson(text: string): { ok: true; value: unknown } | { ok: false } {
  const all = jsonCandidates(text);
  return all.length === 0 ? { ok: false } : { ok: true, value: all[0] };
}

/**
 * The prompt with an instruction to answer with JSON matching `schema`, for agents that take no
 * schema natively.
 */
export function withSchemaInstruction(prompt: string, schema: Record<string, unknown>): string {
  return `${prompt}\n\nWhen you are done, reply with only a JSON value (no prose, no code fence) that matches this JSON Schema:\n${JSON.stringify(schema)}`;
}

/**
 * Validates the final answer against the schema: `{ structured }` or `{ structured_error }`.
 * `native` is the value the agent produced through its own structured-output mechanism, checked
 * instead of the text when present.
 */
export function validateOutput(
  schema: Record<string, unknown>,
  text: string,
  native?: unknown,
): Promise<{ structured: unknown } | { structured_error: { message: string; errors: string[] } }> {
  // A schema that is not one throws here, synchronously (INVALID_PARAMS).
  compileOutputSchema(schema);
  return checkOutput(schema, text, native);
}

async function checkOutput(
  schema: Record<string, unknown>,
  text: string,
  native: unknown,
): Promise<{ structured: unknown } | { structured_error: { message: string; errors: string[] } }> {
  const candidates = native !== undefined ? [native] : jsonCandidates(text);
  if (candidates.length === 0) {
    return {
      structured_error: {
        message: 'the final answer contains no JSON value to check against output_schema',
        errors: ['no JSON found in the last message'],
      },
    };
  }
  // The first value that validates is the answer; otherwise the most likely one's violations.
  // Each check runs in a worker with a time bound: the caller's regexes (ReDoS), and keywords whose
  // cost grows with the agent's answer (uniqueItems compares every pair of items), never block
  // this thread.
  let firstErrors: string[] | undefined;
  for (const value of candidates) {
    const verdict = await validateBounded(schema, value);
    if ('timed_out' in verdict) {
      return {
        structured_error: {
          message: `output_schema validation was stopped after ${VALIDATE_TIMEOUT_MS} ms (a "pattern" that backtracks badly, or uniqueItems on a huge answer?); the answer counts as not matching`,
          errors: ['validation timed out'],
        },
      };
    }
    if (verdict.valid) return { structured: value };
    firstErrors ??= verdict.errors;
  }
  return {
    structured_error: { message: 'the final answer does not match output_schema', errors: firstErrors ?? [] },
  };
}
