// Denial of service and webhooks (security audit C7, C8, C9, C13): a huge unauthenticated /login
// body is refused unread, token guessers cannot lock out the right token, a FIFO prompt_file and a
// backtracking output_schema pattern do not freeze the server, webhooks follow no redirects.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  eventually,
  makeEnv,
  replyingAgent,
  rssMiB,
  serve,
  sleep,
  stopServe,
  type Serve,
  type Summary,
  type TestEnv,
} from '../helpers.js';

/** POSTs a form body to /login (declared length, or chunked); the status, or the socket error. */
function postLogin(
  port: number,
  body: string | Buffer,
  opts: { chunked?: boolean; cookie?: boolean } = {},
): Promise<{ status: number; location?: string; cookie?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/login',
        headers: {
          host: `127.0.0.1:${port}`,
          'content-type': 'application/x-www-form-urlencoded',
          ...(opts.chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.location ? { location: res.headers.location } : {}),
            ...(res.headers['set-cookie'] ? { cookie: String(res.headers['set-cookie']) } : {}),
          }),
        );
      },
    );
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
    if (opts.chunked) {
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      let sent = 0;
      const pump = () => {
        while (sent < Buffer.byteLength(body)) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    } else req.end(body);
  });
}

async function receiver(answer: (res: import('node:http').ServerResponse) => void) {
  const got: { headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      answer(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

describe('denial of service', () => {
  let t: TestEnv;
  let http: Serve | undefined;
  const servers: HttpServer[] = [];
  afterEach(async () => {
    // A server frozen by a blocking read would not handle SIGTERM: make sure it goes.
    if (http && http.child.exitCode === null) {
      const killer = setTimeout(() => http?.child.kill('SIGKILL'), 5000);
      await stopServe(http);
      clearTimeout(killer);
    }
    http = undefined;
    for (const srv of servers.splice(0)) await new Promise((r) => srv.close(r));
    t.cleanup();
  });

  it('C7: a 20 MB /login body is refused at once, unread (memory does not grow)', async () => {
    t = makeEnv();
    http = await serve(t);
    const pid = http.child.pid as number;
    const before = rssMiB(pid);
    const big = `token=${'a'.repeat(20 * 1024 * 1024)}`;
    const started = Date.now();
    const declared = await postLogin(http.port, big);
    expect(Date.now() - started).toBeLessThan(3000);
    if (declared.status !== 0) expect(declared.status).toBe(413);
    else expect(declared.error).toMatch(/EPIPE|ECONNRESET|hang up/);
    // Without a declared length (chunked), reading stops at the limit.
    const chunked = await postLogin(http.port, big, { chunked: true });
    if (chunked.status !== 0) expect(chunked.status).toBe(413);
    else expect(chunked.error).toMatch(/EPIPE|ECONNRESET|hang up/);
    expect(rssMiB(pid) - before).toBeLessThan(60);
    // A normal login form still works.
    const ok = await postLogin(http.port, `token=${http.token}`);
    expect(ok).toMatchObject({ status: 303, location: '/' });
    expect(ok.cookie).toMatch(/baton_session=/);
  });

  it('C8: after many wrong tokens from the same address, the right token and a login code still work', async () => {
    t = makeEnv();
    http = await serve(t);
    const { port, token } = http;
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      statuses.push(
        (await call(port, 'GET', '/api/status', { token: `wrong-${i}-0123456789abcdef` })).status,
      );
    }
    expect(statuses.slice(0, 20).every((x) => x === 401)).toBe(true);
    expect(statuses.slice(20).every((x) => x === 429)).toBe(true);
    // The right token is never locked out: /api, /mcp.
    const status = await call(port, 'GET', '/api/status', { token });
    expect(status.status).toBe(200);
    expect(status.json.version).toBeTruthy();
    const mcp = await call(port, 'POST', '/mcp', {
      token,
      headers: { accept: 'application/json, text/event-stream' },
      body: { jsonrpc: '2.0', id: 1, method: 'ping' },
    });
    // Past authentication (the MCP layer answers, whatever it thinks of a bare ping).
    expect([401, 429]).not.toContain(mcp.status);

    // Dashboard logins: ten wrong tokens, then the right one and a fresh one-time code pass.
    for (let i = 0; i < 12; i++) {
      const wrong = await postLogin(port, `token=wrong-${i}`);
      expect(wrong.status).toBe(303);
      // The tenth wrong one reaches the limit.
      expect(wrong.location).toBe(i < 9 ? '/#login=wrong' : '/#login=throttled');
    }
    const right = await postLogin(port, `token=${token}`);
    expect(right).toMatchObject({ status: 303, location: '/' });
    const minted = await call(port, 'POST', '/api/login-codes', { token });
    const url = new URL(minted.json.url as string);
    const byCode = await call(port, 'GET', `${url.pathname}${url.search}`);
    expect(byCode.status).toBe(303);
    expect(byCode.headers.location).toBe('/');
    expect(String(byCode.headers['set-cookie'])).toMatch(/baton_session=/);
  });

  it('C9a: a FIFO as prompt_file is refused at once, and the server answers meanwhile', async () => {
    t = makeEnv();
    const fifo = join(t.work, 'prompt.fifo');
    execFileSync('mkfifo', [fifo]);
    http = await serve(t);
    const { port, token } = http;
    const started = Date.now();
    const [spawned, status] = await Promise.all([
      call(port, 'POST', '/api/runs', { token, body: { agent: 'fixture', cwd: t.work, prompt_file: fifo } }),
      sleep(100).then(() => call(port, 'GET', '/api/status', { token })),
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(spawned.status).toBe(400);
    expect(spawned.json.error.code).toBe('INVALID_PARAMS');
    expect(spawned.json.error.message).toMatch(/not a regular file/);
    expect(status.status).toBe(200);
    // A folder too; a regular file inside the roots still works.
    const folder = await call(port, 'POST', '/api/runs', {
      token,
      body: { agent: 'fixture', cwd: t.work, prompt_file: t.work },
    });
    expect(folder.json.error.code).toBe('INVALID_PARAMS');
    const file = join(t.work, 'prompt.txt');
    execFileSync('sh', ['-c', `printf 'hello from a file' > '${file}'`]);
    const ok = await call(port, 'POST', '/api/runs', {
      token,
      body: { agent: 'fixture', cwd: t.work, prompt_file: file },
    });
    expect(ok.status).toBe(201);
    expect(ok.json.run_id).toMatch(/^r_/);
  });

  it('C9b: an output_schema pattern that backtracks does not freeze the server', async () => {
    // 36 a's and a '!': on the main thread `^(a+)+$` would backtrack 2^36 ways (many minutes).
    const answer = JSON.stringify({ a: `${'a'.repeat(36)}!` });
    t = makeEnv((dir) => ({ agents: { replier: replyingAgent(dir, 'replier', 'answer', answer) } }));
    http = await serve(t);
    const { port, token } = http;
    const spawned = await call(port, 'POST', '/api/runs', {
      token,
      body: {
        agent: 'replier',
        cwd: t.work,
        prompt: 'answer',
        output_schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } },
      },
    });
    expect(spawned.status).toBe(201);
    const runId = spawned.json.run_id as string;
    // The server keeps answering while the run validates (twice: the answer and the corrected one).
    const slowest = { ms: 0 };
    const done = await eventually(async () => {
      const t0 = Date.now();
      const status = await call(port, 'GET', '/api/status', { token });
      slowest.ms = Math.max(slowest.ms, Date.now() - t0);
      expect(status.status).toBe(200);
      const run = await call(port, 'GET', `/api/runs/${runId}`, { token });
      return ['completed', 'failed'].includes(run.json.status as string) ? run.json : undefined;
    }, 60_000);
    // Frozen would be minutes; a loaded 2-core machine answered a status call in 4.4 s once.
    expect(slowest.ms).toBeLessThan(15_000);
    expect(done.status).toBe('completed');
    expect((done as Summary).result.structured_error.message).toMatch(/stopped after/);
  });

  it('C13: a webhook answering 307 to another server: that server gets nothing (no headers, no payload)', async () => {
    const second = await receiver((res) => res.writeHead(200).end());
    const first = await receiver((res) => res.writeHead(307, { location: `${second.url}/stolen` }).end());
    servers.push(first.server, second.server);
    t = makeEnv({
      webhooks: [{ url: `${first.url}/hook`, headers: { 'x-hook-secret': 'hook-secret-BBB' } }],
    });
    http = await serve(t);
    const { port, token } = http;
    const spawned = await call(port, 'POST', '/api/runs', {
      token,
      body: { agent: 'fixture', cwd: t.work, prompt: 'hi' },
    });
    expect(spawned.status).toBe(201);
    await eventually(() => first.got.length >= 1, 20_000);
    expect(first.got[0]?.headers['x-hook-secret']).toBe('hook-secret-BBB');
    // Long enough for a followed redirect (and its retries) to arrive.
    await sleep(1500);
    expect(second.got).toEqual([]);
    // Webhooks are sent by the owner (the daemon serve started): its log says why.
    expect(readFileSync(join(t.home, 'daemon.log'), 'utf8')).toMatch(/does not follow webhook redirects/);
  });
  it('S7: SSE streams are capped per server: past 256 open ones a new stream is refused (429, Retry-After), and a freed slot is reused', async () => {
    t = makeEnv();
    http = await serve(t);
    const { port, token } = http;
    /** Opens /api/events and resolves once the status line arrived; the stream stays open. */
    const open = () =>
      new Promise<{ status: number; retry?: string; close: () => void }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/api/events',
            agent: false,
            headers: {
              host: `127.0.0.1:${port}`,
              accept: 'text/event-stream',
              authorization: `Bearer ${token}`,
            },
          },
          (res) => {
            res.resume();
            resolve({
              status: res.statusCode ?? 0,
              ...(res.headers['retry-after'] ? { retry: String(res.headers['retry-after']) } : {}),
              close: () => req.destroy(),
            });
          },
        );
        req.on('error', (err) => {
          if (!req.destroyed) reject(err);
        });
        req.end();
      });
    const streams = [];
    for (let i = 0; i < 256; i++) streams.push(await open());
    expect(streams.every((s) => s.status === 200)).toBe(true);
    const refused = await open();
    expect(refused).toMatchObject({ status: 429, retry: '5' });
    refused.close();
    // The REST API still answers meanwhile.
    expect((await call(port, 'GET', '/api/status', { token })).status).toBe(200);
    streams.pop()?.close();
    const again = await eventually(async () => {
      const s = await open();
      if (s.status === 200) return s;
      s.close();
      return undefined;
    }, 10_000);
    expect(again.status).toBe(200);
    again.close();
    for (const s of streams) s.close();
  });
});
