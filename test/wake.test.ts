// wake (nudging idle sessions) and the user's own tmux sessions (list_terminals, adopt_terminal),
// through `baton mcp` (the built CLI) with real tmux, real sh programs and the fixture ACP agent.
// The "user's" tmux server is one this test starts on its own socket (config
// terminal.external_socket), so no real user's tmux is ever touched.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FIXTURE_AGENT,
  SCENARIO,
  eventually,
  makeEnv,
  runCli,
  startServer,
  steps,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';
import { harnessHttp, startHarness, type Harness } from './harness.js';

const LOOP = `printf '> '; while read l; do echo "got:$l"; printf '> '; done`;

async function waitStatus(s: Server, run: string, statuses: string[], ms = 30_000): Promise<Summary> {
  return eventually(async () => {
    const r = (await s.call('get_run', { run })) as Summary;
    return statuses.includes(r.status as string) ? r : undefined;
  }, ms);
}

/** Runs tmux on the test's own "user" server. */
function userTmux(socket: string, args: string[]): string {
  return execFileSync('tmux', ['-S', socket, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function userSessions(socket: string): string[] {
  try {
    return userTmux(socket, ['list-sessions', '-F', '#{session_name}']).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('wake', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let userSocket: string | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    if (userSocket) {
      try {
        userTmux(userSocket, ['kill-server']);
      } catch {
        // already gone
      }
      userSocket = undefined;
    }
    t.cleanup();
  });

  it('all: true types the text into 3 idle terminal runs and follows up a finished session, one result each', async () => {
    t = makeEnv((dir) => ({
      terminal: { width: 100, height: 30 },
      agents: {
        fixture: {
          driver: 'acp',
          command: process.execPath,
          args: [FIXTURE_AGENT, '--scenario', SCENARIO, '--state', join(dir, 'state')],
        },
        echoer: { driver: 'terminal', command: 'sh', args: ['-c', LOOP] },
      },
      wake: { text: 'nudge-default' },
    }));
    s = await startServer(t);
    const done = (await s.call('spawn_run', { agent: 'fixture', cwd: t.work, prompt: 'first' })) as Summary;
    await waitStatus(s, done.run_id, ['completed']);
    const terms: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = (await s.call('spawn_run', { agent: 'echoer', cwd: t.work })) as Summary;
      terms.push(r.run_id as string);
    }
    for (const id of terms) {
      const idle = await waitStatus(s, id, ['waiting']);
      expect(idle.waiting_for).toMatchObject({ kind: 'input' });
    }

    const { results } = (await s.call('wake', { all: true, text: 'wake-up' })) as {
      results: Summary[];
    };
    expect(results).toHaveLength(4);
    const byRun = new Map(results.map((r) => [r.run_id as string, r]));
    for (const id of terms) expect(byRun.get(id)).toMatchObject({ run_id: id, ok: true, how: 'typed' });
    const follow = byRun.get(done.run_id as string);
    expect(follow).toMatchObject({ ok: true, how: 'follow_up' });

    // Each terminal program got the text (and Enter); the input is recorded as an event.
    for (const id of terms) {
      await eventually(async () =>
        ((await s!.call('read_terminal', { run: id })) as Summary).screen.includes('got:wake-up'),
      );
      const ev = (await s.call('get_events', { run: id, types: ['terminal'] })) as { events: Summary[] };
      expect(ev.events.some((e) => e.data.kind === 'input' && String(e.data.input).includes('wake-up'))).toBe(
        true,
      );
    }
    // The finished session took a follow-up: the fixture echoes the text.
    const next = await waitStatus(s, follow!.new_run_id as string, ['completed']);
    expect(next.session_id).toBe(done.session_id);
    expect(JSON.stringify(next.result)).toContain('wake-up');

    // Named runs, the default text, and a per-target failure (a run that is not idle; an unknown one).
    const busy = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'second',
    })) as Summary;
    await waitStatus(s, busy.run_id, ['completed']);
    await waitStatus(s, terms[0]!, ['waiting']);
    const named = (await s.call('wake', { runs: [terms[0], 'r_nope'] })) as { results: Summary[] };
    expect(named.results[0]).toMatchObject({ run_id: terms[0], ok: true, how: 'typed' });
    expect(named.results[1]).toMatchObject({ run_id: 'r_nope', ok: false, error: { code: 'RUN_NOT_FOUND' } });
    await eventually(async () =>
      ((await s!.call('read_terminal', { run: terms[0] })) as Summary).screen.includes('got:nudge-default'),
    );
    // The same from the command line: a line per target, exit 1 when one failed.
    await waitStatus(s, terms[1]!, ['waiting']);
    const cli = await runCli(t, ['wake', terms[1]!, '--text', 'from-cli', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual({ results: [{ run_id: terms[1], ok: true, how: 'typed' }] });
    await eventually(async () =>
      ((await s!.call('read_terminal', { run: terms[1] })) as Summary).screen.includes('got:from-cli'),
    );
    const cliBad = await runCli(t, ['wake', 'r_nope']);
    expect(cliBad.code).toBe(1);
    expect(cliBad.stderr).toContain('r_nope failed RUN_NOT_FOUND');
    const cliNone = await runCli(t, ['wake']);
    expect(cliNone.code).not.toBe(0);
    expect(cliNone.stderr).toContain('INVALID_PARAMS');
    const bad = await s.raw('wake', {});
    expect(bad.isError).toBe(true);
    expect((bad.structuredContent as Summary).error.code).toBe('INVALID_PARAMS');

    // A run that waits on a permission is not idle: named, it fails with RUN_NOT_WAITING and is
    // left waiting; all: true passes it by.
    const asking = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ permission: { title: 'Write x', kind: 'edit', allowed: [{ message: 'ok' }] } }),
    })) as Summary;
    await waitStatus(s, asking.run_id, ['waiting']);
    const refused = (await s.call('wake', { runs: [asking.run_id] })) as { results: Summary[] };
    expect(refused.results[0]).toMatchObject({
      run_id: asking.run_id,
      ok: false,
      error: { code: 'RUN_NOT_WAITING', message: expect.stringMatching(/permission answer/) },
    });
    const everyone = (await s.call('wake', { all: true })) as { results: Summary[] };
    expect(everyone.results.some((r) => r.run_id === asking.run_id)).toBe(false);
    const still = (await s.call('get_run', { run: asking.run_id })) as Summary;
    expect(still.waiting_for).toMatchObject({ kind: 'permission' });
    await s.call('cancel_run', { run: asking.run_id });

    for (const id of terms) await s.call('cancel_run', { run: id });
  });

  it("the user's own tmux sessions: refused unless terminal.external; listed, adopted, read, typed into, woken, left running after cancel", async () => {
    // Off by default: FORBIDDEN with the config line to add.
    t = makeEnv({});
    s = await startServer(t);
    const off = await s.raw('list_terminals', {});
    expect(off.isError).toBe(true);
    expect((off.structuredContent as Summary).error.code).toBe('FORBIDDEN');
    expect((off.structuredContent as Summary).error.message).toContain('"external": true');
    const offAdopt = await s.raw('adopt_terminal', { target: 'x' });
    expect((offAdopt.structuredContent as Summary).error.code).toBe('FORBIDDEN');
    await s.close();
    t.cleanup();

    t = makeEnv((dir) => ({ terminal: { external: true, external_socket: join(dir, 'user-tmux.sock') } }));
    userSocket = join(t.dir, 'user-tmux.sock');
    s = await startServer(t);
    // No server yet: no sessions.
    expect(((await s.call('list_terminals', {})) as Summary).terminals).toEqual([]);
    // Outside the roots (the test's cwd): refused at once.
    userTmux(userSocket, ['new-session', '-d', '-s', 'elsewhere', '-c', '/', 'sh', '-c', LOOP]);
    const outside = await s.raw('adopt_terminal', { target: 'elsewhere' });
    expect((outside.structuredContent as Summary).error.code).toBe('CWD_NOT_ALLOWED');
    userTmux(userSocket, [
      'new-session',
      '-d',
      '-s',
      'mywork',
      '-x',
      '100',
      '-y',
      '30',
      '-c',
      t.work,
      'sh',
      '-c',
      LOOP,
    ]);
    userTmux(userSocket, ['new-session', '-d', '-s', 'mywork2', '-c', t.work, 'sh', '-c', LOOP]);
    // Killed only now: the last session's end stops that tmux server, and a new-session racing
    // its exit fails ("server exited unexpectedly").
    userTmux(userSocket, ['kill-session', '-t', '=elsewhere']);

    const listed = (await s.call('list_terminals', {})) as { terminals: Summary[] };
    expect(listed.terminals).toEqual(
      expect.arrayContaining([
        { name: 'mywork', attached: false, windows: 1 },
        { name: 'mywork2', attached: false, windows: 1 },
      ]),
    );
    const cliList = await runCli(t, ['terminals', '--json']);
    expect(cliList.code, cliList.stderr).toBe(0);
    expect((JSON.parse(cliList.stdout) as Summary).terminals.map((x: Summary) => x.name).sort()).toEqual([
      'mywork',
      'mywork2',
    ]);
    expect((await runCli(t, ['terminals'])).stdout).toMatch(/^mywork2 1 window$/m);
    // An exact name only (tmux itself would take "mywor" as a prefix).
    const prefix = await s.raw('adopt_terminal', { target: 'mywor' });
    expect((prefix.structuredContent as Summary).error.code).toBe('NOT_FOUND');

    const run = (await s.call('adopt_terminal', { target: 'mywork', label: 'mine' })) as Summary;
    const idle = await waitStatus(s, run.run_id, ['waiting']);
    expect(idle.waiting_for).toMatchObject({ kind: 'input' });
    expect(((await s.call('read_terminal', { run: 'mine' })) as Summary).screen).toMatch(/^>\s*$/m);
    const sameLabel = await s.raw('adopt_terminal', { target: 'mywork2', label: 'mine' });
    expect((sameLabel.structuredContent as Summary).error.code).toBe('LABEL_TAKEN');
    const cliAdopt = await runCli(t, ['adopt', 'mywork2', '--label', 'mine', '--json']);
    expect(cliAdopt.code).not.toBe(0);
    expect(cliAdopt.stderr).toContain('LABEL_TAKEN');
    const cliAdopted = await runCli(t, ['adopt', 'mywork2', '--label', 'theirs', '--json']);
    expect(cliAdopted.code, cliAdopted.stderr).toBe(0);
    expect(JSON.parse(cliAdopted.stdout)).toMatchObject({
      label: 'theirs',
      run_id: expect.stringMatching(/^r_/),
    });
    const again = await s.raw('adopt_terminal', { target: 'mywork' });
    expect((again.structuredContent as Summary).error.code).toBe('INVALID_PARAMS');

    await s.call('send_keys', { run: 'mine', text: 'hello-user', enter: true });
    await eventually(async () =>
      ((await s!.call('read_terminal', { run: 'mine' })) as Summary).screen.includes('got:hello-user'),
    );
    // The typing happened in the user's session itself, and only in that one.
    expect(userTmux(userSocket, ['capture-pane', '-p', '-t', '=mywork:'])).toContain('got:hello-user');
    expect(userTmux(userSocket, ['capture-pane', '-p', '-t', '=mywork2:'])).not.toContain('got:');
    await waitStatus(s, run.run_id, ['waiting']);
    const woke = (await s.call('wake', { runs: ['mine'], text: 'poke' })) as { results: Summary[] };
    expect(woke.results).toEqual([{ run_id: run.run_id, ok: true, how: 'typed' }]);
    await eventually(async () =>
      ((await s!.call('read_terminal', { run: 'mine' })) as Summary).screen.includes('got:poke'),
    );
    const ev = (await s.call('get_events', { run: run.run_id, types: ['terminal'] })) as {
      events: Summary[];
    };
    const inputs = ev.events.filter((e) => e.data.kind === 'input').map((e) => String(e.data.input));
    expect(inputs).toEqual(
      expect.arrayContaining([expect.stringContaining('hello-user'), expect.stringContaining('poke')]),
    );

    // Cancel (even forced) only detaches: the session and its program are still there.
    await s.call('cancel_run', { run: 'theirs' });
    const cancelled = (await s.call('cancel_run', { run: 'mine', force: true })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    expect(userSessions(userSocket)).toEqual(expect.arrayContaining(['mywork', 'mywork2']));
    userTmux(userSocket, ['send-keys', '-t', '=mywork:', 'still-here', 'Enter']);
    await eventually(() =>
      userTmux(userSocket!, ['capture-pane', '-p', '-t', '=mywork:']).includes('got:still-here'),
    );
    // The test, not baton, kills it.
    userTmux(userSocket, ['kill-session', '-t', '=mywork']);
    expect(userSessions(userSocket)).toEqual(['mywork2']);
  });
});

describe('wake over REST', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('POST /api/wake follows up a finished session; GET /api/terminals is FORBIDDEN while terminal.external is off', async () => {
    h = startHarness({ wake: { text: 'rest-nudge' } });
    const http = harnessHttp(h);
    try {
      const first = await h.spawn('first over rest');
      await h.engine.waitRuns({ runs: [first.run_id], until: 'finished', timeout: 20 });
      const res = await http.request('/api/wake', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ all: true }),
      });
      expect(res.status).toBe(200);
      const { results } = (await res.json()) as { results: Summary[] };
      expect(results).toEqual([
        { run_id: first.run_id, ok: true, how: 'follow_up', new_run_id: expect.stringMatching(/^r_/) },
      ]);
      const next = results[0]!.new_run_id as string;
      await h.engine.waitRuns({ runs: [next], until: 'finished', timeout: 20 });
      const done = await h.engine.getRun(next);
      expect(done.status).toBe('completed');
      expect(JSON.stringify(done.result)).toContain('rest-nudge');
      const term = await http.request('/api/terminals');
      expect(term.status).toBe(403);
      expect(JSON.stringify(await term.json())).toContain('FORBIDDEN');
    } finally {
      await http.close();
    }
  });
});
