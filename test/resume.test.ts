// spawn_run `resume`: a session started outside baton (the agent's own id) handed to baton. The
// session is made by talking ACP to the fixture agent directly (no baton), with the same state
// folder baton's fixture agents use; then baton resumes it, over MCP, the CLI and REST.
import { spawn } from 'node:child_process';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import * as acp from '@agentclientprotocol/sdk/unstable';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FIXTURE_AGENT,
  SCENARIO,
  call,
  makeEnv,
  runCli,
  serve,
  startServer,
  stopServe,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

/**
 * A person's own session with the fixture agent: session/new and one prompt per `prompts` over a
 * bare ACP client, in `cwd`, saved in `state`. Returns the agent's session id and what it said.
 */
async function sessionOutsideBaton(
  state: string,
  cwd: string,
  prompts: string[],
): Promise<{ id: string; said: string }> {
  const child = spawn(process.execPath, [FIXTURE_AGENT, '--scenario', SCENARIO, '--state', state], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let said = '';
  try {
    const conn = acp
      .client({ name: 'a-person' })
      .onNotification(acp.methods.client.session.update, ({ params }) => {
        const u = params.update;
        if (u.sessionUpdate === 'agent_message_chunk' && u.content.type === 'text') said += u.content.text;
      })
      .connect(
        acp.ndJsonStream(
          Writable.toWeb(child.stdin) as WritableStream<Uint8Array>,
          Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>,
        ),
      );
    await conn.agent.request(acp.methods.agent.initialize, {
      protocolVersion: acp.PROTOCOL_VERSION,
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
      clientInfo: { name: 'a-person', version: '1.0.0' },
    });
    const { sessionId } = await conn.agent.request(acp.methods.agent.session.new, { cwd, mcpServers: [] });
    for (const text of prompts) {
      await conn.agent.request(acp.methods.agent.session.prompt, {
        sessionId,
        prompt: [{ type: 'text', text }],
      });
    }
    return { id: sessionId, said };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
  }
}

async function events(s: Server, run: string): Promise<Summary[]> {
  return ((await s.call('get_events', { run, limit: 500 })) as { events: Summary[] }).events;
}

/** The error a refused tool call returns. */
async function refusal(s: Server, args: Record<string, unknown>): Promise<{ code: string; message: string }> {
  const res = await s.raw('spawn_run', args);
  expect(res.isError, JSON.stringify(res.structuredContent)).toBe(true);
  return (res.structuredContent as { error: { code: string; message: string } }).error;
}

/** makeEnv's fixture agents (a config's `agents` replaces them), and two that cannot resume. */
function resumeEnv(): TestEnv {
  return makeEnv((dir) => {
    const fixture = (extra: string[] = []) => ({
      driver: 'acp',
      command: process.execPath,
      args: [FIXTURE_AGENT, '--scenario', SCENARIO, '--state', join(dir, 'state'), ...extra],
    });
    return {
      agents: {
        fixture: fixture(),
        'fixture-noload': fixture(['--no-load']),
        'fixture-resume': fixture(['--resume-only']),
        python: { driver: 'terminal', command: 'python3', args: ['-q'] },
        remote: { driver: 'a2a', url: 'http://127.0.0.1:9/' },
      },
    };
  });
}

describe('spawn_run resume: a session started outside baton', () => {
  let t: TestEnv;
  let s: Server;

  beforeEach(async () => {
    t = resumeEnv();
    s = await startServer(t);
  });
  afterEach(async () => {
    await s.close();
    t.cleanup();
  });

  it('an ACP session (session/load) continues in baton: the run sees the earlier turns, not as its own output', async () => {
    const mine = await sessionOutsideBaton(t.state, t.work, ['the secret is 42', 'and the colour is teal']);
    expect(mine.said).toContain('You said: the secret is 42');

    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      resume: mine.id,
      prompt: 'remember what I told you',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toBe('I remember: the secret is 42 | and the colour is teal');

    // session/load replayed the two earlier turns; they are not this run's messages.
    const messages = (await events(s, run.run_id)).filter((e) => e.type === 'message');
    expect(messages.map((e) => [e.data.role, e.data.text])).toEqual([
      ['user', 'remember what I told you'],
      ['assistant', 'I remember: the secret is 42 | and the colour is teal'],
    ]);

    // get_run shows the agent's own id; the baton session is new.
    const got = (await s.call('get_run', { run: run.run_id })) as Summary;
    expect(got.agent_session_id).toBe(mine.id);
    expect(got.session_id).toMatch(/^s_/);

    // A follow-up continues the same agent-side conversation.
    const next = (await s.call('follow_up', { run: run.run_id, message: 'remember everything' })) as Summary;
    const nextDone = (await waitFor(s, next.run_id)) as Summary;
    expect(nextDone.result.text).toBe(
      'I remember: the secret is 42 | and the colour is teal | remember what I told you',
    );
    expect(((await s.call('get_run', { run: next.run_id })) as Summary).agent_session_id).toBe(mine.id);

    // The same agent session twice: the second is pointed at the baton session that holds it.
    const again = await refusal(s, { agent: 'fixture', cwd: t.work, resume: mine.id, prompt: 'hi' });
    expect(again.code).toBe('INVALID_PARAMS');
    expect(again.message).toContain(`baton session ${String(got.session_id)} already continues`);
  });

  it('an agent that offers only session/resume continues it too', async () => {
    const mine = await sessionOutsideBaton(t.state, t.work, ['the secret is 7']);
    const run = (await s.call('spawn_run', {
      agent: 'fixture-resume',
      cwd: t.work,
      resume: mine.id,
      prompt: 'remember',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toBe('I remember: the secret is 7');
  });

  it('an ACP agent that can neither load nor resume fails the run with RESUME_NOT_SUPPORTED', async () => {
    const mine = await sessionOutsideBaton(t.state, t.work, ['the secret is 42']);
    const run = (await s.call('spawn_run', {
      agent: 'fixture-noload',
      cwd: t.work,
      resume: mine.id,
      prompt: 'remember',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('RESUME_NOT_SUPPORTED');
    expect(done.error.message).toContain('offers neither session/load nor session/resume');
  });

  it('a resume that failed (the agent did not find the session) can be tried again', async () => {
    const mine = await sessionOutsideBaton(t.state, t.work, ['the secret is 5']);
    // The agent looks in another place first (as claude would in another folder or HOME).
    const file = join(t.state, `${mine.id}.json`);
    renameSync(file, `${file}.away`);
    const first = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      resume: mine.id,
      prompt: 'remember',
    })) as Summary;
    expect(((await waitFor(s, first.run_id)) as Summary).error?.code).toBe('SESSION_NOT_RESUMABLE');
    renameSync(`${file}.away`, file);
    const second = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      resume: mine.id,
      prompt: 'remember',
    })) as Summary;
    expect(second.session_id).not.toBe(first.session_id);
    const done = (await waitFor(s, second.run_id)) as Summary;
    expect(done.result?.text).toBe('I remember: the secret is 5');
  });

  it("an unknown session id fails the run with the agent's own answer and the fix", async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      resume: 'sess-no-such-session',
      prompt: 'remember',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('SESSION_NOT_RESUMABLE');
    expect(done.error.message).toMatch(/cannot reopen session sess-no-such-session: .*not found/i);
    expect(done.error.message).toContain('pass the cwd the session was started in');
  });

  it('refuses ids that are not plausible session ids, and agents that cannot resume one', async () => {
    const base = { agent: 'fixture', cwd: t.work, prompt: 'hi' };
    for (const bad of ['--foo', '-x', '../../etc/passwd', 'a/b', 'a b', '.hidden', 'x'.repeat(201), '']) {
      const e = await refusal(s, { ...base, resume: bad });
      expect(e.code, bad).toBe('INVALID_PARAMS');
      expect(e.message, bad).toContain('resume');
    }
    expect((await refusal(s, { ...base, resume: 'sess-1', session_id: 's_x' })).message).toContain(
      'not both',
    );
    expect((await refusal(s, { ...base, resume: 'sess-1', isolation: 'worktree' })).message).toContain(
      'isolation "worktree"',
    );
    for (const agent of ['python', 'remote']) {
      const e = await refusal(s, { ...base, agent, resume: 'sess-1' });
      expect(e.code, agent).toBe('RESUME_NOT_SUPPORTED');
      expect(e.message, agent).toContain(`agent ${agent} (driver `);
    }
    // Nothing was started.
    expect(((await s.call('server_status')) as Summary).runs.total).toBe(0);
  });
});

describe('resume from the CLI and REST (the daemon)', () => {
  let t: TestEnv;
  beforeEach(() => {
    t = resumeEnv();
  });
  afterEach(() => t.cleanup());

  it('baton run --resume continues it from the terminal; REST takes resume too', async () => {
    const mine = await sessionOutsideBaton(t.state, t.work, ['the secret is 42']);
    const res = await runCli(t, ['run', 'fixture', '--resume', mine.id, '--json', 'remember', 'it']);
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as Summary;
    expect(summary.result.text).toBe('I remember: the secret is 42');

    const bad = await runCli(t, ['run', 'fixture', '--resume=--foo', 'hi']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('INVALID_PARAMS: resume must be');

    const http = await serve(t);
    try {
      const refused = await call(http.port, 'POST', '/api/runs', {
        token: http.token,
        body: { agent: 'python', cwd: t.work, prompt: 'x', resume: 'abc' },
      });
      expect(refused.status).toBe(422);
      expect(refused.json.error.code).toBe('RESUME_NOT_SUPPORTED');
      const other = await sessionOutsideBaton(t.state, t.work, ['rest knows 9']);
      const accepted = await call(http.port, 'POST', '/api/runs', {
        token: http.token,
        body: { agent: 'fixture', cwd: t.work, prompt: 'remember', resume: other.id },
      });
      expect(accepted.status, accepted.body).toBe(201);
      const got = await call(http.port, 'GET', `/api/runs/${String(accepted.json.run_id)}`, {
        token: http.token,
      });
      expect(got.json.agent_session_id).toBe(other.id);
    } finally {
      await stopServe(http);
    }
  });
});
