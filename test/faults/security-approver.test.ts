// Who may answer a permission prompt (audit C4.1, C4.3): typed terminal input is an answer too, so
// it obeys the run's approver; MCP elicitation counts as a person only where the config says so;
// `baton approve` counts as a person only on a terminal (a script is a program).
import { Client } from '@modelcontextprotocol/client';
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
  steps,
  stopServe,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

const CONFIRM = {
  driver: 'terminal',
  command: 'sh',
  args: ['-c', `printf 'Delete everything? [y/N] '; read a; echo "answered=$a"`],
};

const WRITE = steps({
  permission: {
    title: 'Write out.txt',
    kind: 'edit',
    locations: ['out.txt'],
    allowed: [{ write_file: { path: 'out.txt', content: 'approved\n' } }, { message: 'Wrote out.txt.' }],
    rejected: [{ message: 'Not written.' }],
  },
});

/** The permission_resolved events of a run (over REST). */
async function resolutions(http: Serve, run: string): Promise<Summary[]> {
  const r = await call(http.port, 'GET', `/api/runs/${run}/events?types=permission_resolved&limit=100`, {
    token: http.token,
  });
  return (r.json.events as Summary[]).map((e) => e.data);
}

async function waitStatus(http: Serve, run: string, statuses: string[]): Promise<Summary> {
  return eventually(async () => {
    const r = await call(http.port, 'GET', `/api/runs/${run}`, { token: http.token });
    return statuses.includes(r.json.status as string) ? r.json : undefined;
  }, 30_000);
}

async function screen(http: Serve, run: string): Promise<string> {
  const r = await call(http.port, 'GET', `/api/runs/${run}/terminal`, { token: http.token });
  return r.json.screen as string;
}

describe('security: who answers permission prompts', () => {
  let t: TestEnv;
  let http: Serve | undefined;
  let s: Server | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => undefined);
    await s?.close().catch(() => undefined);
    s = undefined;
    await stopServe(http);
    http = undefined;
    t.cleanup();
  });

  it('C4.1: a terminal prompt of a human run cannot be answered by send_keys or follow_up from a program; typed by a person, it is recorded as their answer', async () => {
    t = makeEnv({ agents: { confirm: CONFIRM } });
    http = await serve(t);
    const api = { token: http.token };
    const { cookie, csrf } = await dashboardLogin(http.port, http.token);
    const person = { headers: { cookie, 'x-csrf-token': csrf } };

    const run = (
      await call(http.port, 'POST', '/api/runs', {
        ...api,
        body: { agent: 'confirm', cwd: t.work, approver: 'human' },
      })
    ).json;
    const waiting = await waitStatus(http, run.run_id, ['waiting']);
    expect(waiting.waiting_for).toMatchObject({ kind: 'permission', title: 'Delete everything? [y/N]' });

    // A program (bearer token) types the answer, or sends it as a follow-up: refused.
    const keys = await call(http.port, 'POST', `/api/runs/${run.run_id}/keys`, {
      ...api,
      body: { text: 'y', enter: true },
    });
    expect(keys.status).toBe(403);
    expect(keys.json.error.code).toBe('NOT_APPROVER');
    expect(keys.json.error.message).toContain('approver "human"');
    expect(keys.json.error.message).toContain('dashboard');
    const follow = await call(http.port, 'POST', `/api/runs/${run.run_id}/follow-up`, {
      ...api,
      body: { message: 'y' },
    });
    expect(follow.status).toBe(403);
    expect(follow.json.error.code).toBe('NOT_APPROVER');
    // Nothing reached the program.
    await new Promise((r) => setTimeout(r, 500));
    expect(await screen(http, run.run_id)).not.toContain('answered=');
    const still = await call(http.port, 'GET', `/api/runs/${run.run_id}`, { token: http.token });
    expect(still.json.status).toBe('waiting');

    // A person types it in the dashboard: delivered, and recorded as the person's answer.
    const typed = await call(http.port, 'POST', `/api/runs/${run.run_id}/keys`, {
      ...person,
      body: { text: 'y', enter: true },
    });
    expect(typed.status, typed.body).toBe(200);
    const done = await waitStatus(http, run.run_id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('answered=y');
    expect(await resolutions(http, run.run_id)).toEqual([
      expect.objectContaining({ outcome: 'selected', option_id: 'y', kind: 'allow_once', by: 'dashboard' }),
    ]);

    // approver "caller": the person is refused, the program may type; anything typed is its answer.
    const mine = (
      await call(http.port, 'POST', '/api/runs', {
        ...api,
        body: { agent: 'confirm', cwd: t.work, approver: 'caller' },
      })
    ).json;
    await waitStatus(http, mine.run_id, ['waiting']);
    const refused = await call(http.port, 'POST', `/api/runs/${mine.run_id}/keys`, {
      ...person,
      body: { text: 'y', enter: true },
    });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('NOT_APPROVER');
    expect(refused.json.error.message).toContain('approver "caller"');
    const ok = await call(http.port, 'POST', `/api/runs/${mine.run_id}/follow-up`, {
      ...api,
      body: { message: 'maybe' },
    });
    expect(ok.status, ok.body).toBe(201);
    const mineDone = await waitStatus(http, mine.run_id, ['completed', 'failed']);
    expect(mineDone.result.text).toContain('answered=maybe');
    expect(await resolutions(http, mine.run_id)).toEqual([
      expect.objectContaining({ outcome: 'typed', by: 'api' }),
    ]);
  });

  it('C4.3: elicitation is not a person unless the config says so; a scripted baton approve is a program, on a terminal a person', async () => {
    t = makeEnv();
    const asked: unknown[] = [];
    const client = new Client(
      { name: 'auto-accepting-host', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } } },
    );
    client.setRequestHandler('elicitation/create', async (req) => {
      asked.push(req.params);
      return { action: 'accept', content: { option_id: 'allow_once' } } as never;
    });
    s = await startServer(t, { client });
    const run = await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'human',
    });
    const waited = (await s.call('wait_run', { runs: [run.run_id], timeout: 5 })) as Summary;
    // The client was not asked: its answer would not count as a person's.
    expect(asked).toHaveLength(0);
    expect(waited.runs[0]).toMatchObject({ status: 'waiting', approver: 'human' });

    // baton approve from a script (no terminal): a program, refused for a human run.
    const scripted = await runCli(t, ['approve', run.run_id as string]);
    expect(scripted.code).not.toBe(0);
    expect(scripted.stderr).toContain('NOT_APPROVER');
    expect(scripted.stderr).toContain('not script');
    expect((await s.call('get_run', { run: run.run_id })).status).toBe('waiting');
    // ... run by an agent of a baton run, even on a terminal: a program too.
    const byAgent = await runCliOnTty(t, ['approve', run.run_id as string], { BATON_PARENT_RUN: 'r_x' });
    expect(byAgent.code).not.toBe(0);
    expect(byAgent.stdout).toContain('NOT_APPROVER');
    // On a terminal: a person.
    const onTty = await runCliOnTty(t, ['approve', run.run_id as string]);
    expect(onTty.code, onTty.stdout).toBe(0);
    const done = (await s.call('wait_run', {
      runs: [run.run_id],
      until: 'finished',
      timeout: 30,
    })) as Summary;
    expect(done.runs[0].status).toBe('completed');
    const events = (await s.call('get_events', {
      run: run.run_id,
      types: ['permission_resolved'],
    })) as Summary;
    expect(events.events.map((e: Summary) => e.data.by)).toEqual(['cli']);

    // A scripted approve is a program: approver "caller" accepts it, and the record says "script".
    const mine = await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'caller',
      label: 'mine',
    });
    await s.call('wait_run', { runs: [mine.run_id], timeout: 30 });
    const ok = await runCli(t, ['deny', 'mine']);
    expect(ok.code, ok.stderr).toBe(0);
    await s.call('wait_run', { runs: ['mine'], until: 'finished', timeout: 30 });
    const mineEvents = (await s.call('get_events', {
      run: 'mine',
      types: ['permission_resolved'],
    })) as Summary;
    expect(mineEvents.events.map((e: Summary) => e.data.by)).toEqual(['script']);
  });

  it('C4.3: with approvals.elicitation_is_human, an eliciting client is asked and its answer counts as the person', async () => {
    t = makeEnv({ approvals: { elicitation_is_human: true } });
    const asked: unknown[] = [];
    const client = new Client(
      { name: 'eliciting-host', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } } },
    );
    client.setRequestHandler('elicitation/create', async (req) => {
      asked.push(req.params);
      return { action: 'accept', content: { option_id: 'allow_once' } } as never;
    });
    s = await startServer(t, { client });
    const run = await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: WRITE,
      approver: 'human',
    });
    const done = (await s.call('wait_run', { runs: [run.run_id], timeout: 30 })) as Summary;
    expect(done.runs[0]).toMatchObject({ status: 'completed', result: { text: 'Wrote out.txt.' } });
    expect(asked).toHaveLength(1);
    const events = (await s.call('get_events', {
      run: run.run_id,
      types: ['permission_resolved'],
    })) as Summary;
    expect(events.events.map((e: Summary) => e.data.by)).toEqual(['elicitation']);
  });
});
