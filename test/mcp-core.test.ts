import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  eventually,
  groupGone,
  makeEnv,
  startServer,
  steps,
  waitFor,
  type Server,
  type TestEnv,
  type Summary,
} from './helpers.js';

describe('baton mcp over stdio with the fixture ACP agent', () => {
  let t: TestEnv;
  let s: Server;
  beforeEach(async () => {
    t = makeEnv({ permission_timeout: '2s' });
    s = await startServer(t);
  });
  afterEach(async () => {
    await s.close();
    t.cleanup();
  });

  it('lists every contract tool with annotations', async () => {
    const { tools } = await s.client.listTools();
    const byName = Object.fromEntries(tools.map((x) => [x.name, x]));
    for (const name of [
      'list_agents',
      'spawn_run',
      'get_run',
      'list_runs',
      'wait_run',
      'get_events',
      'get_artifact',
      'answer_permission',
      'follow_up',
      'cancel_run',
      'server_status',
    ]) {
      expect(byName[name], name).toBeDefined();
    }
    expect(byName.get_run?.annotations?.readOnlyHint).toBe(true);
    expect(byName.wait_run?.annotations?.readOnlyHint).toBe(true);
    expect(byName.cancel_run?.annotations?.destructiveHint).toBe(true);
    // agent may come from a profile: only cwd is required by the schema (baton names a missing agent).
    expect((byName.spawn_run?.inputSchema as { required?: string[] }).required).toEqual(['cwd']);
  });

  it('spawn → waiting with options → answer → completed; file on disk; events and usage right', async () => {
    const prompt = steps(
      { thought: 'about to write' },
      {
        permission: {
          title: 'Write out.txt',
          kind: 'edit',
          locations: ['out.txt'],
          id: 'tc-1',
          allowed: [
            { write_file: { path: 'out.txt', content: 'hello from the fixture\n' } },
            { message: 'Wrote out.txt.' },
          ],
          rejected: [{ message: 'Did not write.' }],
        },
      },
      { usage: { used: 1500, size: 100000, cost: 0.0123 } },
      { prompt_usage: { input: 321, output: 45 } },
    );
    const spawned = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt,
      label: 'writer',
    })) as Summary;
    expect(spawned.status).toBe('queued');
    expect(spawned.label).toBe('writer');

    const waiting = (await waitFor(s, 'writer')) as Summary;
    expect(waiting.status).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    expect(waiting.waiting_for.title).toBe('Write out.txt');
    expect(waiting.waiting_for.tool_call.locations).toEqual([join(t.work, 'out.txt')]);
    expect(waiting.waiting_for.options.map((o: Summary) => o.option_id)).toEqual([
      'allow_once',
      'allow_always',
      'reject_once',
    ]);
    expect(existsSync(join(t.work, 'out.txt'))).toBe(false);

    const answered = (await s.call('answer_permission', {
      run: 'writer',
      option_id: 'allow_once',
    })) as Summary;
    expect(answered.status).toBe('running');

    const done = (await waitFor(s, spawned.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('Wrote out.txt.');
    expect(done.result.stop_reason).toBe('end_turn');
    expect(done.result.usage).toMatchObject({
      input_tokens: 321,
      output_tokens: 45,
      context_used: 1500,
      context_size: 100000,
      cost_usd: 0.0123,
    });
    expect(readFileSync(join(t.work, 'out.txt'), 'utf8')).toBe('hello from the fixture\n');

    const { events } = (await s.call('get_events', { run: spawned.run_id, limit: 200 })) as {
      events: Summary[];
    };
    const types = events.map((e) => e.type);
    expect(types).toContain('thought');
    const req = events.find((e) => e.type === 'permission_request');
    expect(req?.data.title).toBe('Write out.txt');
    const res = events.find((e) => e.type === 'permission_resolved');
    expect(res?.data).toMatchObject({ outcome: 'selected', option_id: 'allow_once', by: 'caller' });
    expect(
      events.some(
        (e) => e.type === 'tool_update' && e.data.tool_call_id === 'tc-1' && e.data.status === 'completed',
      ),
    ).toBe(true);
    expect(events.map((e) => e.data.status).filter(Boolean)).toEqual(
      expect.arrayContaining(['queued', 'starting', 'running', 'waiting', 'completed']),
    );
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const got = (await s.call('get_run', { run: spawned.run_id })) as Summary;
    expect(got.result.text).toBe('Wrote out.txt.');
  });

  it('updates the agent sends after its prompt response still belong to the turn', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'main answer' }, { late_message: ' and a late tail' }),
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.result.text).toBe('main answer and a late tail');
  });

  it('output and permission requests an agent sends long after its turn do not reopen the finished run', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps(
        { message: 'done' },
        {
          after_turn: {
            delay: 1500,
            steps: [{ message: 'ghost text' }, { permission: { title: 'ghost', kind: 'execute' } }],
          },
        },
      ),
    })) as Summary;
    expect(((await waitFor(s, run.run_id)) as Summary).status).toBe('completed');
    await new Promise((r) => setTimeout(r, 2500));
    const after = (await s.call('get_run', { run: run.run_id })) as Summary;
    expect(after.status).toBe('completed');
    expect(after.waiting_for).toBeUndefined();
    const { events } = (await s.call('get_events', { run: run.run_id, limit: 100 })) as { events: Summary[] };
    expect(events[events.length - 1]?.data.status).toBe('completed');
    expect(events.filter((e) => e.data.role === 'assistant').map((e) => e.data.text)).toEqual(['done']);
    expect(events.some((e) => e.type === 'permission_request')).toBe(false);
  });

  it('the agent cannot write outside its cwd through a symlink and ".."', async () => {
    const outside = join(t.dir, 'outside');
    mkdirSync(join(outside, 'a'), { recursive: true });
    symlinkSync(join(outside, 'a'), join(t.work, 'sl'));
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      policy: 'allow_all',
      prompt: steps({ write_file: { path: 'sl/../escaped.txt', content: 'x' } }),
    })) as Summary;
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.message).toContain('outside');
    expect(existsSync(join(outside, 'escaped.txt'))).toBe(false);
    expect(existsSync(join(t.work, 'escaped.txt'))).toBe(false);
  });

  it('rejecting a permission lets the agent carry on', async () => {
    const prompt = steps({
      permission: {
        title: 'Delete x',
        kind: 'delete',
        locations: ['x'],
        rejected: [{ message: 'Left it alone.' }],
      },
    });
    const run = (await s.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt })) as Summary;
    const w = (await waitFor(s, run.run_id)) as Summary;
    expect(w.status).toBe('waiting');
    await s.call('answer_permission', {
      run: run.run_id,
      option_id: 'reject_once',
      request_id: w.waiting_for.request_id,
    });
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('Left it alone.');
  });

  it('a permission unanswered past its deadline is rejected (fail closed) and the run carries on', async () => {
    const prompt = steps({
      permission: {
        title: 'Write y',
        kind: 'edit',
        locations: ['y'],
        allowed: [{ message: 'allowed' }],
        rejected: [{ message: 'rejected by deadline' }],
      },
    });
    const run = (await s.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt })) as Summary;
    expect(((await waitFor(s, run.run_id)) as Summary).status).toBe('waiting');
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('rejected by deadline');
    const { events } = (await s.call('get_events', { run: run.run_id, types: ['permission_resolved'] })) as {
      events: Summary[];
    };
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toMatchObject({ outcome: 'selected', option_id: 'reject_once', by: 'deadline' });
    expect(String(events[0]?.data.note)).toContain('fail closed');
  });

  it('policies answer on their own: allow_all, deny_all, auto_edit inside and outside cwd', async () => {
    const ask = (title: string, locations: string[], kind = 'edit') =>
      steps({
        permission: {
          title,
          kind,
          locations,
          allowed: [{ message: `${title}: allowed` }],
          rejected: [{ message: `${title}: rejected` }],
        },
      });
    const a = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: ask('a', ['f']),
      policy: 'allow_all',
    })) as Summary;
    const d = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: ask('d', ['f']),
      policy: 'deny_all',
    })) as Summary;
    const e = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: ask('e', ['f']),
      policy: 'auto_edit',
    })) as Summary;
    const o = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: ask('o', ['/etc/passwd']),
      policy: 'auto_edit',
    })) as Summary;
    expect(((await waitFor(s, a.run_id)) as Summary).result.text).toBe('a: allowed');
    expect(((await waitFor(s, d.run_id)) as Summary).result.text).toBe('d: rejected');
    expect(((await waitFor(s, e.run_id)) as Summary).result.text).toBe('e: allowed');
    const outside = (await waitFor(s, o.run_id)) as Summary;
    expect(outside.status).toBe('waiting');
    await s.call('cancel_run', { run: o.run_id });
  });

  it('follow_up continues the same session and the agent sees its earlier context', async () => {
    const first = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'the password is swordfish',
    })) as Summary;
    expect(((await waitFor(s, first.run_id)) as Summary).result.text).toBe(
      'You said: the password is swordfish',
    );
    const second = (await s.call('follow_up', { run: first.run_id, message: 'remember?' })) as Summary;
    expect(second.session_id).toBe(first.session_id);
    expect(second.run_id).not.toBe(first.run_id);
    const done = (await waitFor(s, second.run_id)) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toBe('I remember: the password is swordfish');
  });

  it('cancel of a hanging run: cancelled, its process group gone', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'working' }, { hang: true }),
    })) as Summary;
    const { events } = await eventually(async () => {
      const r = (await s.call('get_events', { run: run.run_id, types: ['status'] })) as { events: Summary[] };
      return r.events.some((e) => e.data.status === 'running') ? r : undefined;
    });
    const pid = events.find((e) => e.data.status === 'running')?.data.pid as number;
    expect(pid).toBeGreaterThan(0);
    expect(groupGone(pid)).toBe(false);
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    await eventually(() => groupGone(pid), 5000);
  });

  it('cancel of a run that ignores cancel: cancelled after the kill ladder, process group gone', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ ignore_cancel: true }, { hang: true }),
    })) as Summary;
    const pid = await eventually(async () => {
      const r = (await s.call('get_events', { run: run.run_id, types: ['status'] })) as { events: Summary[] };
      return r.events.find((e) => e.data.status === 'running')?.data.pid as number | undefined;
    });
    const started = Date.now();
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - started).toBeGreaterThan(2500); // it waited for the agent, then killed it
    await eventually(() => groupGone(pid), 5000);
    const forced = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ ignore_cancel: true }, { hang: true }),
    })) as Summary;
    await eventually(
      async () => ((await s.call('get_run', { run: forced.run_id })) as Summary).status === 'running',
    );
    const f0 = Date.now();
    expect(((await s.call('cancel_run', { run: forced.run_id, force: true })) as Summary).status).toBe(
      'cancelled',
    );
    expect(Date.now() - f0).toBeLessThan(2500);
  });

  it('timeout → timed_out', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ hang: true }),
      timeout: '1s',
    })) as Summary;
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('timed_out');
    expect(done.error.code).toBe('TIMED_OUT');
  });

  it('crash → failed with the stderr tail', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'starting' }, { crash: { code: 3, stderr: 'fatal: the fixture blew up' } }),
    })) as Summary;
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('AGENT_EXITED');
    expect(done.error.message).toContain('code 3');
    expect(done.error.stderr_tail).toContain('fatal: the fixture blew up');
  });

  it('an agent command that does not exist fails fast with the fix', async () => {
    await s.close();
    t.cleanup();
    t = makeEnv({ agents: { ghost: { driver: 'acp', command: 'definitely-not-installed-agent' } } });
    s = await startServer(t);
    const res = await s.raw('spawn_run', { agent: 'ghost', cwd: t.work, prompt: 'hi' });
    expect(res.isError).toBe(true);
    expect((res.structuredContent as Summary).error.code).toBe('AGENT_NOT_INSTALLED');
  });

  it('output_schema: valid JSON answer → result.structured; invalid → structured_error', async () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    const good = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: 'Here:\n```json\n{"ok": true}\n```' }),
      output_schema: schema,
    })) as Summary;
    const bad = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ message: '{"ok": "yes"}' }),
      output_schema: schema,
    })) as Summary;
    expect(((await waitFor(s, good.run_id)) as Summary).result.structured).toEqual({ ok: true });
    const b = (await waitFor(s, bad.run_id)) as Summary;
    expect(b.status).toBe('completed');
    expect(b.result.structured).toBeUndefined();
    expect(b.result.structured_error.errors.length).toBeGreaterThan(0);
    // The first answer's violations were sent back once (test/structured.test.ts covers the retry).
    const warned = (await s.call('get_events', { run: bad.run_id, types: ['warning'] })) as Summary;
    expect(warned.events[0].data).toMatchObject({
      kind: 'structured_output',
      errors: ['/ok must be boolean'],
    });
  });

  it('every tool given bad input returns isError with a code and a useful message; the server keeps serving', async () => {
    const done = (await s.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt: 'hi' })) as Summary;
    await waitFor(s, done.run_id);
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ['spawn_run', { cwd: t.work, prompt: 'x' }, 'INVALID_PARAMS', /agent/],
      ['spawn_run', { agent: 'fixture', cwd: 42, prompt: 'x' }, 'INVALID_PARAMS', /cwd/],
      ['spawn_run', { agent: 'fixture', cwd: 'relative/dir', prompt: 'x' }, 'INVALID_PARAMS', /absolute/],
      ['spawn_run', { agent: 'fixture', cwd: '/etc', prompt: 'x' }, 'CWD_NOT_ALLOWED', /roots/],
      ['spawn_run', { agent: 'fixture', cwd: t.work }, 'INVALID_PARAMS', /prompt/],
      ['spawn_run', { agent: 'nope', cwd: t.work, prompt: 'x' }, 'AGENT_NOT_FOUND', /fixture/],
      [
        'spawn_run',
        { agent: 'fixture', cwd: t.work, prompt: 'x', timeout: 'soon' },
        'INVALID_PARAMS',
        /timeout/,
      ],
      [
        'spawn_run',
        { agent: 'fixture', cwd: t.work, prompt: 'x', policy: 'yolo' },
        'INVALID_PARAMS',
        /policy/,
      ],
      ['spawn_run', { agent: 'fixture', cwd: t.work, prompt: 'x', bogus: 1 }, 'INVALID_PARAMS', /bogus/],
      [
        'spawn_run',
        { agent: 'fixture', cwd: t.work, prompt: 'x', isolation: 'worktree' },
        'NOT_A_GIT_REPO',
        /git init/,
      ],
      ['get_run', { run: 'r_doesnotexist' }, 'RUN_NOT_FOUND', /list_runs/],
      ['get_run', {}, 'INVALID_PARAMS', /run/],
      ['list_runs', { limit: 'ten' }, 'INVALID_PARAMS', /limit/],
      ['wait_run', { runs: ['nope'] }, 'RUN_NOT_FOUND', /nope/],
      ['get_events', { run: done.run_id, types: ['nonsense'] }, 'INVALID_PARAMS', /types/],
      [
        'get_artifact',
        { run: done.run_id, seq: 1, field_path: '/text' },
        'ARTIFACT_NOT_FOUND',
        /no artifacts/,
      ],
      ['get_artifact', { run: done.run_id, seq: 9999, field_path: '/text' }, 'EVENT_NOT_FOUND', /9999/],
      ['answer_permission', { run: done.run_id, option_id: 'allow_once' }, 'RUN_NOT_WAITING', /not waiting/],
      ['follow_up', { run: 'r_missing', message: 'x' }, 'RUN_NOT_FOUND', /r_missing/],
      ['cancel_run', { run: 123 }, 'INVALID_PARAMS', /run/],
    ];
    for (const [tool, args, code, message] of cases) {
      const res = await s.raw(tool, args);
      expect(res.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      const err = (res.structuredContent as Summary).error;
      expect(err.code, `${tool} ${JSON.stringify(args)}: ${err.message}`).toBe(code);
      expect(err.message).toMatch(message);
      expect(JSON.parse((res.content[0] as { text: string }).text)).toEqual({ error: err });
    }
    // A waiting run: unknown option id.
    const w = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ permission: { title: 't', kind: 'execute' } }),
    })) as Summary;
    expect(((await waitFor(s, w.run_id)) as Summary).status).toBe('waiting');
    const res = await s.raw('answer_permission', { run: w.run_id, option_id: 'maybe' });
    expect((res.structuredContent as Summary).error.code).toBe('OPTION_NOT_FOUND');
    expect((res.structuredContent as Summary).error.message).toContain('allow_once');
    const label = await s.raw('spawn_run', { agent: 'fixture', cwd: t.work, prompt: 'x', label: 'dup' });
    expect(label.isError).toBeFalsy();
    const dup = await s.raw('spawn_run', { agent: 'fixture', cwd: t.work, prompt: 'x', label: 'dup' });
    expect((dup.structuredContent as Summary).error.code).toBe('LABEL_TAKEN');
    // Still serving.
    const status = (await s.call('server_status')) as Summary;
    expect(status.runs.total).toBe(3);
    expect(status.agents_ready).toContain('fixture');
  });

  it('resources: list, read, and updates to subscribers', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ sleep: 300 }, { message: 'ok' }),
    })) as Summary;
    const updates: string[] = [];
    s.client.setNotificationHandler('notifications/resources/updated', (n) => {
      updates.push(n.params.uri);
    });
    await s.client.subscribeResource({ uri: `baton://runs/${run.run_id}` });
    await waitFor(s, run.run_id, 'finished');
    await eventually(() => updates.includes(`baton://runs/${run.run_id}`), 3000);
    const read = await s.client.readResource({ uri: `baton://runs/${run.run_id}` });
    expect(JSON.parse((read.contents[0] as { text: string }).text).status).toBe('completed');
    const list = await s.client.readResource({ uri: 'baton://runs' });
    expect(JSON.parse((list.contents[0] as { text: string }).text).runs[0].run_id).toBe(run.run_id);
    const ev = await s.client.readResource({ uri: `baton://runs/${run.run_id}/events` });
    expect(JSON.parse((ev.contents[0] as { text: string }).text).events.length).toBeGreaterThan(3);
  });

  it('wait_run sends progress notifications while it blocks, and times out honestly', async () => {
    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ sleep: 60000 }),
    })) as Summary;
    const progress: unknown[] = [];
    const res = (await s.client.callTool(
      { name: 'wait_run', arguments: { runs: [run.run_id], timeout: '6s' } },
      { onprogress: (p) => progress.push(p), timeout: 20_000 },
    )) as { structuredContent: Summary };
    expect(res.structuredContent.timed_out).toBe(true);
    expect(res.structuredContent.runs).toEqual([]);
    expect(res.structuredContent.pending[0]).toMatchObject({ run_id: run.run_id, status: 'running' });
    expect(progress.length).toBeGreaterThanOrEqual(1);
    await s.call('cancel_run', { run: run.run_id, force: true });
  });
});
