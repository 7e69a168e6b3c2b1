import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { BatonError, toBatonError, type ErrorCode } from '../errors.js';
import type { Baton } from '../ops/baton.js';
import { createWaker, follow } from '../ops/follow.js';
import { DashboardAuth, SESSION_COOKIE, sameSecret } from './auth.js';
import { serveDashboard } from './dashboard.js';
import { createMcpEndpoint } from './mcp.js';
import { mountA2a } from './a2a.js';

/** Largest request body /api reads. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** The login form carries only a token. */
const LOGIN_BODY_BYTES = 4096;

/** Options of {@link createHttpApp}. */
export type HttpOptions = {
  /** The bearer token every /api request must carry. */
  token: string;
  /** Host names the server answers to (without port); anything else is refused (DNS rebinding). */
  hostnames: string[];
  /** The port it listens on (the Host header must name it). */
  port: number;
  /** Serve this baton's agents over A2A under /a2a; their runs work in `cwd`. */
  a2a?: { cwd: string };
};

/** Live SSE streams one server keeps open at once (each holds a watcher on the owner). */
const MAX_STREAMS = 256;

/** Counts open streams; past the limit a new one is refused (503 with Retry-After), not queued. */
class StreamBudget {
  #open = 0;
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  /** Takes one slot or throws; the returned release may be called more than once. */
  take(c: Context): () => void {
    if (this.#open >= this.#max) {
      c.header('Retry-After', '5');
      throw new BatonError(
        'RATE_LIMITED',
        `this server already streams to ${this.#max} clients; close a dashboard tab or an SSE client and retry`,
      );
    }
    this.#open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
    };
  }
}

/** HTTP status for each error code a caller can get (JSON body `{ error: { code, message } }`). */
function statusOf(code: ErrorCode): 400 | 401 | 403 | 404 | 409 | 413 | 422 | 429 | 500 | 503 {
  switch (code) {
    case 'INVALID_PARAMS':
    case 'NOT_A_GIT_REPO':
    case 'CWD_NOT_ALLOWED':
    case 'CWD_NOT_FOUND':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN':
    case 'NOT_APPROVER':
      return 403;
    case 'NOT_FOUND':
    case 'RUN_NOT_FOUND':
    case 'SESSION_NOT_FOUND':
    case 'AGENT_NOT_FOUND':
    case 'REQUEST_NOT_FOUND':
    case 'OPTION_NOT_FOUND':
    case 'ARTIFACT_NOT_FOUND':
    case 'EVENT_NOT_FOUND':
      return 404;
    case 'RUN_NOT_WAITING':
    case 'RUN_FINISHED':
    case 'LABEL_TAKEN':
    case 'LABEL_AMBIGUOUS':
    case 'ALREADY_ANSWERED':
      return 409;
    case 'AGENT_NOT_INSTALLED':
    case 'AGENT_NOT_READY':
    case 'MODEL_NOT_AVAILABLE':
    case 'NOT_SUPPORTED':
    case 'RESUME_NOT_SUPPORTED':
      return 422;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'RATE_LIMITED':
      return 429;
    case 'HOST_UNREACHABLE':
      return 503;
    default:
      return 500;
  }
}

function errorResponse(c: Context, err: unknown): Response {
  const e = toBatonError(err);
  return c.json({ error: { code: e.code, message: e.message } }, statusOf(e.code));
}

/** The host name and port of a Host header (`[::1]:7420`, `localhost:7420`, `127.0.0.1`). */
function parseHost(host: string): { name: string; port: string | undefined } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  return m ? { name: m[1] ?? '', port: m[2] } : { name: '', port: undefined };
}

/** What the /api middleware learned about the request: who acts (`api` with the token, `dashboard` with a login cookie). */
type Env = { Variables: { by: string } };

/** The client's address (the TCP peer), for per-client limits. */
function remoteAddress(c: Context<Env>): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/**
 * Wrong bearer tokens per client address: after 20 in a minute, that address is refused (429)
 * until the minute is over, whatever token it sends (so a guess cannot be confirmed meanwhile).
 */
class GuessLimiter {
  static readonly LIMIT = 20;
  static readonly WINDOW_MS = 60_000;
  readonly #failures = new Map<string, number[]>();

  #recent(from: string): number[] {
    const now = Date.now();
    const list = (this.#failures.get(from) ?? []).filter((t) => now - t < GuessLimiter.WINDOW_MS);
    if (list.length) this.#failures.set(from, list);
    else this.#failures.delete(from);
    return list;
  }

  failed(from: string): void {
    const list = this.#recent(from);
    list.push(Date.now());
    this.#failures.set(from, list);
    // Bounded: a flood of addresses cannot grow the map without limit.
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value as string);
  }

  /** Milliseconds until `from` may try again (0: it may). */
  blockedFor(from: string): number {
    const list = this.#recent(from);
    if (list.length < GuessLimiter.LIMIT) return 0;
    return GuessLimiter.WINDOW_MS - (Date.now() - (list[list.length - GuessLimiter.LIMIT] as number));
  }
}

function runTool(c: Context<Env>, baton: Baton, name: string, args: unknown) {
  // Answers are recorded with who gave them: `api` (bearer token), `dashboard` (login cookie).
  return baton.call(name, args, { via: c.get('by') });
}

/** Query values as tool arguments: numbers where they look like numbers, lists split on commas. */
function queryArgs(c: Context, numbers: string[], lists: string[] = [], flags: string[] = []) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.req.query())) {
    if (numbers.includes(k) && /^-?\d+$/.test(v)) out[k] = Number(v);
    else if (lists.includes(k)) out[k] = v.split(',').filter(Boolean);
    else if (flags.includes(k)) out[k] = v === 'true' || v === '1' || v === '';
    else out[k] = v;
  }
  return out;
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // below
  }
  throw new BatonError('INVALID_PARAMS', 'the request body must be a JSON object');
}

/**
 * The REST + SSE API of `baton serve` (`/api`), over the same tool definitions as MCP, so the same
 * operation has the same parameters, results and error codes. Every request's Host must be one
 * the server answers to, an `Origin` (when sent) must be this server's own, and `/api` requires
 * `Authorization: Bearer <token>` (compared in constant time).
 */
export function createHttpApp(
  baton: Baton,
  opts: HttpOptions,
): { app: Hono<Env>; auth: DashboardAuth; close: () => Promise<void> } {
  const app = new Hono<Env>();
  const auth = new DashboardAuth();
  const hostnames = new Set(opts.hostnames.map((h) => h.toLowerCase()));

  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) =>
    c.json({ error: { code: 'NOT_FOUND', message: `no such endpoint: ${c.req.method} ${c.req.path}` } }, 404),
  );
  // DNS rebinding: a page on evil.example that resolves to 127.0.0.1 still sends its own Host.
  app.use('*', async (c, next) => {
    const host = parseHost(c.req.header('host') ?? '');
    if (!hostnames.has(host.name) || (host.port !== undefined && host.port !== String(opts.port))) {
      throw new BatonError(
        'FORBIDDEN',
        `Host "${c.req.header('host') ?? ''}" is not one this server answers to (${[...hostnames].join(', ')})`,
      );
    }
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      let same = false;
      try {
        const o = new URL(origin);
        const oh = parseHost(o.host);
        same = hostnames.has(oh.name) && (o.port || '80') === String(opts.port) && o.protocol === 'http:';
      } catch {
        same = false;
      }
      if (!same) throw new BatonError('FORBIDDEN', `requests from Origin ${origin} are refused`);
    }
    await next();
  });

  const bearer = (c: Context<Env>) => /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  const guesses = new GuessLimiter();
  const streams = new StreamBudget(MAX_STREAMS);
  // Bodies past the limit are refused unread; the connection is closed (the rest of the body is
  // still on its way, so it cannot carry another request).
  const tooLarge = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => {
      c.header('Connection', 'close');
      throw new BatonError('PAYLOAD_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    },
  });
  // The right token always passes: only wrong ones are counted and refused (429) per source, so
  // a client guessing tokens cannot lock out the others (on loopback they all share 127.0.0.1).
  const requireToken = async (c: Context<Env>, next: () => Promise<void>) => {
    const m = bearer(c);
    if (m && sameSecret(m[1] ?? '', opts.token)) {
      c.set('by', 'api');
      await next();
      return;
    }
    if (m) {
      const from = remoteAddress(c);
      const wait = guesses.blockedFor(from);
      if (wait > 0) {
        c.header('Retry-After', String(Math.ceil(wait / 1000)));
        throw new BatonError(
          'RATE_LIMITED',
          `too many wrong tokens from ${from}; try again in ${Math.ceil(wait / 1000)}s`,
        );
      }
      guesses.failed(from);
    }
    c.header('WWW-Authenticate', 'Bearer realm="baton"');
    throw new BatonError(
      'UNAUTHORIZED',
      m
        ? 'the bearer token is wrong'
        : 'send Authorization: Bearer <token> (BATON_TOKEN or $BATON_HOME/token)',
    );
  };
  // /api takes the bearer token, or the dashboard's login cookie; with the cookie, every request
  // that changes something must carry the session's CSRF token in X-CSRF-Token.
  app.use('/api/*', async (c, next) => {
    if (bearer(c) || !getCookie(c, SESSION_COOKIE)) return requireToken(c, next);
    const session = auth.session(getCookie(c, SESSION_COOKIE));
    if (!session) {
      throw new BatonError(
        'UNAUTHORIZED',
        'the dashboard login expired; open a new login URL (baton serve prints one)',
      );
    }
    if (!['GET', 'HEAD'].includes(c.req.method)) {
      const given = c.req.header('x-csrf-token') ?? '';
      if (!given || !sameSecret(given, session.csrf)) {
        throw new BatonError(
          'FORBIDDEN',
          'missing or wrong X-CSRF-Token: state-changing requests must come from the dashboard page',
        );
      }
    }
    c.set('by', 'dashboard');
    await next();
  });
  // A prompt may be 1,000,000 characters (up to 4 MB of UTF-8): bodies past 8 MB are refused unread,
  // on every route (/api, /mcp, /a2a, /login, /logout …).
  app.use('*', tooLarge);
  app.use('/mcp', requireToken);
  if (opts.a2a) {
    mountA2a(app, baton, { cwd: opts.a2a.cwd, requireToken });
  }

  // MCP over streamable HTTP (2026-07-28 per request, 2025 clients in stateful sessions).
  const mcp = createMcpEndpoint(baton);
  app.all('/mcp', (c) => mcp.fetch(c.req.raw));

  // Dashboard login: a one-time code from `baton serve` (or POST /api/login-codes), or the token
  // pasted into the login form. Either gives an HttpOnly, SameSite=Strict session cookie.
  const login = (c: Context<Env>) => {
    const { id, maxAge } = auth.startSession();
    setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/', maxAge });
    return c.redirect('/', 303);
  };
  // A valid code or the right token always logs in; wrong ones are counted per source, and past
  // the limit the page says "throttled" instead of "wrong".
  app.get('/login', (c) => {
    const code = c.req.query('code');
    const from = remoteAddress(c);
    if (code && auth.spendCode(code, from)) return login(c);
    return c.redirect(auth.throttled(from) ? '/#login=throttled' : '/#login=expired', 303);
  });
  // The login form is a token: 4 KB is plenty, and nothing bigger is read (unauthenticated).
  const loginLimit = bodyLimit({
    maxSize: LOGIN_BODY_BYTES,
    onError: (c) => {
      c.header('Connection', 'close');
      throw new BatonError('PAYLOAD_TOO_LARGE', `login bodies are limited to ${LOGIN_BODY_BYTES} bytes`);
    },
  });
  app.post('/login', loginLimit, async (c) => {
    const from = remoteAddress(c);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (token && auth.checkToken(token, opts.token, from)) return login(c);
    return c.redirect(auth.throttled(from) ? '/#login=throttled' : '/#login=wrong', 303);
  });
  app.post('/logout', (c) => {
    auth.endSession(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/', 303);
  });
  app.get('/api/session', (c) => {
    if (c.get('by') !== 'dashboard') return c.json({ by: c.get('by') });
    const session = auth.session(getCookie(c, SESSION_COOKIE));
    return c.json({ by: 'dashboard', csrf_token: session?.csrf });
  });
  app.post('/api/login-codes', (c) => {
    if (c.get('by') !== 'api')
      throw new BatonError('FORBIDDEN', 'login codes are minted with the bearer token');
    const { code, expires_at } = auth.mintCode();
    return c.json({ url: `${new URL(c.req.url).origin}/login?code=${code}`, expires_at }, 201);
  });
  serveDashboard(app);

  app.get('/api/status', async (c) => c.json(await runTool(c, baton, 'server_status', {})));
  app.get('/api/agents', async (c) => c.json(await runTool(c, baton, 'list_agents', {})));
  app.get('/api/runs', async (c) => c.json(await runTool(c, baton, 'list_runs', queryArgs(c, ['limit']))));
  app.post('/api/runs', async (c) => c.json(await runTool(c, baton, 'spawn_run', await jsonBody(c)), 201));
  app.post('/api/wake', async (c) => c.json(await runTool(c, baton, 'wake', await jsonBody(c))));
  app.get('/api/terminals', async (c) => c.json(await runTool(c, baton, 'list_terminals', {})));
  app.post('/api/terminals/adopt', async (c) =>
    c.json(await runTool(c, baton, 'adopt_terminal', await jsonBody(c)), 201),
  );
  app.get('/api/runs/:run', async (c) =>
    c.json(await runTool(c, baton, 'get_run', { run: c.req.param('run') })),
  );
  app.post('/api/runs/:run/answer', async (c) =>
    c.json(await runTool(c, baton, 'answer_permission', { ...(await jsonBody(c)), run: c.req.param('run') })),
  );
  app.post('/api/runs/:run/follow-up', async (c) =>
    c.json(await runTool(c, baton, 'follow_up', { ...(await jsonBody(c)), run: c.req.param('run') }), 201),
  );
  app.post('/api/runs/:run/cancel', async (c) =>
    c.json(await runTool(c, baton, 'cancel_run', { ...(await jsonBody(c)), run: c.req.param('run') })),
  );
  app.get('/api/runs/:run/terminal', async (c) =>
    c.json(
      await runTool(c, baton, 'read_terminal', {
        ...queryArgs(c, ['lines'], [], ['raw']),
        run: c.req.param('run'),
      }),
    ),
  );
  app.post('/api/runs/:run/keys', async (c) =>
    c.json(await runTool(c, baton, 'send_keys', { ...(await jsonBody(c)), run: c.req.param('run') })),
  );
  app.get('/api/runs/:run/diff', async (c) =>
    c.json(
      await runTool(c, baton, 'get_diff', { ...queryArgs(c, ['offset', 'limit']), run: c.req.param('run') }),
    ),
  );
  app.post('/api/runs/:run/discard', async (c) =>
    c.json(await runTool(c, baton, 'discard_run', { run: c.req.param('run') })),
  );
  app.get('/api/runs/:run/artifact', async (c) =>
    c.json(
      await runTool(c, baton, 'get_artifact', {
        ...queryArgs(c, ['seq', 'offset', 'limit']),
        run: c.req.param('run'),
      }),
    ),
  );

  app.get('/api/confirmations', async (c) =>
    c.json(await runTool(c, baton, 'list_confirmations', queryArgs(c, ['limit']))),
  );
  app.post('/api/confirmations/:id/answer', async (c) =>
    c.json(
      await runTool(c, baton, 'answer_confirmation', {
        ...(await jsonBody(c)),
        confirmation_id: c.req.param('id'),
      }),
    ),
  );
  // One run's events: a JSON page, or (Accept: text/event-stream) a live stream that resumes
  // after Last-Event-ID (the event seq) and ends once the run is final and every event was sent.
  app.get('/api/runs/:run/events', async (c) => {
    const ref = c.req.param('run');
    if (!(c.req.header('accept') ?? '').includes('text/event-stream')) {
      return c.json(
        await runTool(c, baton, 'get_events', {
          ...queryArgs(c, ['after_seq', 'limit'], ['types'], ['tail']),
          run: ref,
        }),
      );
    }
    const row = await runTool(c, baton, 'get_run', { run: ref });
    const runId = String(row.run_id);
    const lastId = c.req.header('last-event-id') ?? c.req.query('after_seq');
    const after = lastId && /^\d+$/.test(lastId) ? Number(lastId) : 0;
    const release = streams.take(c);
    return streamSSE(c, async (stream) => {
      stream.onAbort(release);
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      for await (const item of follow(baton, runId, { afterSeq: after, signal: abort.signal })) {
        if (item.type === 'events') {
          for (const e of item.events) {
            await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e) });
          }
        } else if (item.type === 'idle') {
          // A keep-alive comment every 15 s keeps proxies from closing an idle stream.
          await stream.write(': keep-alive\n\n');
        }
        if (stream.aborted) break;
      }
      release();
    });
  });

  // Every run's status changes, as they happen.
  app.get('/api/events', (c) => {
    const release = streams.take(c);
    return streamSSE(c, async (stream) => {
      stream.onAbort(release);
      const pending = new Set<string>();
      const confirmations = new Set<string>();
      const waker = createWaker();
      const stopWatching = baton.watch(
        (change) => {
          if (change.type === 'confirmation') confirmations.add(change.confirmation_id);
          else if (change.type === 'run') pending.add(change.run_id);
          else return;
          waker.wake();
        },
        { events: false },
      );
      stream.onAbort(() => waker.wake());
      try {
        while (!stream.aborted) {
          for (const runId of [...pending]) {
            pending.delete(runId);
            const run = await baton.call('get_run', { run: runId }).catch(() => undefined);
            if (run) await stream.writeSSE({ event: 'run', data: JSON.stringify(run) });
          }
          for (const id of [...confirmations]) {
            confirmations.delete(id);
            const one = await baton.call('get_confirmation', { confirmation_id: id }).catch(() => undefined);
            if (one) await stream.writeSSE({ event: 'confirmation', data: JSON.stringify(one) });
          }
          if (pending.size > 0 || confirmations.size > 0) continue;
          await waker.sleep(15_000);
          if (pending.size === 0 && confirmations.size === 0 && !stream.aborted)
            await stream.write(': keep-alive\n\n');
        }
      } finally {
        stopWatching();
        release();
      }
    });
  });

  return { app, auth, close: () => mcp.close() };
}
