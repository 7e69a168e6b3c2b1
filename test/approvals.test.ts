// Who answers permission prompts: spawn_run's `approver` (any, caller, human), and people asked
// through MCP elicitation by real SDK clients, over stdio (2025 protocol) and over HTTP (a 2025
// client in a stateful session, a 2026-07-28 client through input_required).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  dashboardLogin,
  eventually,
  makeEnv,
  runCli,
  runCliOnTty,
  serve,
  startServer,
  stopServe,
  steps,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

const WRITE = steps({
  permission: {
    title: 'Write out.txt',
    kind: 'edit',
    locations: ['out.txt'],
    allowed: [{ write_file: { path: 'out.txt', content: 'approved\n' } }, { message: 'Wrote out.txt.' }],
    rejected: [{ message: 'Not written.' }],
  },
});

/** The config that lets an MCP client's elicitation answer count as the person's. */
const ELICITATION_IS_HUMAN = { approvals: { elicitation_is_human: true } };

type Asked = { message: string; requestedSchema: Summary };

/** An SDK client that declares form elicitation and answers with `answer` (recording each ask). */
function elicitingClient(
  answer: (asked: Asked) => Promise<Summary> | Summary,
  asked: Asked[],
  modern = false,
) {
  const client = new Client(
    { name: 'eliciting-host', version: '1.0.0' },
    {
      capabilities: { elicitation: { form: {} } },
      ...(modern ? { versionNegotiation: { mode: 'auto' as const } } : {}),
    },
  );
  client.setRequestHandler('elicitation/create', async (req) => {
    const a = req.params as unknown as Asked;
    asked.push(a);
    return (await answer(a)) as never;
  });
  return client;
}

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<Summary> {
  const r = (await client.callTool({ name, arguments: args }, { timeout: 60_000 })) as {
    isError?: boolean;
    structuredContent?: Summary;
  };
  return r.isError ? { isError: true, ...r.structuredContent } : (r.structuredContent as Summary);
}

/** The `by` of a run's permission_resolved event. */
async function answeredBy(t: TestEnv, run: string): Promise<string | undefined> {
  const lines = (await runCli(t, ['logs', run, '--json'])).stdout.trim().split('\n');
  const events = lines.map((l) => JSON.parse(l) as { type: string; data: { by?: string } });
  return events.find((e) => e.type === 'permission_resolved')?.data.by;
}

describe('approver and elicitation', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let http: Serve | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => undefined);
    await s?.close();
    s = undefined;
    await stopServe(http);
    http = undefined;
    t.cleanup();
  });

  it('stdio: a client with elicitation is asked during wait_run and the run finishes in the same call', async () => {
    t = makeEnv(ELICITATION_IS_HUMAN);
    const asked: Asked[] = [];
    const client = elicitingClient(() => ({ action: 'accept', content: { option_id: 'allow_once' } }), asked);
    s = await startServer(t, { client });
    const run = await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'human',
    });
    expect(run.approver).toBe('human');
    const done = (await s.call('wait_run', { runs: [run.run_id], timeout: 30 })) as Summary;
    expect(done.runs[0]).toMatchObject({ status: 'completed', result: { text: 'Wrote out.txt.' } });
    expect(asked).toHaveLength(1);
    expect(asked[0]?.message).toContain('Write out.txt');
    const choices = (asked[0]?.requestedSchema.properties.option_id.oneOf as { const: string }[]).map(
      (o) => o.const,
    );
    expect(choices).toEqual(expect.arrayContaining(['allow_once', 'reject_once']));
    expect(readFileSync(join(t.work, 'out.txt'), 'utf8')).toBe('approved\n');
    expect(await answeredBy(t, run.run_id as string)).toBe('elicitation');
  });

  it('stdio: a client without elicitation is never asked; the caller cannot answer a human run, the CLI can; approver caller refuses the CLI', async () => {
    t = makeEnv();
    s = await startServer(t);
    const run = await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'human',
    });
    const waiting = (await s.call('wait_run', { runs: [run.run_id], timeout: 30 })) as Summary;
    expect(waiting.runs[0]).toMatchObject({ status: 'waiting', approver: 'human' });
    const refused = (await s.raw('answer_permission', {
      run: run.run_id,
      option_id: 'allow_once',
    })) as Summary;
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent.error.code).toBe('NOT_APPROVER');
    expect((await s.call('get_run', { run: run.run_id })).status).toBe('waiting');
    const approved = await runCliOnTty(t, ['approve', run.run_id as string]);
    expect(approved.code, approved.stdout).toBe(0);
    const done = (await s.call('wait_run', {
      runs: [run.run_id],
      until: 'finished',
      timeout: 30,
    })) as Summary;
    expect(done.runs[0].status).toBe('completed');
    expect(await answeredBy(t, run.run_id as string)).toBe('cli');

    // approver "caller": a person at the CLI is refused, the MCP caller answers.
    const mine = await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'caller',
      label: 'mine',
    });
    await s.call('wait_run', { runs: [mine.run_id], timeout: 30 });
    const cli = await runCliOnTty(t, ['deny', 'mine']);
    expect(cli.code).not.toBe(0);
    expect(cli.stdout).toContain('NOT_APPROVER');
    await s.call('answer_permission', { run: 'mine', option_id: 'reject_once' });
    const mineDone = (await s.call('wait_run', {
      runs: ['mine'],
      until: 'finished',
      timeout: 30,
    })) as Summary;
    expect(mineDone.runs[0]).toMatchObject({ status: 'completed', result: { text: 'Not written.' } });
    expect(await answeredBy(t, 'mine')).toBe('caller');
    // A bad approver value names the field.
    const bad = (await s.raw('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'x',
      approver: 'boss',
    })) as Summary;
    expect(bad.structuredContent.error).toMatchObject({ code: 'INVALID_PARAMS' });
    expect(bad.structuredContent.error.message).toContain('approver');
  });

  it('HTTP: a 2026-07-28 client answers through input_required; a 2025 client in a stateful session is asked by request, and a dashboard-side answer wins the race', async () => {
    t = makeEnv(ELICITATION_IS_HUMAN);
    http = await serve(t);
    const url = new URL(`http://127.0.0.1:${http.port}/mcp`);
    const headers = { authorization: `Bearer ${http.token}` };

    // 2026-07-28: wait_run returns input_required; the SDK client asks its handler and retries.
    const modernAsked: Asked[] = [];
    const modern = elicitingClient(
      () => ({ action: 'accept', content: { option_id: 'allow_once' } }),
      modernAsked,
      true,
    );
    clients.push(modern);
    await modern.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
    expect(modern.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const run = await tool(modern, 'spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'human',
    });
    const done = await tool(modern, 'wait_run', { runs: [run.run_id], timeout: 30 });
    expect(done.runs[0]).toMatchObject({ status: 'completed', result: { text: 'Wrote out.txt.' } });
    expect(modernAsked).toHaveLength(1);
    expect(await answeredBy(t, run.run_id as string)).toBe('elicitation');

    // 2025: a stateful session (Mcp-Session-Id); the person never answers in the host, the CLI
    // does: the pending elicitation is withdrawn and wait_run reports the run as it is now.
    const legacyAsked: Asked[] = [];
    const legacy = elicitingClient(() => new Promise<Summary>(() => undefined), legacyAsked);
    clients.push(legacy);
    const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
    await legacy.connect(transport);
    expect(legacy.getNegotiatedProtocolVersion()).toBe('2025-11-25');
    expect(transport.sessionId).toBeTruthy();
    const slow = await tool(legacy, 'spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'human',
      label: 'race',
    });
    const waiting = tool(legacy, 'wait_run', { runs: [slow.run_id], timeout: 40 });
    await eventually(() => legacyAsked.length === 1);
    const approved = await runCliOnTty(t, ['approve', 'race']);
    expect(approved.code, approved.stdout).toBe(0);
    const after = await waiting;
    expect(after.isError).toBeUndefined();
    expect(['running', 'completed']).toContain(after.runs[0].status);
    expect(await answeredBy(t, 'race')).toBe('cli');
    // A program answering over REST is not a person: refused, whatever the state.
    const api = await call(http.port, 'POST', `/api/runs/race/answer`, {
      token: http.token,
      body: { option_id: 'reject_once', request_id: await lastRequestId(t) },
    });
    expect(api.status).toBe(403);
    expect(api.json.error.code).toBe('NOT_APPROVER');
    // A person answering the same request again: ALREADY_ANSWERED, naming who answered first.
    const { cookie, csrf } = await dashboardLogin(http.port, http.token);
    const again = await call(http.port, 'POST', `/api/runs/race/answer`, {
      headers: { cookie, 'x-csrf-token': csrf },
      body: { option_id: 'reject_once', request_id: await lastRequestId(t) },
    });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('ALREADY_ANSWERED');
    expect(again.json.error.message).toContain('by cli');
    expect(existsSync(join(t.work, 'out.txt'))).toBe(true);
  });
});

/** The request id of the last permission_request of run "race". */
async function lastRequestId(t: TestEnv): Promise<string> {
  const lines = (await runCli(t, ['logs', 'race', '--json'])).stdout.trim().split('\n');
  const events = lines.map((l) => JSON.parse(l) as { type: string; data: { request_id?: string } });
  return events.filter((e) => e.type === 'permission_request').at(-1)?.data.request_id ?? '';
}
