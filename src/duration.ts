import { BatonError } from './errors.js';

/** Longest duration a timer can hold (Node fires longer ones at once). */
export const MAX_DURATION_MS = 2_147_483_647;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration given as seconds (number) or a string such as "90s", "5m", "1h", "1h30m", "250ms".
 * Throws INVALID_PARAMS naming `field` when the value is not a positive duration.
 */
export function parseDuration(value: unknown, field: string): number {
  if (typeof value === 'number') {
    const ms = Math.round(value * 1000);
    if (Number.isFinite(value) && ms > 0 && ms <= MAX_DURATION_MS) return ms;
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text), field);
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
    if (parts.length > 0 && parts.map((p) => p[0]).join('') === text) {
      const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2] ?? 's'] ?? 1000), 0);
      if (Math.round(ms) > 0 && Math.round(ms) <= MAX_DURATION_MS) return Math.round(ms);
    }
  }
  throw new BatonError(
    'INVALID_PARAMS',
    `${field} must be a positive duration of at most 24 days: a number of seconds or a string such as "90s", "5m", "1h" (got ${JSON.stringify(value)})`,
  );
}

/** Formats milliseconds as a short human duration ("1m30s", "450ms"). */
export function formatDuration(ms: number): string {
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}

/** Longest `wait_run` wait, below the 60 s request timeout of most MCP hosts. */
export const WAIT_MAX_MS = 55_000;
/** `wait_run`'s wait when it gives no timeout. */
export const WAIT_DEFAULT_MS = 50_000;

/** How long a `wait_run` with this `timeout` blocks: the default, capped at {@link WAIT_MAX_MS}. */
export function waitTimeoutMs(timeout: string | number | undefined): number {
  return Math.min(timeout === undefined ? WAIT_DEFAULT_MS : parseDuration(timeout, 'timeout'), WAIT_MAX_MS);
}
