import { randomBytes } from 'node:crypto';

/** A new id with a type prefix: `r_` runs, `s_` sessions, `p_` permission requests. */
export function newId(prefix: 'r' | 's' | 'p' | 'i' | 'c'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
