// The real OpenAI Codex CLI (`@openai/codex`, a devDependency) driven end to end through baton with
// the native `codex` driver (`codex app-server`, JSON-RPC over stdio), offline: the model is the
// scripted test/fixtures/model-server.mjs (OpenAI Responses), and codex's HOME and CODEX_HOME are
// an isolated temp dir (never the real ~/.codex).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer, type RecordedRequest } from './fixtures/model-server.mjs';
import {
  CLI,
  eventually,
  makeEnv,
  ROOT,
  startServer,
  waitFor,
  type Server,
  type TestEnv,
  type Summary,
  pidsWithEnv,
} from './helpers.js';

const CODEX = join(ROOT, 'node_modules', '.bin', 'codex');

/** The model server's token estimate (directives.mjs `roughTokens`), to check usage figures. */
function roughTokens(value: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(value ?? '').length / 4));
}

/** The text of every user message codex sent in a request. */
function userTexts(r: RecordedRequest): string[] {
  const input = (r.body.input ?? []) as { type?: string; role?: string; content?: { text?: string }[] }[];
  return input
    .filter((i) => i.type === 'message' && i.role === 'user')
    .map((i) => (i.content ?? []).map((c) => c.text ?? '').join(''));
}

const OPTIONS = [
  ['accept', 'allow_once'],
  ['acceptForSession', 'allow_always'],
  ['decline', 'reject_once'],
];

describe('the real Codex CLI through baton (offline, codex app-server)', () => {
  let model: ModelServer;
  let t: TestEnv;
  let s: Server;
  let codexHome: string;
  let extraConfig: Record<string, unknown> = {};

  const responses = () => model.requests.filter((r) => r.path === '/v1/responses');

  /** `$CODEX_HOME/config.toml` with a custom Responses provider at `baseUrl` (read when codex starts). */
  function writeCodexConfig(baseUrl: string, extra: string[] = []): void {
    mkdirSync(join(codexHome, '.codex'), { recursive: true });
    // The model must be a slug of codex's bundled catalog, else apply_patch is not offered.
    writeFileSync(
      join(codexHome, '.codex', 'config.toml'),
      [
        'model = "gpt-5.5"',
        'model_provider = "fake"',
        '[model_providers.fake]',
        'name = "Fake local"',
        `base_url = "${baseUrl}"`,
        'env_key = "FAKE_API_KEY"',
        'wire_api = "responses"',
        ...extra,
        '',
      ].join('\n'),
    );
  }

  beforeAll(async () => {
    model = await startModelServer();
  });
  afterAll(async () => {
    await model?.close();
  });

  beforeEach(async (ctx) => {
    model.requests.length = 0;
    extraConfig = ctx.task.name.includes('idle timeout') ? { session_idle_timeout: '1s' } : {};
    t = makeEnv((dir) => {
      codexHome = join(dir, 'codex-home');
      return {
        ...extraConfig,
        agents: {
          codex: {
            driver: 'codex',
            // The driver appends `app-server` itself, so the catalog entry is just `codex`.
            command: CODEX,
            args: [],
            env: { HOME: codexHome, CODEX_HOME: join(codexHome, '.codex'), FAKE_API_KEY: 'dummy' },
          },
        },
      };
    });
    writeCodexConfig(`${model.url}/v1`);
    s = await startServer(t);
  });
  afterEach(async () => {
    await s.close();
    // baton stops its agents' process groups when it exits: no codex process may outlive the test.
    await eventually(() => pidsWithEnv(codexHome).length === 0, 10_000);
    t.cleanup();
  });

  it('asks permission for apply_patch with policy ask, writes the file once allowed, and completes', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt hi-from-codex',
      policy: 'ask',
    })) as Summary;

    const waiting = (await waitFor(s, spawned.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    expect(waiting.waiting_for.title).toBe(`Edit ${join(t.work, 'hello.txt')}`);
    expect(waiting.waiting_for.tool_call).toMatchObject({
      kind: 'edit',
      locations: [join(t.work, 'hello.txt')],
      raw_input: { changes: [{ path: join(t.work, 'hello.txt'), kind: 'add' }] },
    });
    expect(waiting.waiting_for.options.map((o: Summary) => [o.option_id, o.kind])).toEqual(OPTIONS);
    expect(existsSync(join(t.work, 'hello.txt'))).toBe(false);
    expect(pidsWithEnv(codexHome).length).toBeGreaterThan(0);

    await s.call('answer_permission', { run: spawned.run_id, option_id: 'accept' });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('done: wrote hello.txt');
    expect(done.result.stop_reason).toBe('end_turn');
    // apply_patch ends an added file with a newline
    expect(readFileSync(join(t.work, 'hello.txt'), 'utf8')).toBe('hi-from-codex\n');

    const { events } = (await s.call('get_events', { run: spawned.run_id, limit: 500 })) as {
      events: Summary[];
    };
    const callId = waiting.waiting_for.tool_call.tool_call_id as string;
    const call = events.find((e) => e.type === 'tool_call' && e.data.tool_call_id === callId);
    expect(call?.data).toMatchObject({
      kind: 'edit',
      status: 'in_progress',
      title: `Edit ${join(t.work, 'hello.txt')}`,
    });
    const update = events.find((e) => e.type === 'tool_update' && e.data.tool_call_id === callId);
    expect(update?.data).toMatchObject({ kind: 'edit', status: 'completed' });
    expect(update?.data.content).toEqual([
      { type: 'diff', path: join(t.work, 'hello.txt'), old_text: null, new_text: 'hi-from-codex\n' },
    ]);
    expect(events.find((e) => e.type === 'permission_resolved')?.data).toMatchObject({
      option_id: 'accept',
      by: 'caller',
    });

    const turns = responses();
    expect(turns.map((r) => r.reply)).toEqual([
      { type: 'write_file', path: 'hello.txt', content: 'hi-from-codex' },
      { type: 'text', text: 'done: wrote hello.txt' },
    ]);
    // the patch result went back to the model as the apply_patch call's output
    const input = turns[1]?.body.input as { type: string; call_id?: string }[];
    const patchCall = input.find((i) => i.type === 'custom_tool_call');
    expect(input.find((i) => i.type === 'custom_tool_call_output')?.call_id).toBe(patchCall?.call_id);
    expect(turns.every((r) => r.headers.authorization === 'Bearer dummy')).toBe(true);
    // policy ask runs codex in its workspace-write sandbox: the cwd is writable
    expect(userTexts(turns[0] as RecordedRequest).join('')).toContain(
      `<entry access="write"><path>${t.work}</path></entry>`,
    );
  });

  it('a denied write leaves no file and the run reports the denial', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'WRITE_FILE nope.txt never',
      policy: 'ask',
    })) as Summary;
    const waiting = (await waitFor(s, spawned.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    await s.call('answer_permission', { run: spawned.run_id, option_id: 'decline' });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('not written: nope.txt (patch rejected by user)');
    expect(existsSync(join(t.work, 'nope.txt'))).toBe(false);
    const { events } = (await s.call('get_events', { run: spawned.run_id, types: ['tool_update'] })) as {
      events: Summary[];
    };
    expect(events.map((e) => [e.data.kind, e.data.status, e.data.raw_output])).toEqual([
      ['edit', 'failed', { declined: true }],
    ]);
  });

  it('asks before a command with policy ask and reports its output and exit code', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'RUN_COMMAND echo hi-codex',
      policy: 'ask',
    })) as Summary;
    const waiting = (await waitFor(s, spawned.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.title).toBe('Run echo hi-codex');
    expect(waiting.waiting_for.tool_call).toMatchObject({
      kind: 'execute',
      title: 'echo hi-codex',
      raw_input: { command: "/bin/bash -lc 'echo hi-codex'", cwd: t.work, approval_kind: 'command' },
    });
    expect(waiting.waiting_for.options.map((o: Summary) => [o.option_id, o.kind])).toEqual(OPTIONS);
    await s.call('answer_permission', { run: spawned.run_id, option_id: 'accept' });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toMatch(/^ran: .*Process exited with code 0.*Output: hi-codex$/);
    const { events } = (await s.call('get_events', { run: spawned.run_id, types: ['tool_update'] })) as {
      events: Summary[];
    };
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toMatchObject({
      kind: 'execute',
      status: 'completed',
      raw_output: { exit_code: 0 },
      content: [{ type: 'text', text: 'hi-codex\n' }],
    });
  });

  it('follow_up continues the same codex thread in the same process', async () => {
    const first = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'remember the word walnut',
    })) as Summary;
    const one = (await waitFor(s, first.run_id)) as Summary;
    expect(one.status).toBe('completed');
    expect(one.result.text).toBe('echo: remember the word walnut');
    /** The agent process a run was given (its `running` status event names it). */
    const agentPid = async (run: string) => {
      const { events } = (await s.call('get_events', { run, types: ['status'] })) as { events: Summary[] };
      return events.find((e) => e.data.status === 'running')?.data.pid as number;
    };
    const pid = await agentPid(first.run_id);
    expect(pidsWithEnv(codexHome)).toContain(pid);

    const second = (await s.call('follow_up', { run: first.run_id, message: 'which word?' })) as Summary;
    const two = (await waitFor(s, second.run_id)) as Summary;
    expect(two.status).toBe('completed');
    expect(two.result.text).toBe('echo: which word?');
    expect(two.session_id).toBe(one.session_id);
    // The same codex process served both turns (codex's own short-lived helpers come and go).
    expect(await agentPid(second.run_id)).toBe(pid);
    expect(pidsWithEnv(codexHome)).toContain(pid);

    const turns = responses();
    expect(turns).toHaveLength(2);
    expect(userTexts(turns[1] as RecordedRequest)).toEqual(
      expect.arrayContaining(['remember the word walnut', 'which word?']),
    );
  });

  it('after the idle timeout closed codex, a follow-up resumes the thread from its rollout', async () => {
    const first = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'remember the word hazel',
    })) as Summary;
    expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('completed');
    // session_idle_timeout is 1s: the process goes away
    await eventually(() => pidsWithEnv(codexHome).length === 0, 10_000);

    const second = (await s.call('follow_up', { run: first.run_id, message: 'which word now?' })) as Summary;
    const two = (await waitFor(s, second.run_id)) as Summary;
    expect(two.status).toBe('completed');
    expect(two.result.text).toBe('echo: which word now?');
    const turns = responses();
    expect(turns).toHaveLength(2);
    expect(userTexts(turns[1] as RecordedRequest)).toEqual(
      expect.arrayContaining(['remember the word hazel', 'which word now?']),
    );
    // one thread: the same prompt_cache_key (codex uses the thread id) on both requests
    expect(turns[1]?.body.prompt_cache_key).toBe(turns[0]?.body.prompt_cache_key);
    // the resumed thread's earlier usage (codex reports it under the old turn id) is not billed again
    expect(two.result.usage.input_tokens).toBe(roughTokens(turns[1]?.body.input));
  });

  it("resume: a person's own codex thread (codex exec) continues in baton with its history", async () => {
    // The person's thread, run with codex directly (no baton) in the same CODEX_HOME and folder.
    // Not spawnSync: the model server answers from this process's event loop.
    const direct = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(CODEX, ['exec', '--json', '--skip-git-repo-check', 'remember the word juniper'], {
        cwd: t.work,
        env: {
          PATH: process.env.PATH,
          HOME: codexHome,
          CODEX_HOME: join(codexHome, '.codex'),
          FAKE_API_KEY: 'dummy',
        },
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
    expect(direct.status, direct.stderr).toBe(0);
    const started = direct.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Summary)
      .find((e) => e.type === 'thread.started');
    const threadId = String(started?.thread_id);
    expect(threadId).toMatch(/^[0-9a-f-]{36}$/);
    model.requests.length = 0;

    const run = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      resume: threadId,
      prompt: 'which word was it?',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toBe('echo: which word was it?');
    const [turn] = responses();
    expect(userTexts(turn as RecordedRequest)).toEqual(
      expect.arrayContaining(['remember the word juniper', 'which word was it?']),
    );
    expect(JSON.stringify(turn?.body.input)).toContain('echo: remember the word juniper');
    expect(((await s.call('get_run', { run: run.run_id })) as Summary).agent_session_id).toBe(threadId);

    // A thread codex does not know: codex's own answer, with where to look.
    const unknown = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      resume: randomUUID(),
      prompt: 'hello',
    })) as Summary;
    const failed = (await waitFor(s, unknown.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('SESSION_NOT_RESUMABLE');
    expect(failed.error.message).toMatch(
      /^codex cannot resume thread [0-9a-f-]+: .+; check the id \(codex resume lists them/,
    );
  });

  it('cancel mid-turn interrupts codex, ends the run cancelled and leaves no codex process', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'SLOW 20',
    })) as Summary;
    await eventually(
      () => responses().some((r) => r.reply?.type === 'text' && r.reply.slowMs === 20_000),
      10_000,
    );
    const started = Date.now();
    const cancelled = (await s.call('cancel_run', { run: spawned.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(5000);
    await eventually(() => pidsWithEnv(codexHome).length === 0, 5000);

    // the session is still usable: a follow-up reopens it
    const next = (await s.call('follow_up', { run: spawned.run_id, message: 'still there?' })) as Summary;
    const done = (await waitFor(s, next.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('echo: still there?');
    // codex recorded the interruption (turn/interrupt landed; it was not only the kill ladder)
    const last = responses().at(-1) as RecordedRequest;
    expect(userTexts(last).filter((x) => x.startsWith('<turn_aborted>'))).toHaveLength(1);
    expect(userTexts(last)).toContain('SLOW 20');
  });

  it('output_schema goes to codex as outputSchema and the run returns the structured value', async () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'number' }, word: { type: 'string' } },
      required: ['answer', 'word'],
      additionalProperties: false,
    };
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'ANSWER_JSON {"answer": 42, "word": "oak"}',
      output_schema: schema,
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.structured).toEqual({ answer: 42, word: 'oak' });
    expect(done.result.structured_error).toBeUndefined();
    const [request] = responses();
    expect(request?.body.text).toMatchObject({
      format: { type: 'json_schema', name: 'codex_output_schema', strict: true, schema },
    });
    // natively: the prompt reached codex as typed, without a schema instruction
    expect(userTexts(request as RecordedRequest)).toContain('ANSWER_JSON {"answer": 42, "word": "oak"}');
  });

  it("reports the turn's token usage as codex counted it", async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'RUN_COMMAND echo counted',
      policy: 'allow_all',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    const turns = responses();
    expect(turns).toHaveLength(2);
    // the model server bills roughTokens(input) and roughTokens(output item) per response
    const input = turns.reduce((n, r) => n + roughTokens(r.body.input), 0);
    expect(done.result.usage).toMatchObject({
      input_tokens: input,
      cached_read_tokens: 0,
      thought_tokens: 0,
      context_size: 258400,
    });
    expect(done.result.usage.output_tokens).toBeGreaterThan(0);
    expect(done.result.usage.total_tokens).toBe(input + done.result.usage.output_tokens);
    const { events } = (await s.call('get_events', { run: spawned.run_id, types: ['usage'] })) as {
      events: Summary[];
    };
    expect(events.map((e) => e.data.input_tokens)).toEqual([roughTokens(turns[0]?.body.input), input]);
  });

  it('deny_all: codex runs read-only and the write is refused by the policy without asking', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'WRITE_FILE denied.txt no',
      policy: 'deny_all',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('not written: denied.txt (patch rejected by user)');
    expect(existsSync(join(t.work, 'denied.txt'))).toBe(false);
    const { events } = (await s.call('get_events', {
      run: spawned.run_id,
      types: ['permission_resolved'],
    })) as { events: Summary[] };
    expect(events.map((e) => [e.data.option_id, e.data.by])).toEqual([['decline', 'policy:deny_all']]);
    // the sandbox the model was told about is read-only
    const [request] = responses();
    const context = userTexts(request as RecordedRequest).join('');
    expect(context).toContain(
      '<file_system type="restricted"><entry access="read"><special>:root</special></entry></file_system>',
    );
    expect(context).not.toContain('access="write"');
  });

  it('auto_edit: the write inside the cwd is allowed by the policy, a command still asks', async () => {
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: 'WRITE_FILE auto.txt edited',
      policy: 'auto_edit',
    })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(readFileSync(join(t.work, 'auto.txt'), 'utf8')).toBe('edited\n');

    const next = (await s.call('follow_up', {
      run: spawned.run_id,
      message: 'RUN_COMMAND touch made.txt',
    })) as Summary;
    const waiting = (await waitFor(s, next.run_id)) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.tool_call).toMatchObject({ kind: 'execute', title: 'touch made.txt' });
    await s.call('answer_permission', { run: next.run_id, option_id: 'decline' });
    const denied = (await waitFor(s, next.run_id)) as Summary;
    expect(denied.status).toBe('completed');
    expect(denied.result.text).toMatch(/^ran: exec_command failed: .*rejected by user/);
    expect(existsSync(join(t.work, 'made.txt'))).toBe(false);
  });

  it("a model error fails the run with AGENT_ERROR carrying codex's message", async () => {
    // codex retries a failed request 5 times by default (about 7 s here): not in this test
    writeCodexConfig(`${model.url}/missing/v1`, ['request_max_retries = 0', 'stream_max_retries = 0']);
    const spawned = (await s.call('spawn_run', { agent: 'codex', cwd: t.work, prompt: 'hello?' })) as Summary;
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('AGENT_ERROR');
    expect(done.error.message).toBe(
      `codex failed the turn: unexpected status 404 Not Found: no route POST /missing/v1/responses, url: ${model.url}/missing/v1/responses`,
    );
    expect(model.requests.map((r) => r.path)).toEqual(['/missing/v1/responses']);
  });
  it("an MCP tool call asks through codex's elicitation; baton makes it a permission request, allowed, the tool runs", async () => {
    // codex gets an MCP server: another baton (its own BATON_HOME), whose tools codex must ask to use.
    const inner = join(t.dir, 'inner-baton');
    writeCodexConfig(`${model.url}/v1`, [
      '[mcp_servers.inner]',
      `command = "${process.execPath}"`,
      `args = ["${CLI}", "mcp", "--standalone"]`,
      `env = { BATON_HOME = "${inner}" }`,
    ]);
    // list_agents is marked read-only and codex runs it unasked; spawn_run is not.
    mkdirSync(inner, { recursive: true });
    writeFileSync(join(inner, 'config.json'), JSON.stringify({ roots: [t.dir] }));
    const args = { agent: 'demo', cwd: t.work, prompt: 'hello', label: 'inner-run' };
    const spawned = (await s.call('spawn_run', {
      agent: 'codex',
      cwd: t.work,
      prompt: `CALL_TOOL spawn_run ${JSON.stringify(args)}`,
      policy: 'ask',
    })) as Summary;
    const waiting = (await waitFor(s, spawned.run_id)) as Summary;
    expect(waiting.status, JSON.stringify(waiting.error)).toBe('waiting');
    // codex 0.139+ asks for MCP tool calls with mcpServer/elicitation/request (what-users-ask item 3).
    expect(waiting.waiting_for.title).toBe('inner: Allow the inner MCP server to run tool "spawn_run"?');
    expect(waiting.waiting_for.tool_call.tool_call_id).toMatch(/^elicitation-/);
    expect(waiting.waiting_for.tool_call.raw_input.meta).toMatchObject({
      codex_approval_kind: 'mcp_tool_call',
      tool_name: 'spawn_run',
    });
    const allow = (waiting.waiting_for.options as Summary[]).find((o) => o.kind === 'allow_once');
    await s.call('answer_permission', { run: spawned.run_id, option_id: allow?.option_id });
    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toMatch(/^tool said: .*"run_id":"r_/);
  });
});
