import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';
import { BatonError } from './errors.js';
import { errorOf } from '../test/errors.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['2d', 172_800_000],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['1h0m5s', 3_605_000],
    [' 90s ', 90_000],
    ['12', 12_000],
    ['1.5', 1500],
    [12, 12_000],
    [0.25, 250],
  ] as const)('parses %j as %d ms', (input, expected) => {
    expect(parseDuration(input, 'timeout')).toBe(expected);
  });

  it.each([
    [''],
    ['   '],
    ['5x'],
    ['5'.concat(' m')],
    ['m'],
    ['-5s'],
    ['5s garbage'],
    ['abc'],
    ['0s'],
    ['0'],
    ['1h-30m'],
    [-1],
    [0],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [null],
    [undefined],
    [true],
    [{ seconds: 5 }],
    [[5]],
  ] as const)('rejects %j with INVALID_PARAMS naming the field', (input) => {
    const err = errorOf(() => parseDuration(input, 'permission_timeout'));
    expect(err.code).toBe('INVALID_PARAMS');
    expect(err.message).toContain('permission_timeout must be a positive duration');
  });

  it('quotes the rejected value in the message', () => {
    expect(errorOf(() => parseDuration('5x', 'timeout')).message).toContain('(got "5x")');
    expect(errorOf(() => parseDuration(-1, 'timeout')).message).toContain('(got -1)');
    expect(errorOf(() => parseDuration(null, 'timeout')).message).toContain('(got null)');
  });

  it('names the field it was given', () => {
    expect(errorOf(() => parseDuration('soon', 'default_timeout')).message).toMatch(/^default_timeout /);
    expect(errorOf(() => parseDuration('soon', 'timeout')).message).toMatch(/^timeout /);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [450, '450ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1499, '1s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_605_000, '1h5s'],
    [5_400_000, '1h30m'],
    [3_661_000, '1h1m1s'],
    [86_400_000, '24h'],
  ])('formats %d ms as %s', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });

  it('round-trips what parseDuration reads', () => {
    for (const text of ['90s', '5m', '1h30m', '250ms', '1h1m1s']) {
      expect(parseDuration(formatDuration(parseDuration(text, 'x')), 'x')).toBe(parseDuration(text, 'x'));
    }
  });
});

describe('rounding edges', () => {
  it('a duration that rounds to 0 ms is refused; 999.6 ms prints as 1s', () => {
    expect(() => parseDuration(0.0001, 'timeout')).toThrow(BatonError);
    expect(() => parseDuration('0.1ms', 'timeout')).toThrow(/timeout/);
    expect(formatDuration(999.6)).toBe('1s');
  });
});

describe('timer range', () => {
  it('refuses durations a timer cannot hold (over 24.8 days)', () => {
    expect(parseDuration('24d', 'timeout')).toBe(24 * 86_400_000);
    expect(() => parseDuration('30d', 'timeout')).toThrow(/at most 24 days/);
  });
});
