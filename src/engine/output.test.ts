import { describe, expect, it } from 'vitest';
import { compileOutputSchema, extractJson, jsonCandidates, validateOutput } from './output.js';
import { errorOf } from '../../test/errors.js';

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
  },
  required: ['name', 'age'],
  additionalProperties: false,
};

describe('extractJson', () => {
  it('reads bare JSON, with surrounding whitespace', () => {
    expect(extractJson('{"a":1,"b":[true,null]}')).toEqual({ ok: true, value: { a: 1, b: [true, null] } });
    expect(extractJson('\n  {"a": "x"}  \n')).toEqual({ ok: true, value: { a: 'x' } });
    expect(extractJson('[1, 2, 3]')).toEqual({ ok: true, value: [1, 2, 3] });
    expect(extractJson('42')).toEqual({ ok: true, value: 42 });
  });

  it('reads a fenced ```json block, preferring the last one', () => {
    const text = 'Here is the result:\n\n```json\n{"status": "ok", "count": 3}\n```\n\nLet me know.';
    expect(extractJson(text)).toEqual({ ok: true, value: { status: 'ok', count: 3 } });
    const plain = 'Result:\n```\n{"plain": true}\n```';
    expect(extractJson(plain)).toEqual({ ok: true, value: { plain: true } });
    const two = 'Draft:\n```json\n{"v": 1}\n```\nFinal:\n```json\n{"v": 2}\n```\n';
    expect(extractJson(two)).toEqual({ ok: true, value: { v: 2 } });
    const arr = 'List:\n```json\n["a", "b"]\n```';
    expect(extractJson(arr)).toEqual({ ok: true, value: ['a', 'b'] });
  });

  it('falls back to an earlier fenced block when the last one is not JSON', () => {
    const text = '```json\n{"good": 1}\n```\nand\n```json\nnot json\n```';
    expect(extractJson(text)).toEqual({ ok: true, value: { good: 1 } });
  });

  it('reads the outermost braces inside prose', () => {
    expect(extractJson('The answer is {"x": {"y": 2}} as requested.')).toEqual({
      ok: true,
      value: { x: { y: 2 } },
    });
  });

  it('reports no JSON', () => {
    expect(extractJson('')).toEqual({ ok: false });
    expect(extractJson('All done, the tests pass.')).toEqual({ ok: false });
    expect(extractJson('broken {"a": } here')).toEqual({ ok: false });
  });

  it('lists every JSON value standing in prose, the last first, braces in sentences ignored', () => {
    expect(jsonCandidates('two objects {"a":1} and {"b":2}')).toEqual([{ b: 2 }, { a: 1 }]);
    expect(jsonCandidates('Done {as asked}: {"ok": true, "note": "a } in a string"} — see {notes}.')).toEqual(
      [{ ok: true, note: 'a } in a string' }],
    );
    expect(jsonCandidates('nested {"x": {"y": [1, {"z": 2}]}} only once')).toEqual([
      { x: { y: [1, { z: 2 }] } },
    ]);
    // Bounded on hostile input: many unclosed brackets.
    const hostile = '{['.repeat(200_000);
    const started = Date.now();
    expect(jsonCandidates(hostile)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('structured output that survives prose', () => {
  it('a sentence after the JSON, braces in it: structured without a correction', async () => {
    const text = '{"name": "Ada", "age": 36}\n\nI kept {tags} empty since none were asked for.';
    expect(await validateOutput(schema, text)).toEqual({ structured: { name: 'Ada', age: 36 } });
  });

  it('a sentence before the JSON, braces in it', async () => {
    const text = 'Here is the result for {user}: {"name": "Bo", "age": 7, "tags": ["kid"]}';
    expect(await validateOutput(schema, text)).toEqual({ structured: { name: 'Bo', age: 7, tags: ['kid'] } });
  });

  it('picks the value that validates when the prose holds another JSON value', async () => {
    const text = 'The input was {"raw": [1, 2]}. Answer: {"name": "Cy", "age": 3}. Done.';
    expect(await validateOutput(schema, text)).toEqual({ structured: { name: 'Cy', age: 3 } });
    // With a pattern (validated in the bounded worker) too.
    const patterned = {
      ...schema,
      properties: { ...schema.properties, name: { type: 'string', pattern: '^[A-Z]' } },
    };
    expect(await validateOutput(patterned, text)).toEqual({ structured: { name: 'Cy', age: 3 } });
  });

  it('none validates: the violations of the most likely value', async () => {
    const out = await validateOutput(schema, 'Note {"name": 1}. Final: {"age": 2}.');
    expect(out).toEqual({
      structured_error: {
        message: 'the final answer does not match output_schema',
        errors: ["/ must have required property 'name'"],
      },
    });
  });
});

describe('validateOutput', async () => {
  it('returns the value when it matches the schema', async () => {
    expect(await validateOutput(schema, '```json\n{"name": "Ada", "age": 36, "tags": ["x"]}\n```')).toEqual({
      structured: { name: 'Ada', age: 36, tags: ['x'] },
    });
    expect(await validateOutput({ type: 'object' }, 'ok: {}')).toEqual({ structured: {} });
  });

  it('lists every failing instance path', async () => {
    const out = await validateOutput(schema, '{"age": -1.5, "tags": ["a", 2], "extra": true}');
    expect(out).toEqual({
      structured_error: {
        message: 'the final answer does not match output_schema',
        errors: expect.any(Array),
      },
    });
    const errors = 'structured_error' in out ? out.structured_error.errors : [];
    expect([...errors].sort()).toEqual(
      [
        "/ must have required property 'name'",
        '/ must NOT have additional properties',
        '/age must be integer',
        '/age must be >= 0',
        '/tags/1 must be string',
      ].sort(),
    );
  });

  it('reports a wrong top-level type at "/"', async () => {
    expect(await validateOutput(schema, '[1, 2]')).toEqual({
      structured_error: {
        message: 'the final answer does not match output_schema',
        errors: ['/ must be object'],
      },
    });
  });

  it('says when the answer has no JSON', async () => {
    expect(await validateOutput(schema, 'I fixed the bug.')).toEqual({
      structured_error: {
        message: 'the final answer contains no JSON value to check against output_schema',
        errors: ['no JSON found in the last message'],
      },
    });
  });

  it('can validate with the same schema many times', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await validateOutput(schema, `{"name": "n${i}", "age": ${i}}`)).toEqual({
        structured: { name: `n${i}`, age: i },
      });
    }
  });
});

describe('compileOutputSchema', async () => {
  it('returns a working validator', async () => {
    const validate = compileOutputSchema({ type: 'array', items: { type: 'number' }, minItems: 1 });
    expect(validate([1, 2])).toBe(true);
    expect(validate([])).toBe(false);
    expect(validate(['a'])).toBe(false);
  });

  it.each([[null], [undefined], ['{"type":"object"}'], [42], [true], [[{ type: 'object' }]]])(
    'rejects %j as not a schema object',
    (input) => {
      const err = errorOf(() => compileOutputSchema(input));
      expect(err.code).toBe('INVALID_PARAMS');
      expect(err.message).toBe('output_schema must be a JSON Schema object, e.g. {"type":"object"}');
    },
  );

  it.each([
    [{ type: 'nope' }],
    [{ type: 'object', properties: { a: { minimum: 'zero' } } }],
    [{ required: 'name' }],
    [{ $ref: '#/definitions/missing' }],
  ])('rejects the invalid schema %j with INVALID_PARAMS', (input) => {
    const err = errorOf(() => compileOutputSchema(input));
    expect(err.code).toBe('INVALID_PARAMS');
    expect(err.message).toMatch(/^output_schema is not a valid JSON Schema: \S/);
  });

  it('validateOutput throws INVALID_PARAMS for an invalid schema', async () => {
    expect(errorOf(() => validateOutput({ type: 'nope' }, '{}')).code).toBe('INVALID_PARAMS');
  });
});

describe('schemas with an $id', async () => {
  it('compile again and again (each run validates its own copy)', async () => {
    const schema = { $id: 'https://example.com/answer', type: 'object', required: ['ok'] };
    expect(await validateOutput({ ...schema }, '{"ok": 1}')).toEqual({ structured: { ok: 1 } });
    expect(await validateOutput({ ...schema }, '{"ok": 2}')).toEqual({ structured: { ok: 2 } });
    expect(() => compileOutputSchema({ ...schema })).not.toThrow();
  });
});

describe('answers that are costly to check (second security pass)', () => {
  it('uniqueItems on a huge answer neither blocks this thread nor makes a concurrent check fail; errors are capped', async () => {
    // 30 000 distinct arrays: uniqueItems compares every pair (seconds of CPU on this thread before).
    const huge = JSON.stringify(Array.from({ length: 30_000 }, (_, i) => [i]));
    let longestTick = 0;
    let last = Date.now();
    const ticker = setInterval(() => {
      longestTick = Math.max(longestTick, Date.now() - last);
      last = Date.now();
    }, 10);
    const started = Date.now();
    const [costly, innocent] = await Promise.all([
      validateOutput({ type: 'array', uniqueItems: true }, huge),
      validateOutput(schema, '{"name": "a", "age": 1}'),
    ]);
    clearInterval(ticker);
    expect(costly).toMatchObject({ structured_error: { errors: ['validation timed out'] } });
    expect(innocent).toEqual({ structured: { name: 'a', age: 1 } });
    expect(Date.now() - started).toBeLessThan(3_000);
    // The broken case blocks for seconds; 1 s leaves room for a loaded machine.
    expect(longestTick).toBeLessThan(1000);

    const wrong = JSON.stringify(Array.from({ length: 100_000 }, () => 1));
    const many = await validateOutput({ type: 'array', items: { type: 'string' } }, wrong);
    expect('structured_error' in many && many.structured_error.errors).toHaveLength(50);
  });
});
