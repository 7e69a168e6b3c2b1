// The MCP Tasks extension (io.modelcontextprotocol/tasks, 2026-07-28): spawn_run and
// request_confirmation answer with a task to a client that declares the extension on the call,
// tasks/get follows the run (or the confirmation) to its result, a permission prompt is an
// input_required task answered with tasks/update, tasks/cancel cancels the run. Spoken as raw
// JSON-RPC (the SDK client has no task support) over stdio (`baton mcp`) and over HTTP (`baton serve`).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLI,
  eventually,
  makeEnv,
  runCli,
  runCliOnTty,
  serve,
  sleep,
  steps,
  stopServe,
  type Serve,
  type Summary,
  type TestEnv,
} from './helpers.js';

const TASKS = { extensions: { 'io.modelcontextprotocol/tasks': {} } };
const PLAIN = { elicitation: { form: {} } };

type Reply = { result?: Summary; error?: { code: number; message: string; data?: Summary } };
type Rpc = (
  method: string,
  params?: Record<string, unknown>,
  caps?: Record<string, unknown>,
) => Promise<Reply>;

/** The 2026-07-28 per-request envelope. */
function envelope(caps: Record<string, unknown>) {
  return {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'tasks-test', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': caps,
  };
}

/** `baton mcp` on stdio, spoken to line by line (standalone unless `daemon`). */
function stdioClient(t: TestEnv, opts: { daemon?: boolean } = {}): { rpc: Rpc; close: () => void } {
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'mcp', ...(opts.daemon ? [] : ['--standalone'])],
    {
      env: t.env,
      stdio: ['pipe', 'pipe', 'ignore'],
    },
  );
  const pending = new Map<number, (r: Reply) => void>();
  let next = 1;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line) as Reply & { id?: number };
    if (typeof msg.id === 'number') pending.get(msg.id)?.(msg);
  });
  const rpc: Rpc = (method, params = {}, caps = TASKS) =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      child.stdin!.write(
        JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope(caps) } }) + '\n',
      );
    });
  return { rpc, close: () => child.stdin!.end() };
}

/** `baton serve`'s /mcp, one POST per request, with the standard headers (Mcp-Name = the task id). */
function httpClient(s: Serve): Rpc {
  let next = 1;
  return async (method, params = {}, caps = TASKS) => {
    const name = typeof params.taskId === 'string' ? params.taskId : params.name;
    const res = await fetch(`http://127.0.0.1:${s.port}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: next++,
        method,
        params: { ...params, _meta: envelope(caps) },
      }),
    });
    const text = await res.text();
    // JSON, or an SSE stream whose last data line is the response.
    const data = text.trim().startsWith('{')
      ? text
      : (text
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5))
          .pop() ?? '{}');
    return JSON.parse(data) as Reply;
  };
}

const spawnArgs = (t: TestEnv, prompt: string, extra: Record<string, unknown> = {}) => ({
  name: 'spawn_run',
  arguments: { agent: 'fixture', cwd: t.work, prompt, ...extra },
});

/** Polls tasks/get until `done` holds for the task (as a client honouring pollIntervalMs would, faster). */
async function pollTask(rpc: Rpc, taskId: string, done: (task: Summary) => boolean): Promise<Summary> {
  return eventually(async () => {
    const r = await rpc('tasks/get', { taskId });
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    return done(r.result as Summary) ? (r.result as Summary) : undefined;
  }, 30_000);
}

async function showRun(t: TestEnv, run: string): Promise<Summary> {
  const r = await runCli(t, ['show', run, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Summary;
}

async function answeredBy(t: TestEnv, run: string): Promise<string | undefined> {
  const lines = (await runCli(t, ['logs', run, '--json'])).stdout.trim().split('\n');
  const events = lines.map((l) => JSON.parse(l) as { type: string; data: { by?: string } });
  return events.find((e) => e.type === 'permission_resolved')?.data.by;
}

const WRITE = steps({
  permission: {
    title: 'Write out.txt',
    kind: 'edit',
    locations: ['out.txt'],
    allowed: [{ write_file: { path: 'out.txt', content: 'approved\n' } }, { message: 'Wrote out.txt.' }],
    rejected: [{ message: 'Not written.' }],
  },
});

describe('MCP Tasks (io.modelcontextprotocol/tasks)', () => {
  let t: TestEnv;
  const closers: (() => void)[] = [];
  let http: Serve | undefined;
  afterEach(async () => {
    for (const c of closers.splice(0)) c();
    await stopServe(http);
    http = undefined;
    t.cleanup();
  });

  it('stdio: spawn_run is a task that tasks/get follows to the run summary; without the extension the tool is plain and tasks/* is refused', async () => {
    t = makeEnv();
    const { rpc, close } = stdioClient(t);
    closers.push(close);
    const discover = await rpc('server/discover');
    expect(discover.result?.capabilities.extensions).toEqual({ 'io.modelcontextprotocol/tasks': {} });

    const created = await rpc(
      'tools/call',
      spawnArgs(t, steps({ message: 'task done' }), { label: 'tasked' }),
    );
    const task = created.result as Summary;
    expect(task).toMatchObject({ resultType: 'task', status: 'working', ttlMs: null });
    expect(task.taskId).toMatch(/^r_/);
    expect(task.pollIntervalMs).toBeGreaterThan(0);
    expect(Date.parse(task.createdAt as string)).not.toBeNaN();
    // Durable before the handle is returned: the run is in the store.
    expect((await showRun(t, task.taskId as string)).label).toBe('tasked');

    const done = await pollTask(rpc, task.taskId as string, (x) => x.status === 'completed');
    expect(done.resultType).toBe('complete');
    expect(done.inputRequests).toBeUndefined();
    // The result is the CallToolResult get_run gives: the run summary, structured and as text.
    const summary = done.result.structuredContent as Summary;
    expect(summary).toMatchObject({
      run_id: task.taskId,
      status: 'completed',
      result: { text: 'task done' },
    });
    expect(JSON.parse(done.result.content[0].text as string)).toEqual(summary);
    expect(done.result.isError).toBeUndefined();
    const plainGet = await rpc('tools/call', { name: 'get_run', arguments: { run: task.taskId } });
    expect(plainGet.result?.structuredContent).toEqual(summary);

    // Unknown ids, labels (a task id is the run id itself) and oversized ids: -32602.
    for (const taskId of ['r_000000000000', 'tasked', 'x'.repeat(5000), '']) {
      const r = await rpc('tasks/get', { taskId });
      expect(r.error?.code, taskId.slice(0, 20)).toBe(-32602);
    }
    expect((await rpc('tasks/get', {})).error?.code).toBe(-32602);

    // A client that does not declare the extension on the request: the plain tool, and -32021.
    const plain = await rpc('tools/call', spawnArgs(t, steps({ message: 'plain' })), PLAIN);
    expect(plain.result?.resultType).toBe('complete');
    expect(plain.result?.structuredContent).toMatchObject({ status: 'queued' });
    expect(plain.result?.taskId).toBeUndefined();
    for (const method of ['tasks/get', 'tasks/update', 'tasks/cancel']) {
      const r = await rpc(method, { taskId: task.taskId, inputResponses: {} }, PLAIN);
      expect(r.error?.code, method).toBe(-32021);
      expect(r.error?.data?.requiredCapabilities).toEqual(TASKS);
    }
  });

  it('stdio: a permission prompt is input_required with an elicitation request; tasks/update answers it and the run goes on', async () => {
    t = makeEnv();
    const { rpc, close } = stdioClient(t);
    closers.push(close);
    const task = (await rpc('tools/call', spawnArgs(t, WRITE))).result as Summary;
    const waiting = await pollTask(rpc, task.taskId as string, (x) => x.status === 'input_required');
    const keys = Object.keys(waiting.inputRequests as Summary);
    expect(keys).toHaveLength(1);
    const key = keys[0] as string;
    expect(key).toMatch(/^permission_/);
    const req = waiting.inputRequests[key];
    expect(req.method).toBe('elicitation/create');
    expect(req.params.mode).toBe('form');
    expect(req.params.message).toContain('Write out.txt');
    const choices = (req.params.requestedSchema.properties.option_id.oneOf as { const: string }[]).map(
      (o) => o.const,
    );
    expect(choices).toEqual(expect.arrayContaining(['allow_once', 'reject_once']));
    // Polling again shows the same key (the same outstanding request).
    const again = (await rpc('tasks/get', { taskId: task.taskId })).result as Summary;
    expect(Object.keys(again.inputRequests as Summary)).toEqual([key]);

    // An unknown key is ignored: the run still waits.
    const ignored = await rpc('tasks/update', {
      taskId: task.taskId,
      inputResponses: { permission_nope: { action: 'accept', content: { option_id: 'allow_once' } } },
    });
    expect(ignored.result?.resultType).toBe('complete');
    expect((await showRun(t, task.taskId as string)).status).toBe('waiting');
    // An option the request does not offer is a clear error, and the run still waits.
    const bad = await rpc('tasks/update', {
      taskId: task.taskId,
      inputResponses: { [key]: { action: 'accept', content: { option_id: 'format_disk' } } },
    });
    expect(bad.error?.code).toBe(-32602);
    expect(bad.error?.message).toContain('format_disk');
    expect((await showRun(t, task.taskId as string)).status).toBe('waiting');

    const ack = await rpc('tasks/update', {
      taskId: task.taskId,
      inputResponses: { [key]: { action: 'accept', content: { option_id: 'allow_once' } } },
    });
    expect(ack.result?.resultType).toBe('complete');
    const done = await pollTask(rpc, task.taskId as string, (x) => x.status === 'completed');
    expect(done.result.structuredContent).toMatchObject({
      status: 'completed',
      result: { text: 'Wrote out.txt.' },
    });
    expect(readFileSync(join(t.work, 'out.txt'), 'utf8')).toBe('approved\n');
    expect(await answeredBy(t, task.taskId as string)).toBe('elicitation');
    // The answered key again: ignored (the run is over).
    const late = await rpc('tasks/update', {
      taskId: task.taskId,
      inputResponses: { [key]: { action: 'accept', content: { option_id: 'reject_once' } } },
    });
    expect(late.result?.resultType).toBe('complete');
  });

  it('stdio: a human-only prompt is not answerable by the program: working with where a person answers, and a made-up answer changes nothing', async () => {
    t = makeEnv();
    const { rpc, close } = stdioClient(t);
    closers.push(close);
    const task = (await rpc('tools/call', spawnArgs(t, WRITE, { approver: 'human' }))).result as Summary;
    await eventually(async () => (await showRun(t, task.taskId as string)).status === 'waiting');
    const view = (await rpc('tasks/get', { taskId: task.taskId })).result as Summary;
    expect(view.status).toBe('working');
    expect(view.inputRequests).toBeUndefined();
    expect(view.statusMessage).toContain('Write out.txt');
    expect(view.statusMessage).toContain('dashboard');
    const run = await showRun(t, task.taskId as string);
    const forged = await rpc('tasks/update', {
      taskId: task.taskId,
      inputResponses: {
        [`permission_${run.waiting_for.request_id as string}`]: {
          action: 'accept',
          content: { option_id: 'allow_once' },
        },
      },
    });
    expect(forged.result?.resultType).toBe('complete');
    await sleep(300);
    expect((await showRun(t, task.taskId as string)).status).toBe('waiting');
    // A person answers on a terminal; the task completes.
    const approved = await runCliOnTty(t, ['approve', task.taskId as string]);
    expect(approved.code, approved.stdout).toBe(0);
    const done = await pollTask(rpc, task.taskId as string, (x) => x.status === 'completed');
    expect(done.result.structuredContent).toMatchObject({ result: { text: 'Wrote out.txt.' } });
    expect(await answeredBy(t, task.taskId as string)).toBe('cli');
  });

  it('stdio: tasks/cancel cancels the run; a failed run completes with isError', async () => {
    t = makeEnv();
    const { rpc, close } = stdioClient(t);
    closers.push(close);
    const task = (await rpc('tools/call', spawnArgs(t, steps({ message: 'long' }, { sleep: 60_000 }))))
      .result as Summary;
    await eventually(async () => (await showRun(t, task.taskId as string)).status === 'running');
    const ack = await rpc('tasks/cancel', { taskId: task.taskId });
    expect(ack.result?.resultType).toBe('complete');
    await eventually(async () => (await showRun(t, task.taskId as string)).status === 'cancelled');
    const view = (await rpc('tasks/get', { taskId: task.taskId })).result as Summary;
    expect(view.status).toBe('cancelled');
    expect(view.result).toBeUndefined();
    // Cancelling again: acknowledged, nothing changes.
    expect((await rpc('tasks/cancel', { taskId: task.taskId })).result?.resultType).toBe('complete');
    expect((await rpc('tasks/cancel', { taskId: 'r_000000000000' })).error?.code).toBe(-32602);

    const failing = (
      await rpc('tools/call', spawnArgs(t, steps({ message: 'about to crash' }, { crash: { code: 3 } })))
    ).result as Summary;
    const failed = await pollTask(rpc, failing.taskId as string, (x) => x.status !== 'working');
    expect(failed.status).toBe('completed');
    expect(failed.result.isError).toBe(true);
    expect(failed.result.structuredContent.status).toBe('failed');
  });

  it("the task is the owner's: created through one front, followed and answered through another (daemon), and over HTTP", async () => {
    t = makeEnv({ approvals: { elicitation_is_human: true } });
    const a = stdioClient(t, { daemon: true });
    closers.push(a.close);
    const task = (await a.rpc('tools/call', spawnArgs(t, WRITE, { approver: 'human' }))).result as Summary;
    a.close();
    const b = stdioClient(t, { daemon: true });
    closers.push(b.close);
    // elicitation counts as a person here: the human-only prompt is asked of this client.
    const waiting = await pollTask(b.rpc, task.taskId as string, (x) => x.status === 'input_required');
    const key = Object.keys(waiting.inputRequests as Summary)[0] as string;

    http = await serve(t);
    const h = httpClient(http);
    const seen = (await h('tasks/get', { taskId: task.taskId })).result as Summary;
    expect(seen.status).toBe('input_required');
    expect(Object.keys(seen.inputRequests as Summary)).toEqual([key]);
    expect(
      (await h('tasks/update', { taskId: task.taskId, inputResponses: { [key]: { action: 'decline' } } }))
        .result?.resultType,
    ).toBe('complete');
    const done = await pollTask(h, task.taskId as string, (x) => x.status === 'completed');
    expect(done.result.structuredContent).toMatchObject({ result: { text: 'Not written.' } });
    expect(await answeredBy(t, task.taskId as string)).toBe('elicitation');

    // spawn_run as a task over HTTP, and the plain tool without the extension.
    const over = (await h('tools/call', spawnArgs(t, steps({ message: 'over http' })))).result as Summary;
    expect(over.resultType).toBe('task');
    const finished = await pollTask(h, over.taskId as string, (x) => x.status === 'completed');
    expect(finished.result.structuredContent.result.text).toBe('over http');
    const plain = await h('tools/call', spawnArgs(t, steps({ message: 'plain' })), PLAIN);
    expect(plain.result?.structuredContent).toMatchObject({ status: 'queued' });
    expect((await h('tasks/get', { taskId: over.taskId }, PLAIN)).error?.code).toBe(-32021);
  });

  it('request_confirmation is a task: input_required for a person at this client, answered with tasks/update; otherwise working until a person answers', async () => {
    t = makeEnv({ approvals: { elicitation_is_human: true } });
    const { rpc, close } = stdioClient(t);
    closers.push(close);
    const created = (
      await rpc('tools/call', {
        name: 'request_confirmation',
        arguments: { question: 'Deploy to production?', options: ['ship', 'hold'] },
      })
    ).result as Summary;
    expect(created).toMatchObject({ resultType: 'task', status: 'input_required' });
    expect(created.taskId).toMatch(/^c_/);
    const view = (await rpc('tasks/get', { taskId: created.taskId })).result as Summary;
    const key = Object.keys(view.inputRequests as Summary)[0] as string;
    expect(view.inputRequests[key].params.message).toBe('Deploy to production?');
    expect(
      (
        await rpc('tasks/update', {
          taskId: created.taskId,
          inputResponses: { [key]: { action: 'accept', content: { decision: 'ship' } } },
        })
      ).result?.resultType,
    ).toBe('complete');
    const done = await pollTask(rpc, created.taskId as string, (x) => x.status === 'completed');
    expect(done.result.structuredContent).toMatchObject({
      confirmation_id: created.taskId,
      status: 'answered',
      decision: 'ship',
      decided_by: 'elicitation',
    });
    // Asking again about a settled confirmation: the plain result, no task.
    const settled = await rpc('tools/call', {
      name: 'request_confirmation',
      arguments: { confirmation_id: created.taskId },
    });
    expect(settled.result?.resultType).toBe('complete');
    expect(settled.result?.structuredContent).toMatchObject({ decision: 'ship' });
  });

  it('request_confirmation where elicitation is not a person: working with where a person answers, and the program cannot answer', async () => {
    t = makeEnv();
    const { rpc, close } = stdioClient(t);
    closers.push(close);
    const created = (
      await rpc('tools/call', { name: 'request_confirmation', arguments: { question: 'Drop the table?' } })
    ).result as Summary;
    expect(created).toMatchObject({ resultType: 'task', status: 'working' });
    expect(created.statusMessage).toContain(`baton confirm ${created.taskId as string}`);
    const forged = await rpc('tasks/update', {
      taskId: created.taskId,
      inputResponses: {
        [`confirm_${created.taskId as string}`]: { action: 'accept', content: { decision: 'approve' } },
      },
    });
    expect(forged.result?.resultType).toBe('complete');
    expect(((await rpc('tasks/get', { taskId: created.taskId })).result as Summary).status).toBe('working');
    const person = await runCliOnTty(t, ['confirm', created.taskId as string, 'deny']);
    expect(person.code, person.stdout).toBe(0);
    const done = await pollTask(rpc, created.taskId as string, (x) => x.status === 'completed');
    expect(done.result.structuredContent).toMatchObject({ decision: 'deny', decided_by: 'cli' });
  });
});
