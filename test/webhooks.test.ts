// Webhooks: a receiver on 127.0.0.1 gets `waiting` and `finished` POSTs; a dead hook and a hook
// answering 500 change nothing else (the run completes, the other hook is served).
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alive,
  daemonPid,
  runCli,
  sleep,
  eventually,
  makeEnv,
  startServer,
  steps,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

type Received = { path: string; headers: Record<string, unknown>; body: Summary };

async function receiver(status = 200): Promise<{ url: string; got: Received[]; server: HttpServer }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw) as Summary });
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

describe('webhooks', () => {
  let t: TestEnv;
  let s: Server;
  const servers: HttpServer[] = [];
  afterEach(async () => {
    await s?.close();
    for (const srv of servers.splice(0)) await new Promise((r) => srv.close(r));
    t?.cleanup();
  });

  it('POSTs waiting and finished; failing hooks are retried and never affect the run', async () => {
    const good = await receiver();
    const failing = await receiver(500);
    servers.push(good.server, failing.server);
    t = makeEnv({
      webhooks: [
        { url: `${good.url}/hook`, headers: { 'x-secret': 's3' } },
        { url: `${failing.url}/finished-only`, events: ['finished'] },
        { url: 'http://127.0.0.1:1/dead' },
      ],
    });
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ permission: { title: 'Write x', kind: 'edit', allowed: [{ message: 'ok' }] } }),
    })) as Summary;
    const waiting = (await waitFor(s, run.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    await eventually(() => good.got.length === 1, 10_000);
    expect(good.got[0]).toMatchObject({
      path: '/hook',
      headers: { 'content-type': 'application/json', 'x-secret': 's3' },
      body: { event: 'waiting', run: { run_id: run.run_id, status: 'waiting' } },
    });
    expect(good.got[0]?.body.run.waiting_for.request_id).toBe(waiting.waiting_for.request_id);

    await s.call('answer_permission', { run: run.run_id, option_id: 'allow_once' });
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status).toBe('completed');
    await eventually(() => good.got.length === 2, 10_000);
    expect(good.got[1]?.body).toMatchObject({
      event: 'finished',
      run: { run_id: run.run_id, status: 'completed' },
    });
    // The 500 hook asked only for `finished`, and was tried three times (two retries).
    await eventually(() => failing.got.length === 3, 10_000);
    expect(failing.got.map((g) => g.body.event)).toEqual(['finished', 'finished', 'finished']);
    // baton keeps serving.
    expect(((await s.call('server_status')) as Summary).runs.total).toBe(1);
  });

  it('a confirmation still pending when a new owner starts is announced again (resent), once by that owner', async () => {
    const good = await receiver();
    servers.push(good.server);
    t = makeEnv({ webhooks: [{ url: `${good.url}/hook` }] });
    s = await startServer(t, { daemon: true });
    const asked = (await s.call('request_confirmation', {
      question: 'Deploy to prod?',
      wait: '1s',
    })) as Summary;
    await eventually(() => good.got.length === 1, 10_000);
    expect(good.got[0]?.body).toMatchObject({
      event: 'waiting',
      kind: 'confirmation',
      confirmation: { confirmation_id: asked.confirmation_id, status: 'pending' },
    });
    expect(good.got[0]?.body.resent).toBeUndefined();
    // The owner is killed; the next one (started by a CLI call) announces the question again.
    const pid = daemonPid(t.home) as number;
    process.kill(pid, 'SIGKILL');
    await eventually(() => !alive(pid));
    const listed = await runCli(t, ['confirmations', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    await eventually(() => good.got.length === 2, 10_000);
    expect(good.got[1]?.body).toMatchObject({
      event: 'waiting',
      kind: 'confirmation',
      resent: true,
      confirmation: {
        confirmation_id: asked.confirmation_id,
        status: 'pending',
        question: 'Deploy to prod?',
      },
    });
    // Once per owner: nothing more comes from the new one.
    await sleep(1000);
    expect(good.got).toHaveLength(2);
  });

  it('a webhook URL that is not http(s) stops baton at start-up with the key named', async () => {
    t = makeEnv({ webhooks: [{ url: 'ftp://example.org/x' }] });
    const res = await runCli(t, ['doctor']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/INVALID_CONFIG: .*webhooks\.0\.url/);
  });
});
