// `baton serve`: the REST + SSE API over real HTTP on 127.0.0.1, the built CLI as a child process,
// the fixture ACP agent behind it. Raw node:http requests, so Host and Origin can be forged.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  eventually,
  makeEnv,
  runCli,
  serve,
  sse,
  startServer,
  steps,
  type Serve,
  type Summary,
  type TestEnv,
} from './helpers.js';

/** Sends only the head of a POST that announces `length` bytes; resolves with the response. */
function announce(port: number, token: string, length: number): Promise<{ status: number; json: Summary }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{`,
      );
    });
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      raw += d;
      const m = /^HTTP\/1\.1 (\d+)[\s\S]*?\r\n\r\n([\s\S]*\})/.exec(raw);
      if (m) {
        socket.destroy();
        resolve({ status: Number(m[1]), json: JSON.parse(m[2] ?? '{}') as Summary });
      }
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
  });
}

const WRITE = steps({
  permission: {
    title: 'Write out.txt',
    kind: 'edit',
    locations: ['out.txt'],
    allowed: [{ write_file: { path: 'out.txt', content: 'over http\n' } }, { message: 'Wrote out.txt.' }],
    rejected: [{ message: 'Not written.' }],
  },
});

describe('baton serve: REST + SSE API', () => {
  let t: TestEnv;
  let s: Serve | undefined;
  afterEach(async () => {
    if (s && s.child.exitCode === null) {
      s.child.kill('SIGTERM');
      await new Promise((r) => s?.child.once('exit', r));
    }
    s = undefined;
    t.cleanup();
  });

  it('requires the bearer token, stores a generated one 0600, and refuses forged Host and foreign Origin', async () => {
    t = makeEnv();
    s = await serve(t);
    const file = join(t.home, 'token');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(s.stdout()).not.toContain(s.token);

    const none = await call(s.port, 'GET', '/api/status');
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await call(s.port, 'GET', '/api/status', { token: `${s.token}x` });
    expect(wrong.status).toBe(401);
    const ok = await call(s.port, 'GET', '/api/status', { token: s.token });
    expect(ok.status).toBe(200);
    expect(ok.json.runs).toEqual({ active: 0, total: 0 });

    const forged = await call(s.port, 'GET', '/api/status', {
      token: s.token,
      headers: { host: 'evil.example' },
    });
    expect(forged.status).toBe(403);
    expect(forged.json.error.code).toBe('FORBIDDEN');
    const otherPort = await call(s.port, 'GET', '/api/status', {
      token: s.token,
      headers: { host: `localhost:${s.port + 1}` },
    });
    expect(otherPort.status).toBe(403);
    const foreign = await call(s.port, 'POST', '/api/runs', {
      token: s.token,
      body: { agent: 'fixture', cwd: t.work, prompt: 'hi' },
      headers: { origin: 'http://evil.example' },
    });
    expect(foreign.status).toBe(403);
    const same = await call(s.port, 'GET', '/api/status', {
      token: s.token,
      headers: { host: `localhost:${s.port}`, origin: `http://localhost:${s.port}` },
    });
    expect(same.status).toBe(200);
    // Nothing was started by the refused requests.
    expect((await call(s.port, 'GET', '/api/runs', { token: s.token })).json.runs).toEqual([]);

    // The same token is used again after a restart.
    const first = s.token;
    s.child.kill('SIGTERM');
    await new Promise((r) => s?.child.once('exit', r));
    s = await serve(t);
    expect(s.token).toBe(first);
  });

  it('spawn, waiting, answer, events, and errors with the MCP codes mapped to HTTP statuses', async () => {
    t = makeEnv();
    s = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    const tok = s.token;
    const spawned = await call(s.port, 'POST', '/api/runs', {
      token: tok,
      body: { agent: 'fixture', cwd: t.work, prompt: WRITE, label: 'via-http' },
    });
    expect(spawned.status).toBe(201);
    expect(spawned.json).toMatchObject({ agent: 'fixture', label: 'via-http' });
    const id = spawned.json.run_id as string;
    const waiting = await eventually(async () => {
      const r = await call(s!.port, 'GET', `/api/runs/via-http`, { token: tok });
      return r.json.status === 'waiting' ? r.json : undefined;
    });
    expect(waiting.waiting_for.options.map((o: Summary) => o.option_id)).toContain('allow_once');
    const wrongOption = await call(s.port, 'POST', `/api/runs/${id}/answer`, {
      token: tok,
      body: { option_id: 'nope' },
    });
    expect(wrongOption.status).toBe(404);
    expect(wrongOption.json.error.code).toBe('OPTION_NOT_FOUND');
    const answered = await call(s.port, 'POST', `/api/runs/${id}/answer`, {
      token: tok,
      body: { option_id: 'allow_once' },
    });
    expect(answered.status).toBe(200);
    const done = await eventually(async () => {
      const r = await call(s!.port, 'GET', `/api/runs/${id}`, { token: tok });
      return r.json.status === 'completed' ? r.json : undefined;
    });
    expect(done.result.text).toBe('Wrote out.txt.');
    expect(readFileSync(join(t.work, 'out.txt'), 'utf8')).toBe('over http\n');

    const page = await call(s.port, 'GET', `/api/runs/${id}/events?types=permission_resolved`, {
      token: tok,
    });
    expect(page.json.events.map((e: Summary) => [e.data.option_id, e.data.by])).toEqual([
      ['allow_once', 'api'],
    ]);
    // The first answer won; a second one for the same request is told so, and by whom.
    const late = await call(s.port, 'POST', `/api/runs/${id}/answer`, {
      token: tok,
      body: { option_id: 'reject_once', request_id: waiting.waiting_for.request_id },
    });
    expect(late.status).toBe(409);
    expect(late.json.error.code).toBe('ALREADY_ANSWERED');
    expect(late.json.error.message).toMatch(/already answered by api \(allow_once\)/);

    const again = await call(s.port, 'POST', `/api/runs/${id}/answer`, {
      token: tok,
      body: { option_id: 'allow_once' },
    });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('RUN_NOT_WAITING');
    const missing = await call(s.port, 'GET', '/api/runs/r_nope', { token: tok });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('RUN_NOT_FOUND');
    const bad = await call(s.port, 'POST', '/api/runs', { token: tok, body: '[1,2' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('INVALID_PARAMS');
    // Only the headers are sent: the server must refuse by the announced length, before reading.
    const huge = await announce(s.port, tok, 9 * 1024 * 1024);
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    const nowhere = await call(s.port, 'GET', '/api/nowhere', { token: tok });
    expect(nowhere.status).toBe(404);
    expect(nowhere.json.error.code).toBe('NOT_FOUND');
    const noAgent = await call(s.port, 'POST', '/api/runs', {
      token: tok,
      body: { cwd: t.work, prompt: 'x' },
    });
    expect(noAgent.status).toBe(400);
    expect(noAgent.json.error.message).toMatch(/agent/);
    const follow = await call(s.port, 'POST', `/api/runs/${id}/follow-up`, {
      token: tok,
      body: { message: 'hi again' },
    });
    expect(follow.status).toBe(201);
    expect(follow.json.session_id).toBe(done.session_id);
  });

  it('streams a run over SSE until it ends, and resumes after Last-Event-ID; /api/events announces runs', async () => {
    t = makeEnv();
    s = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    const tok = s.token;
    const all = sse(s.port, '/api/events', tok, {}, (ev) => ev.some((e) => e.data.status === 'completed'));
    await new Promise((r) => setTimeout(r, 200));
    const slow = steps({ message: 'one' }, { sleep: 400 }, { message: 'two' });
    const spawned = await call(s.port, 'POST', '/api/runs', {
      token: tok,
      body: { agent: 'fixture', cwd: t.work, prompt: slow },
    });
    const id = spawned.json.run_id as string;
    const live = await sse(s.port, `/api/runs/${id}/events`, tok);
    // The stream ended by itself with the run, every event once, in order, ids = seq.
    const seqs = live.map((e) => Number(e.id));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(live.map((e) => e.event)).toContain('result');
    expect(live.at(-1)?.data).toMatchObject({ type: 'status', data: { status: 'completed' } });
    const said = live.filter((e) => e.event === 'message' && e.data.data.role === 'assistant');
    expect(said.map((e) => e.data.data.text)).toEqual(['one', 'two']);

    const resumed = await sse(s.port, `/api/runs/${id}/events`, tok, { 'last-event-id': '3' });
    expect(resumed.map((e) => Number(e.id))).toEqual(seqs.slice(3));

    const statuses = await all;
    expect(statuses.filter((e) => e.data.run_id === id).map((e) => e.data.status)).toContain('completed');
  });

  it('refuses a non-loopback address without --allow-remote; SIGTERM exits 0 and the runs go on in the owner', async () => {
    t = makeEnv();
    const refused = await runCli(t, ['serve', '--host', '0.0.0.0', '--port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--allow-remote/);

    s = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    const spawned = await call(s.port, 'POST', '/api/runs', {
      token: s.token,
      body: { agent: 'fixture', cwd: t.work, prompt: steps({ message: 'working' }, { sleep: 30_000 }) },
    });
    const id = spawned.json.run_id as string;
    await eventually(
      async () =>
        (await call(s!.port, 'GET', `/api/runs/${id}`, { token: s!.token })).json.status === 'running',
    );
    const exited = new Promise<number | null>((r) => s?.child.once('exit', (code) => r(code)));
    s.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The run is the owner's (the daemon serve started): it goes on without serve.
    const shown = await runCli(t, ['show', id, '--json']);
    expect(JSON.parse(shown.stdout).status).toBe('running');
    const cancelled = await runCli(t, ['cancel', id, '--json']);
    expect(JSON.parse(cancelled.stdout).status).toBe('cancelled');
  });
  it('serves MCP over streamable HTTP to several clients at once, with the same tools as stdio', async () => {
    t = makeEnv();
    s = await serve(t, { BATON_TOKEN: 'a-test-token-of-some-length' });
    const url = new URL(`http://127.0.0.1:${s.port}/mcp`);
    // A 2025 client (stateful session) and a 2026-07-28 one (per request).
    const connect = async (token?: string, modern = false) => {
      const client = new Client(
        { name: 'http-test', version: '1.0.0' },
        modern ? { versionNegotiation: { mode: 'auto' } } : {},
      );
      await client.connect(
        new StreamableHTTPClientTransport(url, {
          requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} },
        }),
      );
      return client;
    };
    await expect(connect()).rejects.toThrow();
    const a = await connect(s.token);
    const b = await connect(s.token, true);
    expect(a.getNegotiatedProtocolVersion()).toBe('2025-11-25');
    expect(b.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const names = (await a.listTools()).tools.map((x) => x.name).sort();
    const stdio = await startServer(t, { daemon: true });
    const stdioNames = (await stdio.client.listTools()).tools.map((x) => x.name).sort();
    await stdio.close();
    expect(names).toEqual(stdioNames);

    const callTool = async (c: Client, name: string, args: Record<string, unknown>) => {
      const r = (await c.callTool({ name, arguments: args }, { timeout: 60_000 })) as {
        isError?: boolean;
        structuredContent?: Summary;
      };
      expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
      return r.structuredContent as Summary;
    };
    const run = await callTool(a, 'spawn_run', { agent: 'fixture', cwd: t.work, prompt: WRITE });
    const waiting = await callTool(a, 'wait_run', { runs: [run.run_id], timeout: 30 });
    expect(waiting.runs[0].status).toBe('waiting');
    // The other client sees the run and answers it; the first sees the run finish.
    const listed = await callTool(b, 'list_runs', {});
    expect(listed.runs.map((r: Summary) => r.run_id)).toContain(run.run_id);
    await callTool(b, 'answer_permission', { run: run.run_id, option_id: 'allow_once' });
    const done = await callTool(a, 'wait_run', { runs: [run.run_id], until: 'finished', timeout: 30 });
    expect(done.runs[0]).toMatchObject({ status: 'completed', result: { text: 'Wrote out.txt.' } });
    const bad = (await b.callTool({ name: 'get_run', arguments: { run: 'r_nope' } })) as {
      isError?: boolean;
      structuredContent?: Summary;
    };
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent?.error.code).toBe('RUN_NOT_FOUND');
    await a.close();
    await b.close();
  });
});
