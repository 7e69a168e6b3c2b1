import { expect } from 'vitest';
import { BatonError } from '../src/errors.js';

/** Runs `fn` and returns the BatonError it throws; fails the test when it throws nothing or something else. */
export function errorOf(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    return err as BatonError;
  }
  throw new Error('expected a BatonError, but nothing was thrown');
}
