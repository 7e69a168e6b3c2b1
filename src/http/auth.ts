import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a one-time login code works. */
const CODE_TTL_MS = 10 * 60_000;
/** How long a dashboard login lasts. */
const SESSION_TTL_MS = 7 * 24 * 3600_000;
/** Most live dashboard sessions; the oldest goes first. */
const MAX_SESSIONS = 1000;
/** Wrong tokens or codes allowed per source and minute; past it, wrong ones are told "throttled". */
const FAILURES_PER_MINUTE = 10;
/** Most sources whose failures are remembered; the oldest goes first. */
const MAX_SOURCES = 10_000;

/** The name of the dashboard's session cookie. */
export const SESSION_COOKIE = 'baton_session';

/** Constant-time comparison of two secrets (of any length). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

type Session = { csrf: string; expires: number };

/**
 * Dashboard logins: one-time codes (printed by `baton serve`, minted over the API) that turn into
 * a session cookie, each session with its own CSRF token. Kept in memory: a restart logs out.
 */
export class DashboardAuth {
  readonly #codes = new Map<string, number>();
  readonly #sessions = new Map<string, Session>();
  /** Failed logins per source (client address) in the current minute. */
  readonly #failures = new Map<string, { minute: number; count: number }>();

  /** A new one-time login code, valid for 10 minutes. */
  mintCode(): { code: string; expires_at: string } {
    const code = randomBytes(24).toString('base64url');
    const expires = Date.now() + CODE_TTL_MS;
    this.#codes.set(code, expires);
    return { code, expires_at: new Date(expires).toISOString() };
  }

  /**
   * Spends a one-time code; true when it was valid. A valid code always works, however many wrong
   * ones `from` sent: only wrong codes are counted (per source).
   */
  spendCode(code: string, from: string): boolean {
    this.#prune();
    for (const [known, expires] of this.#codes) {
      if (sameSecret(known, code)) {
        this.#codes.delete(known);
        return expires > Date.now();
      }
    }
    this.#failed(from);
    return false;
  }

  /** True while `from` sent too many wrong tokens or codes this minute (guessing). */
  throttled(from: string): boolean {
    const minute = Math.floor(Date.now() / 60_000);
    const f = this.#failures.get(from);
    return f !== undefined && f.minute === minute && f.count >= FAILURES_PER_MINUTE;
  }

  /** Counts a failed login of `from`. */
  #failed(from: string): void {
    const minute = Math.floor(Date.now() / 60_000);
    const f = this.#failures.get(from);
    if (f && f.minute === minute) {
      f.count++;
      return;
    }
    this.#failures.delete(from);
    this.#failures.set(from, { minute, count: 1 });
    if (this.#failures.size > MAX_SOURCES)
      this.#failures.delete(this.#failures.keys().next().value as string);
  }

  /** Checks a pasted token; counts wrong ones for `from`. The right token always works. */
  checkToken(given: string, token: string, from: string): boolean {
    const ok = sameSecret(given, token);
    if (!ok) this.#failed(from);
    return ok;
  }

  /** Starts a session: its cookie value and lifetime in seconds. */
  startSession(): { id: string; maxAge: number } {
    this.#prune();
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, {
      csrf: randomBytes(32).toString('base64url'),
      expires: Date.now() + SESSION_TTL_MS,
    });
    return { id, maxAge: Math.floor(SESSION_TTL_MS / 1000) };
  }

  /** The live session of a cookie value, or undefined. */
  session(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expires <= Date.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** Ends a session. */
  endSession(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  #prune(): void {
    const now = Date.now();
    for (const [code, expires] of this.#codes) if (expires <= now) this.#codes.delete(code);
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
  }
}
