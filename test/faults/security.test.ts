// Attempts to leave the roots or the run, oversized and slow requests, token guessing, DNS
// rebinding: all refused with a clear code, and the server keeps serving.
import { mkdirSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  eventually,
  makeEnv,
  serve,
  startServer,
  stopServe,
  waitFor,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

describe('security', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let http: Serve | undefined;
  afterEach(async () => {
    await s?.close().catch(() => undefined);
    s = undefined;
    await stopServe(http);
    http = undefined;
    t.cleanup();
  });

  it('cwd escapes (.., symlinks, /proc) and artifact pointers that leave the run are refused', async () => {
    t = makeEnv();
    mkdirSync(join(t.work, 'inside'));
    symlinkSync('/etc', join(t.work, 'to-etc'));
    symlinkSync('/proc/self', join(t.work, 'to-proc'));
    s = await startServer(t);
    for (const cwd of [
      join(t.work, '..', '..'),
      `${t.work}/inside/../../../..`,
      join(t.work, 'to-etc'),
      join(t.work, 'to-proc', 'cwd'),
      '/proc/self/cwd',
      '/',
      'relative/path',
    ]) {
      const res = await s.raw('spawn_run', { agent: 'fixture', cwd, prompt: 'hi' });
      expect(res.isError, cwd).toBe(true);
      expect((res.structuredContent as Summary).error.code, cwd).toMatch(
        /^(CWD_NOT_ALLOWED|CWD_NOT_FOUND|INVALID_PARAMS)$/,
      );
    }
    // prompt_file outside the roots.
    const pf = await s.raw('spawn_run', { agent: 'fixture', cwd: t.work, prompt_file: '/etc/passwd' });
    expect(pf.isError).toBe(true);
    expect((pf.structuredContent as Summary).error.code).toMatch(/^(CWD_NOT_ALLOWED|INVALID_PARAMS)$/);

    // A real run with an artifact, then pointers and offsets that try to leave it.
    // A 20 KB prompt: its message event keeps the text in an artifact file.
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'q'.repeat(20_000),
    })) as Summary;
    await waitFor(s, run.run_id, 'finished');
    const { events } = (await s.call('get_events', { run: run.run_id, limit: 100 })) as { events: Summary[] };
    const big = events.find((e) => e.artifacts?.length) as Summary;
    expect(big).toBeDefined();
    for (const field_path of [
      '/../../../../etc/passwd',
      '../x',
      '/text/../../..',
      '/%2e%2e',
      '/~1etc~1passwd',
      '',
    ]) {
      const res = await s.raw('get_artifact', { run: run.run_id, seq: big.seq, field_path });
      expect(res.isError, field_path).toBe(true);
      expect((res.structuredContent as Summary).error.code).toMatch(/^(ARTIFACT_NOT_FOUND|INVALID_PARAMS)$/);
    }
    const ok = (await s.call('get_artifact', {
      run: run.run_id,
      seq: big.seq,
      field_path: big.artifacts[0].field_path,
      limit: 10,
    })) as Summary;
    expect(ok).toMatchObject({ content: 'q'.repeat(10), offset: 0 });
  });

  it('oversized bodies, slow-loris clients, token guessing and DNS rebinding: refused, still serving', async () => {
    t = makeEnv();
    http = await serve(t);
    const { port, token } = http;

    // 9 MB: answered 413 as soon as the declared length is seen (the client may see the
    // connection closed while it is still sending).
    const huge = await call(port, 'POST', '/api/runs', {
      token,
      body: { agent: 'fixture', cwd: t.work, prompt: 'x'.repeat(9 * 1024 * 1024) },
    }).catch((err: Error) => ({ status: 0, json: { error: { code: err.message } } as Summary }));
    if (huge.status !== 0) {
      expect(huge.status).toBe(413);
      expect(huge.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    } else expect(huge.json.error.code).toMatch(/hang up|EPIPE|ECONNRESET/);

    // 50 clients that send their headers one byte at a time, slowly.
    const slow = Array.from({ length: 50 }, () => {
      const sock = connect(port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.write('GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const timer = setInterval(() => sock.write('X'), 1000);
      let closedAt = 0;
      sock.on('close', () => {
        clearInterval(timer);
        closedAt = Date.now();
      });
      return { sock, closed: () => closedAt };
    });
    // Still answering others while they hang on (before their headers timeout: they send a byte
    // a second and are cut off after 10 s).
    const meanwhile = await call(port, 'GET', '/api/runs', { token });
    expect(meanwhile.status).toBe(200);
    expect(slow.every((c) => c.closed() === 0)).toBe(true);
    // The server hangs up on them (headers timeout), instead of keeping them forever.
    await eventually(() => slow.every((c) => c.closed() > 0), 30_000);
    for (const c of slow) c.sock.destroy();

    // Token guessing: after 20 wrong tokens a minute from one address, that address is refused.
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      statuses.push(
        (await call(port, 'GET', '/api/status', { token: `guess-${i}-0123456789abcdef` })).status,
      );
    }
    expect(statuses.slice(0, 20).every((x) => x === 401)).toBe(true);
    expect(statuses.slice(20).every((x) => x === 429)).toBe(true);
    const limited = await call(port, 'GET', '/api/status', { token: 'another-wrong-guess-0123456789' });
    expect(limited.json.error.code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toBeDefined();

    // DNS rebinding: a foreign Host or Origin is refused even with the token.
    const rebound = await call(port, 'GET', '/api/status', { token, headers: { host: 'evil.example:80' } });
    expect(rebound.status).toBe(403);
    const foreign = await call(port, 'POST', '/api/runs', {
      token,
      headers: { origin: 'http://evil.example' },
      body: { agent: 'fixture', cwd: t.work, prompt: 'hi' },
    });
    expect(foreign.status).toBe(403);
  });
});
