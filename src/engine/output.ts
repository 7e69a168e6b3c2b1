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

/** Finds the JSON value in an agent's final answer: the whole text, a fenced block, or the outermost braces. */
export function extractJson(text: string): { ok: true; value: unknown } | { ok: false } {
  const candidates: string[] = [text.trim()];
  const fenced = [...text.matchAll(/```(?:json)?\s*\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  candidates.push(...fenced.reverse());
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  if (first >= 0 && last > first) candidates.push(text.slice(first, last + 1));
  for (const c of candidates) {
    try {
      return { ok: true, value: JSON.parse(c) };
    } catch {
      // next
    }
  }
  return { ok: false };
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
  const found: { ok: true; value: unknown } | { ok: false } =
    native !== undefined ? { ok: true, value: native } : extractJson(text);
  if (!found.ok) {
    return {
      structured_error: {
        message: 'the final answer contains no JSON value to check against output_schema',
        errors: ['no JSON found in the last message'],
      },
    };
  }
  // In a worker with a time bound: the caller's regexes (ReDoS), and keywords whose cost grows
  // with the agent's answer (uniqueItems compares every pair of items), never block this thread.
  const verdict = await validateBounded(schema, found.value);
  if ('timed_out' in verdict) {
    return {
      structured_error: {
        message: `output_schema validation was stopped after ${VALIDATE_TIMEOUT_MS} ms (a "pattern" that backtracks badly, or uniqueItems on a huge answer?); the answer counts as not matching`,
        errors: ['validation timed out'],
      },
    };
  }
  if (verdict.valid) return { structured: found.value };
  return {
    structured_error: { message: 'the final answer does not match output_schema', errors: verdict.errors },
  };
}
