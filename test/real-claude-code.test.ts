// The real Claude Code CLI (`@anthropic-ai/claude-code`, a devDependency) driven end to end through
// baton's native claude-code driver (claude -p, stream-json both ways, permission prompts over
// stdio), offline: the model is the scripted test/fixtures/model-server.mjs (Anthropic Messages),
// and claude's HOME is an isolated temp dir (never the real ~/.claude).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer, type RecordedRequest } from './fixtures/model-server.mjs';
import { directCommand, realAgentConfig } from './fixtures/real-agents.mjs';
import {
  eventually,
  makeEnv,
  startServer,
  waitFor,
  type Server,
  type TestEnv,
  type Summary,
  pidsWithEnv,
} from './helpers.js';

/** The scripted model server's token estimate (test/fixtures/model/directives.mjs `roughTokens`). */
function roughTokens(value: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(value ?? '').length / 4));
}

/** The main-loop requests claude sent (the ones offering tools), in order. */
function turnRequests(model: ModelServer): RecordedRequest[] {
  return model.requests.filter(
    (r) => r.path === '/v1/messages' && Array.isArray(r.body.tools) && r.body.tools.length > 0,
  );
}

async function events(s: Server, run: string): Promise<Summary[]> {
  const res = (await s.call('get_events', { run, limit: 500 })) as { events: Summary[] };
  return res.events;
}

describe('the real Claude Code CLI through baton (offline, native driver)', () => {
  let model: ModelServer;
  let t: TestEnv;
  let s: Server;
  let claudeHome: string;
  /** An Anthropic endpoint that refuses every key (HTTP 401). */
  let refusing: HttpServer;
  let refusingUrl: string;

  beforeAll(async () => {
    model = await startModelServer();
    refusing = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            type: 'error',
            error: { type: 'authentication_error', message: 'invalid x-api-key' },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const address = refusing.address();
    refusingUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await model?.close();
    refusing?.closeAllConnections();
    await new Promise((resolve) => refusing?.close(resolve));
  });

  /** `claude -p <prompt> --session-id <id>` run directly (no baton) in `cwd`, with the test's HOME. */
  function claudeDirect(
    cwd: string,
    id: string,
    prompt: string,
  ): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const [command, args] = directCommand('claude-code', prompt) as [string, string[]];
    const env = (realAgentConfig('claude-code', claudeHome, model.url) as { env: Record<string, string> })
      .env;
    // Not spawnSync: the model server answers from this process's event loop.
    return new Promise((resolve) => {
      const child = spawn(command, [...args, '--session-id', id], {
        cwd,
        env: { PATH: process.env.PATH, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  }

  beforeEach(async () => {
    model.requests.length = 0;
    t = makeEnv((dir) => {
      claudeHome = join(dir, 'claude-home');
      // The agent's env (test/fixtures/real-agents.mjs) sets HOME and the model server; baton's own
      // env (from makeEnv) is only PATH, HOME and BATON_HOME, so nothing of the developer's leaks in.
      const claude = realAgentConfig('claude-code', claudeHome, model.url) as { env: Record<string, string> };
      return {
        agents: {
          claude,
          'claude-refused': { ...claude, env: { ...claude.env, ANTHROPIC_BASE_URL: refusingUrl } },
          // The ACP adapter (session/load) on the same HOME, to resume a person's `claude -p` session.
          'claude-acp': realAgentConfig('claude-acp', claudeHome, model.url),
        },
        profiles: { 'one-turn': { agent: 'claude', policy: 'allow_all', max_turns: 1 } },
      };
    });
    mkdirSync(claudeHome, { recursive: true });
    s = await startServer(t);
  });
  afterEach(async () => {
    await s.close();
    // baton stops its agents' process groups when it exits: no claude process may outlive the test.
    await eventually(() => pidsWithEnv(claudeHome).length === 0, 10_000);
    t.cleanup();
  });

  it("a profile's max_turns reaches claude as --max-turns: the run ends with stop_reason max_turns", async () => {
    const spawned = (await s.call('spawn_run', {
      profile: 'one-turn',
      cwd: t.work,
      prompt: 'WRITE_FILE budget.txt within-budget',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.stop_reason).toBe('max_turns');
    // One model turn (the tool call); the answer after the tool result was never asked for.
    expect(turnRequests(model)).toHaveLength(1);
  });

  it('asks permission for Write over stdio, writes the file once allowed, and completes', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt hi-from-claude',
      policy: 'ask',
    })) as Summary;

    const waiting = (await waitFor(s, spawned.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    expect(waiting.waiting_for.title).toBe(`Write ${join(t.work, 'hello.txt')}`);
    expect(waiting.waiting_for.tool_call).toMatchObject({
      kind: 'edit',
      title: `Write ${join(t.work, 'hello.txt')}`,
      locations: [join(t.work, 'hello.txt')],
      raw_input: { file_path: join(t.work, 'hello.txt'), content: 'hi-from-claude' },
    });
    expect(waiting.waiting_for.options.map((o: Summary) => [o.option_id, o.kind])).toEqual([
      ['allow', 'allow_once'],
      ['allow_always', 'allow_always'], // claude suggested switching to acceptEdits for the session
      ['deny', 'reject_once'],
    ]);
    expect(existsSync(join(t.work, 'hello.txt'))).toBe(false);
    expect(pidsWithEnv(claudeHome).length).toBeGreaterThan(0);

    await s.call('answer_permission', { run: spawned.run_id, option_id: 'allow' });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('done: wrote hello.txt');
    expect(done.result.stop_reason).toBe('end_turn');
    expect(readFileSync(join(t.work, 'hello.txt'), 'utf8')).toBe('hi-from-claude');

    const evs = await events(s, spawned.run_id);
    const call = evs.find((e) => e.type === 'tool_call');
    expect(call?.data).toMatchObject({ kind: 'edit', status: 'pending' });
    const callId = call?.data.tool_call_id as string;
    expect(callId).toMatch(/^toolu_/);
    expect(evs.find((e) => e.type === 'permission_request')?.data.tool_call.tool_call_id).toBe(callId);
    expect(evs.find((e) => e.type === 'permission_resolved')?.data).toMatchObject({
      option_id: 'allow',
      by: 'caller',
    });
    const update = evs.find((e) => e.type === 'tool_update' && e.data.tool_call_id === callId);
    expect(update?.data).toMatchObject({ kind: 'edit', status: 'completed' });
    expect(update?.data.content[1]).toEqual({
      type: 'diff',
      path: join(t.work, 'hello.txt'),
      old_text: null,
      new_text: 'hi-from-claude',
    });

    const turns = turnRequests(model);
    expect(turns.map((r) => r.reply)).toEqual([
      { type: 'write_file', path: 'hello.txt', content: 'hi-from-claude' },
      { type: 'text', text: 'done: wrote hello.txt' },
    ]);
    expect(turns.every((r) => r.query === '?beta=true' && r.headers['x-api-key'] === 'dummy')).toBe(true);
  });

  it('a denied Write leaves no file, and the answer says it was not written', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'WRITE_FILE nope.txt should-not-exist',
    })) as Summary;
    expect(((await waitFor(s, spawned.run_id)) as Summary).status).toBe('waiting');
    await s.call('answer_permission', { run: spawned.run_id, option_id: 'deny' });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('not written: nope.txt (The user denied permission for this tool use.)');
    expect(existsSync(join(t.work, 'nope.txt'))).toBe(false);
    const evs = await events(s, spawned.run_id);
    expect(evs.find((e) => e.type === 'tool_update')?.data).toMatchObject({
      status: 'failed',
      content: [{ type: 'text', text: 'The user denied permission for this tool use.' }],
    });
  });

  it('follow_up continues the same claude conversation: the model sees the first prompt', async () => {
    const first = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'first prompt alpha',
    })) as Summary;
    const one = (await waitFor(s, first.run_id)) as Summary;
    expect(one.status).toBe('completed');
    expect(one.result.text).toBe('echo: first prompt alpha');

    const second = (await s.call('follow_up', {
      run: first.run_id,
      message: 'second prompt beta',
    })) as Summary;
    const two = (await waitFor(s, second.run_id)) as Summary;
    expect(two.status).toBe('completed');
    expect(two.result.text).toBe('echo: second prompt beta');
    expect(two.session_id).toBe(one.session_id);

    const turns = turnRequests(model);
    expect(turns.map((r) => r.reply)).toEqual([
      { type: 'text', text: 'echo: first prompt alpha' },
      { type: 'text', text: 'echo: second prompt beta' },
    ]);
    const history = JSON.stringify(turns[1]?.body.messages);
    expect(history).toContain('first prompt alpha');
    expect(history).toContain('echo: first prompt alpha');
    // one conversation: claude sends the same session id with both requests
    const sessionIds = turns.map((r) => r.headers['x-claude-code-session-id']);
    expect(sessionIds[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(sessionIds[1]).toBe(sessionIds[0]);
  });

  it('cancel mid-turn interrupts claude: the run is cancelled and no claude process is left', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'SLOW 20',
    })) as Summary;
    // the slow reply is streaming
    await eventually(() =>
      turnRequests(model).some((r) => r.reply?.type === 'text' && r.reply.slowMs === 20_000),
    );
    const started = Date.now();
    await s.call('cancel_run', { run: spawned.run_id });
    const done = (await waitFor(s, spawned.run_id, 'finished')) as Summary;
    expect(done.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(5000);
    await eventually(() => pidsWithEnv(claudeHome).length === 0, 5000);
    const evs = await events(s, spawned.run_id);
    // claude's own acknowledgement of the interrupt is kept as a raw event
    expect(
      evs.some((e) => e.type === 'raw' && JSON.stringify(e.data).includes('[Request interrupted by user]')),
    ).toBe(true);
  });

  it('output_schema goes to claude natively (initialize.jsonSchema): result.structured is the StructuredOutput value', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'number' } },
      required: ['name', 'age'],
    };
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'ANSWER_JSON {"name": "Ada", "age": 36}',
      output_schema: schema,
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.structured).toEqual({ name: 'Ada', age: 36 });
    expect(done.result.text).toBe('{"name":"Ada","age":36}');
    const [turn] = turnRequests(model);
    const tool = (turn?.body.tools as Summary[]).find((x) => x.name === 'StructuredOutput');
    expect(tool?.input_schema).toEqual(schema);
    // natively: the prompt claude got is the caller's, with no schema instruction added by baton
    expect(JSON.stringify(turn?.body.messages)).not.toContain('"required"');
  });

  it('reports per-turn usage and cost from claude', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'count me',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    const calls = model.requests.filter((r) => r.path === '/v1/messages');
    expect(calls.length).toBe(1);
    const input = roughTokens(calls[0]?.body.messages);
    const output = roughTokens([{ type: 'text', text: 'echo: count me' }]);
    expect(done.result.usage).toMatchObject({
      input_tokens: input,
      output_tokens: output,
      cached_read_tokens: 0,
    });
    // claude prices its default model (claude-opus-5-5 in 2.1.330) at $4 / $20 per million tokens
    expect(done.result.usage.cost_usd).toBeCloseTo((input * 4 + output * 20) / 1e6, 9);
  });

  it('a turn with another output schema than the last one restarts claude on the same conversation', async () => {
    const first = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'ANSWER_JSON {"step": 1}',
      output_schema: { type: 'object', properties: { step: { type: 'number' } }, required: ['step'] },
    })) as Summary;
    const one = (await waitFor(s, first.run_id)) as Summary;
    expect(one.result.structured).toEqual({ step: 1 });
    const pidBefore = pidsWithEnv(claudeHome);
    expect(pidBefore.length).toBeGreaterThan(0);

    const second = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      session_id: one.session_id,
      prompt: 'plain words after the schema',
    })) as Summary;
    const two = (await waitFor(s, second.run_id)) as Summary;
    expect(two.status).toBe('completed');
    expect(two.result.text).toBe('echo: plain words after the schema');
    expect(two.result.structured).toBeUndefined();

    const turns = turnRequests(model);
    expect(turns.length).toBe(2);
    const names = (r: RecordedRequest | undefined) => (r?.body.tools as Summary[]).map((x) => x.name);
    expect(names(turns[0])).toContain('StructuredOutput');
    expect(names(turns[1])).not.toContain('StructuredOutput');
    // the restarted claude (--resume) sent the first turn as history, under the same session id
    expect(JSON.stringify(turns[1]?.body.messages)).toContain('ANSWER_JSON {\\"step\\": 1}');
    expect(turns[1]?.headers['x-claude-code-session-id']).toBe(turns[0]?.headers['x-claude-code-session-id']);
    // a new process, and the old one is gone
    const pidsAfter = pidsWithEnv(claudeHome);
    expect(pidsAfter.some((pid) => pidBefore.includes(pid))).toBe(false);
    // the run records the new process (the one to kill after a crash of baton), not the old one
    const db = new Database(join(t.home, 'baton.db'), { readonly: true });
    const row = db.prepare('SELECT agent_pid FROM runs WHERE id = ?').get(second.run_id) as {
      agent_pid: number;
    };
    db.close();
    expect(pidsAfter).toContain(row.agent_pid);
    expect(pidBefore).not.toContain(row.agent_pid);
  });

  it('policy auto_edit starts claude in acceptEdits: a Write inside the cwd is not asked about', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'WRITE_FILE auto.txt written-without-asking',
      policy: 'auto_edit',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('done: wrote auto.txt');
    expect(readFileSync(join(t.work, 'auto.txt'), 'utf8')).toBe('written-without-asking');
    const evs = await events(s, spawned.run_id);
    expect(evs.filter((e) => e.type === 'permission_request')).toEqual([]);
    expect(evs.find((e) => e.type === 'raw' && e.data.claude === 'system/init')?.data.permission_mode).toBe(
      'acceptEdits',
    );
  });

  it('a refused API key fails the run at the first retry, with the HTTP status in the error', async () => {
    const started = Date.now();
    const spawned = (await s.call('spawn_run', {
      agent: 'claude-refused',
      cwd: t.work,
      prompt: 'hello',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id, 'finished')) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('AGENT_ERROR');
    expect(done.error.message).toContain('HTTP 401 (authentication_failed)');
    // claude itself would retry ten times with backoff (minutes)
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('allow_always hands claude its own suggestion (acceptEdits for the session): the next Write is not asked', async () => {
    const first = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'WRITE_FILE one.txt first',
    })) as Summary;
    expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('waiting');
    await s.call('answer_permission', { run: first.run_id, option_id: 'allow_always' });
    expect(((await waitFor(s, first.run_id)) as Summary).result.text).toBe('done: wrote one.txt');

    const second = (await s.call('follow_up', {
      run: first.run_id,
      message: 'WRITE_FILE two.txt second',
    })) as Summary;
    const done = (await waitFor(s, second.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('done: wrote two.txt');
    expect(readFileSync(join(t.work, 'two.txt'), 'utf8')).toBe('second');
    expect((await events(s, second.run_id)).filter((e) => e.type === 'permission_request')).toEqual([]);
  });

  it('cancel while claude waits for a permission answer: cancelled, nothing written, no process left', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      prompt: 'WRITE_FILE never.txt nope',
    })) as Summary;
    expect(((await waitFor(s, spawned.run_id)) as Summary).status).toBe('waiting');
    await s.call('cancel_run', { run: spawned.run_id });
    const done = (await waitFor(s, spawned.run_id, 'finished')) as Summary;
    expect(done.status).toBe('cancelled');
    expect(existsSync(join(t.work, 'never.txt'))).toBe(false);
    await eventually(() => pidsWithEnv(claudeHome).length === 0, 5000);
    const resolved = (await events(s, spawned.run_id)).find((e) => e.type === 'permission_resolved');
    expect(resolved?.data).toMatchObject({ outcome: 'cancelled' });
  });
  it("resume: a person's own claude session (claude -p --session-id) continues in baton with its history", async () => {
    // The person's session, run with claude directly (no baton) in the same HOME and folder.
    const id = randomUUID();
    const direct = await claudeDirect(t.work, id, 'remember the number 42');
    expect(direct.status, direct.stderr).toBe(0);
    expect(direct.stdout).toContain('echo: remember the number 42');
    const projects = join(claudeHome, '.claude', 'projects');
    expect(readdirSync(projects).some((d) => existsSync(join(projects, d, `${id}.jsonl`)))).toBe(true);
    model.requests.length = 0;

    const run = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      resume: id,
      prompt: 'which number was it',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toBe('echo: which number was it');
    // The model saw the earlier turn (the person's prompt and claude's answer) before baton's.
    const [request] = turnRequests(model);
    const history = JSON.stringify(request?.body.messages);
    expect(history).toContain('remember the number 42');
    expect(history).toContain('echo: remember the number 42');
    expect(history.indexOf('remember the number 42')).toBeLessThan(history.indexOf('which number was it'));
    const got = (await s.call('get_run', { run: run.run_id })) as Summary;
    expect(got.agent_session_id).toBe(id);

    // A follow-up goes on in the same conversation.
    const next = (await s.call('follow_up', { run: run.run_id, message: 'and now' })) as Summary;
    expect(((await waitFor(s, next.run_id)) as Summary).status).toBe('completed');
    const later = JSON.stringify(turnRequests(model).at(-1)?.body.messages);
    expect(later).toContain('remember the number 42');
    expect(later).toContain('which number was it');

    // An id claude does not know: claude's own answer, with where it looks.
    const unknown = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      resume: randomUUID(),
      prompt: 'hello',
    })) as Summary;
    const failed = (await waitFor(s, unknown.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('SESSION_NOT_RESUMABLE');
    expect(failed.error.message).toMatch(/claude found no session .* to resume \(.*No conversation found/);
    expect(failed.error.message).toContain('pass that folder as cwd');
  });

  it("resume through the ACP adapter (session/load): claude's replayed history is not the run's output", async () => {
    const id = randomUUID();
    const direct = await claudeDirect(t.work, id, 'remember the number 17');
    expect(direct.status, direct.stderr).toBe(0);
    model.requests.length = 0;
    const run = (await s.call('spawn_run', {
      agent: 'claude-acp',
      cwd: t.work,
      resume: id,
      prompt: 'which number was it',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toBe('echo: which number was it');
    expect(JSON.stringify(turnRequests(model)[0]?.body.messages)).toContain('remember the number 17');
    const said = (await events(s, run.run_id)).filter((e) => e.type === 'message');
    expect(said.map((e) => [e.data.role, e.data.text])).toEqual([
      ['user', 'which number was it'],
      ['assistant', 'echo: which number was it'],
    ]);
  });

  it('a follow-up whose saved conversation is gone fails as SESSION_NOT_RESUMABLE; baton keeps serving', async () => {
    const first = (await s.call('spawn_run', { agent: 'claude', cwd: t.work, prompt: 'hello' })) as Summary;
    expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('completed');
    // A fresh process is needed to --resume: a stricter policy closes the warm one.
    rmSync(join(claudeHome, '.claude', 'projects'), { recursive: true, force: true });
    const next = (await s.call('spawn_run', {
      agent: 'claude',
      cwd: t.work,
      session_id: first.session_id,
      policy: 'deny_all',
      prompt: 'again',
    })) as Summary;
    const failed = (await waitFor(s, next.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('SESSION_NOT_RESUMABLE');
    expect(failed.error.message).toMatch(/start a new run/);
    expect(((await s.call('server_status')) as Summary).runs.total).toBe(2);
  });
});
