import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a one-time login code works. */
const CODE_TTL_MS = 10 * 60_000;
/** How long a dashboard login lasts. */
const SESSION_TTL_MS = 7 * 24 * 3600_000;
/** Most live dashboard sessions; the oldest goes first. */
const MAX_SESSIONS = 1000;
/** Wrong tokens or codes allowed per minute before login answers 429 for the rest of the minute. */
const FAILURES_PER_MINUTE = 10;

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
  #failures: { minute: number; count: number } = { minute: 0, count: 0 };

  /** A new one-time login code, valid for 10 minutes. */
  mintCode(): { code: string; expires_at: string } {
    const code = randomBytes(24).toString('base64url');
    const expires = Date.now() + CODE_TTL_MS;
    this.#codes.set(code, expires);
    return { code, expires_at: new Date(expires).toISOString() };
  }

  /** Spends a one-time code; true when it was valid. */
  spendCode(code: string): boolean {
    this.#prune();
    for (const [known, expires] of this.#codes) {
      if (sameSecret(known, code)) {
        this.#codes.delete(known);
        return expires > Date.now();
      }
    }
    this.#failed();
    return false;
  }

  /** True while too many logins failed this minute (token guessing). */
  throttled(): boolean {
    const minute = Math.floor(Date.now() / 60_000);
    return this.#failures.minute === minute && this.#failures.count >= FAILURES_PER_MINUTE;
  }

  /** Counts a failed login. */
  #failed(): void {
    const minute = Math.floor(Date.now() / 60_000);
    if (this.#failures.minute !== minute) this.#failures = { minute, count: 0 };
    this.#failures.count++;
  }

  /** Checks a pasted token; counts failures. */
  checkToken(given: string, token: string): boolean {
    const ok = sameSecret(given, token);
    if (!ok) this.#failed();
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
