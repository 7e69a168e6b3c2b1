// The real Claude Code, Codex and Gemini CLI interactive UIs (the exact pinned devDependencies) as
// terminal runs of the built-in entries claude-tui, codex-tui and gemini-tui, inside tmux, against the scripted model server
// offline: the prompt is typed into the input box, the approval menu becomes a permission request,
// the answer picks the menu item, the file is written, the run waits at the empty input box, and
// cancel leaves no process behind.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer } from './fixtures/model-server.mjs';
import { tuiCases } from './tui-cases.js';
import { OwnerClient } from '../src/owner/client.js';
import {
  allEvents,
  eventually,
  hookToWaiting,
  makeEnv,
  pidsWithEnv,
  runCli,
  startServer,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

type ModelServer = { url: string; requests: { body: Record<string, unknown> }[]; close: () => Promise<void> };
let model: ModelServer;
beforeAll(async () => {
  model = (await startModelServer({})) as ModelServer;
});
afterAll(async () => {
  await model.close();
});

const CASES = tuiCases(() => model.url);

describe.each(CASES)('$agent: the real interactive UI in a terminal run', (c) => {
  let t: TestEnv;
  let s: Server | undefined;
  let home: string;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    // The program and everything it started are gone with the run (gemini needs a moment: it
    // ignores SIGHUP and takes SIGTERM in a few seconds).
    await eventually(() => pidsWithEnv(home).length === 0, 20_000);
    t.cleanup();
  });

  it('types the prompt, turns its approval menu into a request, writes the file, waits at the input box', async () => {
    t = makeEnv((dir) => {
      home = join(dir, `${c.agent}-home`);
      mkdirSync(home, { recursive: true });
      return { agents: { [c.agent]: c.entry(home, join(dir, 'work')) } };
    });
    s = await startServer(t);
    const agents = (await s.call('list_agents')) as Summary;
    expect(agents.agents.find((a: Summary) => a.name === c.agent)).toMatchObject({ ready: true });

    const run = (await s.call('spawn_run', {
      agent: c.agent,
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt written through the TUI',
    })) as Summary;
    const asked = (await s.call('wait_run', { runs: [run.run_id], timeout: 50 })) as Summary;
    const w = asked.runs[0].waiting_for;
    expect(asked.runs[0].status).toBe('waiting');
    expect(w).toMatchObject({ kind: 'permission', title: c.title });
    expect(w.options.map((o: Summary) => ({ name: o.name, kind: o.kind }))).toEqual(
      c.options.map((o) => ({ name: o.name ?? expect.any(String), kind: o.kind })),
    );
    expect(w.options[0].option_id).toBe('1');
    expect(existsSync(join(t.work, 'hello.txt'))).toBe(false);

    await s.call('answer_permission', { run: run.run_id, option_id: '1' });
    // The CLI may create the file and write it in two steps: wait for the content.
    const file = join(t.work, 'hello.txt');
    await eventually(
      () => existsSync(file) && readFileSync(file, 'utf8').includes('written through the TUI'),
      30_000,
    );
    // Back at the empty input box: waiting for input, the answer on screen.
    const idle = await eventually(async () => {
      const r = (await s!.call('get_run', { run: run.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'input' ? r : undefined;
    }, 30_000);
    expect(idle.waiting_for.kind).toBe('input');
    if (c.hook) {
      // The agent's own hook said the turn was over: the run waited at once (not after a still screen).
      const events = ((await s.call('get_events', { run: run.run_id, limit: 1000 })) as Summary)
        .events as Summary[];
      const hook = events.findLastIndex((e) => e.type === 'raw' && e.data.hook === c.hook);
      expect(hook).toBeGreaterThan(0);
      const waiting = events.slice(hook).find((e) => e.type === 'status' && e.data.status === 'waiting');
      expect(Date.parse(String(waiting?.ts)) - Date.parse(String(events[hook]?.ts))).toBeLessThan(300);
      expect(idle.agent_session_id).toMatch(/^b_[0-9a-f]{12}\/[0-9a-z-]+$/);
    }
    const screen = (await s.call('read_terminal', { run: run.run_id, lines: 80 })) as Summary;
    expect(screen.screen).toContain('done: wrote hello.txt');

    // The program runs with the isolated HOME (what afterEach checks is gone).
    expect(pidsWithEnv(home).length).toBeGreaterThan(0);
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
  });
});

/** A command quiet for 30 s (Claude Code refuses a leading `sleep` that long: node sleeps). */
const QUIET = "node -e 'setTimeout(() => {}, 30000)' && touch quiet.txt && echo slept";

// claude-tui with its own hooks (a per-run `--settings` file whose hooks run `baton hook`): the
// status comes from Claude Code itself, not from the screen.
describe('claude-tui: its own hooks say what it does', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let home: string;
  /** The isolated agent home's files as the test wrote them (baton must not touch them). */
  let settingsText: string;
  let claudeJson: Record<string, unknown>;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    await eventually(() => pidsWithEnv(home).length === 0, 20_000);
    t.cleanup();
  });

  async function start(): Promise<Server> {
    t = makeEnv((dir) => {
      home = join(dir, 'claude-home');
      mkdirSync(join(home, '.claude'), { recursive: true });
      const entry = CASES[0]?.entry(home, join(dir, 'work')) as Record<string, unknown>;
      // The user's own settings: reduced motion, so a running tool leaves the screen still (no
      // spinner) — the stillness the screen heuristics took for "finished".
      settingsText = `${JSON.stringify({ prefersReducedMotion: true, spinnerTipsEnabled: false }, null, 2)}\n`;
      writeFileSync(join(home, '.claude', 'settings.json'), settingsText);
      claudeJson = JSON.parse(readFileSync(join(home, '.claude.json'), 'utf8')) as Record<string, unknown>;
      return { agents: { 'claude-tui': entry } };
    });
    s = await startServer(t);
    return s;
  }

  /** The hook id and token baton gave the program of a run (its private folder under BATON_HOME). */
  function hookOf(runSession: string): { id: string; token: string } {
    const id = runSession.split('/')[0] as string;
    const v = JSON.parse(
      readFileSync(join(t.env.BATON_HOME as string, 'terminal', `${id}.d`, 'hook.json'), 'utf8'),
    );
    return { id, token: v.token as string };
  }

  /** baton wrote nothing into the agent's config dir or home: the user's settings are as they were. */
  function expectAgentHomeUntouched(token: string): void {
    expect(readFileSync(join(home, '.claude', 'settings.json'), 'utf8')).toBe(settingsText);
    // claude rewrites its own .claude.json (counters, caches): what the test put there stays.
    const now = JSON.parse(readFileSync(join(home, '.claude.json'), 'utf8')) as Record<string, unknown>;
    for (const k of ['hasCompletedOnboarding', 'customApiKeyResponses'])
      expect(now[k]).toEqual(claudeJson[k]);
    expect(now.hooks).toBeUndefined();
    // No file of the agent's home mentions baton's hooks (the settings live in BATON_HOME only),
    // but for claude's own transcripts (projects/), where claude logs the hooks it ran.
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? join(dir, e.name) === join(home, '.claude', 'projects')
            ? []
            : files(join(dir, e.name))
          : e.isFile()
            ? [join(dir, e.name)]
            : [],
      );
    for (const f of files(home)) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toContain(token);
      expect(text, f).not.toContain('BATON_HOOK');
      expect(text, f).not.toContain('terminal_hook');
      // The hook command (`<node> <baton cli> hook <event>`).
      expect(text, f).not.toContain(join(import.meta.dirname, '..', 'dist', 'cli', 'main.js'));
    }
  }

  it('a quiet tool call is no turn end, its permission prompt names the tool, Stop → waiting at once; the transcript becomes events', async () => {
    const srv = await start();
    const run = (await srv.call('spawn_run', {
      agent: 'claude-tui',
      cwd: t.work,
      prompt: `RUN_COMMAND ${QUIET}`,
    })) as Summary;
    const asked = (await srv.call('wait_run', { runs: [run.run_id], timeout: 60 })) as Summary;
    const w = asked.runs[0].waiting_for;
    expect(w).toMatchObject({
      kind: 'permission',
      tool_call: { kind: 'execute', title: `Bash: ${QUIET}` },
    });
    expect(w.tool_call.raw_input).toMatchObject({ command: QUIET });
    const started = (await srv.call('get_run', { run: run.run_id })) as Summary;
    expect(started.agent_session_id).toMatch(/^b_[0-9a-f]{12}\/[0-9a-f-]{36}$/);
    await srv.call('answer_permission', { run: run.run_id, option_id: '1' });

    // The command runs 30 s with a still screen (37× the 800 ms the screen heuristics wait): never
    // reported as waiting for input, nor finished.
    const seen = new Set<string>();
    const until = Date.now() + 28_000;
    while (Date.now() < until) {
      const r = (await srv.call('get_run', { run: run.run_id })) as Summary;
      seen.add(`${r.status}:${r.waiting_for?.kind ?? ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...seen]).toEqual(['running:']);
    const screenNow = (await srv.call('read_terminal', { run: run.run_id, lines: 80 })) as Summary;
    expect(screenNow.screen).not.toContain('ran: slept');

    const idle = await eventually(async () => {
      const r = (await srv.call('get_run', { run: run.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'input' ? r : undefined;
    }, 30_000);
    expect(idle.waiting_for.kind).toBe('input');

    const events = await allEvents(srv, run.run_id);
    // Stop hook received → the run waits for input: the figure of issue 18 (within 300 ms).
    const latency = hookToWaiting(events, 'Stop');
    console.log(`claude-tui: Stop hook → waiting in ${latency} ms`);
    expect(latency).toBeLessThan(300);
    // The transcript's tool call, its result and the final message, as structured events.
    const call = events.find((e) => e.type === 'tool_call' && e.data.title === `Bash: ${QUIET}`);
    expect(call?.data).toMatchObject({
      kind: 'execute',
      raw_input: { command: QUIET },
    });
    const result = events.find(
      (e) => e.type === 'tool_update' && e.data.tool_call_id === call?.data.tool_call_id,
    );
    expect(JSON.stringify(result?.data.content)).toContain('slept');
    expect(events.some((e) => e.type === 'message' && String(e.data.text).includes('ran: slept'))).toBe(true);
    expect(events.some((e) => e.type === 'usage')).toBe(true);

    expectAgentHomeUntouched(hookOf(started.agent_session_id).token);
    const cancelled = (await srv.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
  }, 150_000);

  it('a follow-up after the program exited resumes the same claude session', async () => {
    const srv = await start();
    const run = (await srv.call('spawn_run', {
      agent: 'claude-tui',
      cwd: t.work,
      prompt: 'remember the word pelican',
    })) as Summary;
    const first = await eventually(async () => {
      const r = (await srv.call('get_run', { run: run.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'input' && r.agent_session_id?.includes('/')
        ? r
        : undefined;
    }, 60_000);
    const claudeSession = String(first.agent_session_id).split('/')[1];
    // The program exits (/exit): the run is over.
    await srv.call('send_keys', { run: run.run_id, text: '/exit', enter: true });
    await eventually(async () => {
      const r = (await srv.call('get_run', { run: run.run_id })) as Summary;
      return ['completed', 'failed'].includes(r.status) ? r : undefined;
    }, 30_000);

    const before = model.requests.length;
    const next = (await srv.call('follow_up', { run: run.run_id, message: 'which word?' })) as Summary;
    expect(next.run_id).not.toBe(run.run_id);
    const resumed = await eventually(async () => {
      const r = (await srv.call('get_run', { run: next.run_id })) as Summary;
      return r.status === 'waiting' && r.waiting_for?.kind === 'input' ? r : undefined;
    }, 60_000);
    // Same claude session, a new tmux session.
    expect(String(resumed.agent_session_id).split('/')[1]).toBe(claudeSession);
    expect(String(resumed.agent_session_id).split('/')[0]).not.toBe(
      String(first.agent_session_id).split('/')[0],
    );
    // The model saw the earlier turn.
    const asked = model.requests
      .slice(before)
      .filter((r) => JSON.stringify(r.body).includes('which word?'))
      .map((r) => JSON.stringify(r.body.messages));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.some((m) => m.includes('remember the word pelican'))).toBe(true);
    const events = ((await srv.call('get_events', { run: next.run_id, limit: 1000 })) as Summary)
      .events as Summary[];
    expect(
      events.some((e) => e.type === 'message' && String(e.data.text).includes('echo: which word?')),
    ).toBe(true);
    expectAgentHomeUntouched(hookOf(String(resumed.agent_session_id)).token);
    await srv.call('cancel_run', { run: next.run_id });
  }, 150_000);

  it("refuses a hook with a wrong token or another run's id, and nothing changes", async () => {
    const srv = await start();
    const spawn = async () =>
      (await srv.call('spawn_run', {
        agent: 'claude-tui',
        cwd: t.work,
        prompt: 'RUN_COMMAND touch hooked.txt',
      })) as Summary;
    const [a, b] = [await spawn(), await spawn()];
    const atPrompt = async (id: string) =>
      eventually(async () => {
        const r = (await srv.call('get_run', { run: id })) as Summary;
        return r.waiting_for?.kind === 'permission' && r.agent_session_id?.includes('/') ? r : undefined;
      }, 60_000);
    const [ra, rb] = [await atPrompt(a.run_id), await atPrompt(b.run_id)];
    const ha = hookOf(ra.agent_session_id);
    const hb = hookOf(rb.agent_session_id);
    const owner = new OwnerClient(t.env.BATON_HOME as string, { kind: 'cli' }, { start: false });
    try {
      const forged = [
        { id: ha.id, token: 'f'.repeat(64) }, // a wrong token
        { id: ha.id, token: hb.token }, // b's token for a's run
        { id: 'b_000000000000', token: ha.token }, // no such program
      ];
      for (const f of forged) {
        await expect(
          owner.call('terminal_hook', { ...f, event: 'Stop', payload: { session_id: 'evil' } }),
        ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
      // Through the CLI as a hook runs it: exit 0, nothing printed, nothing changed.
      const cli = await runCli(
        { ...t, env: { ...t.env, BATON_HOOK_ID: ha.id, BATON_HOOK_TOKEN: hb.token } },
        ['hook', 'Stop'],
      );
      expect(cli.code).toBe(0);
      expect(cli.stdout).toBe('');
      await new Promise((r) => setTimeout(r, 500));
      const still = (await srv.call('get_run', { run: a.run_id })) as Summary;
      expect(still.status).toBe('waiting');
      expect(still.waiting_for).toMatchObject({ kind: 'permission', request_id: ra.waiting_for.request_id });
      expect(still.agent_session_id).toBe(ra.agent_session_id);
      const evs = ((await srv.call('get_events', { run: a.run_id, limit: 1000 })) as Summary)
        .events as Summary[];
      expect(evs.filter((e) => e.type === 'raw' && e.data.hook === 'Stop')).toEqual([]);
      // The right token for the right run is taken (an event that changes no status).
      await expect(
        owner.call('terminal_hook', { ...ha, event: 'Notification', payload: {} }),
      ).resolves.toMatchObject({ ok: true });
    } finally {
      owner.close();
    }
    await srv.call('cancel_run', { run: a.run_id });
    await srv.call('cancel_run', { run: b.run_id });
  }, 150_000);
});
