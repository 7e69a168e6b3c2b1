// codex-tui and gemini-tui with their own hooks (issue 18), the real pinned CLIs offline: Codex's
// hooks come as `-c hooks.…` overrides trusted for that one process (their hashes asked from
// `codex app-server`), Gemini CLI's from a per-run system settings file. The status comes from the
// program itself, not from the screen; the person's own config files are never written.
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer } from './fixtures/model-server.mjs';
import { tuiCases } from './tui-cases.js';
import {
  allEvents,
  eventually,
  hookToWaiting,
  makeEnv,
  pidsWithEnv,
  startServer,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

type ModelServer = {
  url: string;
  requests: { protocol?: string; body: Record<string, unknown> }[];
  close: () => Promise<void>;
};
let model: ModelServer;
beforeAll(async () => {
  model = (await startModelServer({})) as ModelServer;
});
afterAll(async () => {
  await model.close();
});
const CASES = tuiCases(() => model.url);

let t: TestEnv;
let s: Server | undefined;
let home: string;
afterEach(async () => {
  await s?.close();
  s = undefined;
  await eventually(() => pidsWithEnv(home).length === 0, 20_000);
  t.cleanup();
});

/** A command quiet for 30 s: the run must stay `running` all along. */
const QUIET = 'sleep 30 && echo slept';

const events = (run: string): Promise<Summary[]> => allEvents(s!, run);

async function waitingInput(run: string, ms = 30_000): Promise<Summary> {
  return eventually(async () => {
    const r = (await s!.call('get_run', { run })) as Summary;
    return r.status === 'waiting' && r.waiting_for?.kind === 'input' ? r : undefined;
  }, ms);
}

/** The statuses a run shows for `ms` (polled every 100 ms). */
async function statusesFor(run: string, ms: number): Promise<string[]> {
  const seen = new Set<string>();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const r = (await s!.call('get_run', { run })) as Summary;
    seen.add(`${r.status}:${r.waiting_for?.kind ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return [...seen];
}

/** Every file under `dir` (recursively) but those under `skip`. */
function files(dir: string, skip: string[] = []): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (skip.includes(p)) return [];
    return e.isDirectory() ? files(p, skip) : e.isFile() ? [p] : [];
  });
}

/** Codex's question about the person's own untrusted hook, answered "continue without trusting". */
async function keepUntrusted(run: string): Promise<void> {
  const review = (await s!.call('wait_run', { runs: [run], timeout: 50 })) as Summary;
  expect(review.runs[0].waiting_for).toMatchObject({ kind: 'permission', title: 'Hooks need review' });
  const keep = review.runs[0].waiting_for.options.find((o: Summary) => /without trusting/.test(o.name));
  await s!.call('answer_permission', { run, option_id: keep.option_id });
}

describe('codex-tui: its own hooks say what it does', () => {
  it('a quiet command is no turn end, Stop → waiting at once, the approval names its tool and input, the rollout becomes events, a follow-up after /quit resumes the thread', async () => {
    let userConfig = '';
    t = makeEnv((dir) => {
      home = join(dir, 'codex-home');
      mkdirSync(home, { recursive: true });
      const entry = CASES[1]?.entry(home, join(dir, 'work')) as Record<string, unknown>;
      // A hook of the person's own that they never trusted: it must stay untrusted (not run).
      appendFileSync(
        join(home, '.codex', 'config.toml'),
        `[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = "command"\ncommand = "touch ${join(dir, 'untrusted-hook-ran')}"\n`,
      );
      userConfig = readFileSync(join(home, '.codex', 'config.toml'), 'utf8');
      return { agents: { 'codex-tui': entry } };
    });
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'codex-tui',
      cwd: t.work,
      prompt: `RUN_COMMAND ${QUIET}`,
    })) as Summary;
    // Codex asks the person about their own untrusted hook (baton trusts only its own): the
    // question is the run's permission request; the answer keeps it untrusted.
    await keepUntrusted(run.run_id);
    // The command runs 30 s (its read-only sandbox lets it without asking): never waiting, never finished.
    await eventually(async () => {
      const evs = await events(run.run_id);
      return evs.some((e) => e.type === 'raw' && e.data.hook === 'PreToolUse');
    }, 60_000).catch(async (err: unknown) => {
      const screen = (await s!.call('read_terminal', { run: run.run_id, lines: 60 })) as Summary;
      throw new Error(`${String(err)}\nscreen:\n${screen.screen}`);
    });
    expect(await statusesFor(run.run_id, 27_000)).toEqual(['running:']);
    const first = await waitingInput(run.run_id);
    let evs = await events(run.run_id);
    const latency = hookToWaiting(evs, 'Stop');
    console.log(`codex-tui: Stop hook -> waiting in ${latency} ms`);
    expect(latency).toBeLessThan(300);
    const thread = String(first.agent_session_id).split('/')[1];
    expect(thread).toMatch(/^[0-9a-f-]{36}$/);
    expect(existsSync(join(t.dir, 'untrusted-hook-ran'))).toBe(false);
    // The rollout as events: the command, its output, the answer, the usage.
    const call = evs.find((e) => e.type === 'tool_call' && String(e.data.title).includes('sleep 30'));
    expect(call?.data).toMatchObject({ kind: 'execute', raw_input: { cmd: QUIET } });
    // Codex's exec_command yields after 10 s (the process runs on; the model waits on it with
    // write_stdin): one tool call, in progress, then completed with all its output.
    const outs = evs.filter(
      (e) => e.type === 'tool_update' && e.data.tool_call_id === call?.data.tool_call_id,
    );
    expect(outs.map((e) => e.data.status)).toEqual(['in_progress', 'completed']);
    expect(JSON.stringify(outs[1]?.data.content)).toContain('slept');
    expect(evs.some((e) => e.type === 'tool_call' && String(e.data.title).startsWith('write_stdin'))).toBe(
      false,
    );
    // (The model server's answer quotes codex's whole tool output: `ran: Chunk ID: … Output: slept`.)
    expect(evs.some((e) => e.type === 'message' && /^ran: .*slept/.test(String(e.data.text)))).toBe(true);
    expect(evs.some((e) => e.type === 'usage' && typeof e.data.input_tokens === 'number')).toBe(true);

    // The next message in the same program: an edit codex asks about.
    await s.call('follow_up', { run: run.run_id, message: 'WRITE_FILE hello.txt written by codex' });
    const asked = (await s.call('wait_run', { runs: [run.run_id], timeout: 50 })) as Summary;
    // The approval with its tool and input, from codex's PreToolUse hook.
    expect(asked.runs[0].waiting_for).toMatchObject({
      kind: 'permission',
      title: 'Would you like to make the following edits?',
      tool_call: { kind: 'edit', title: 'apply_patch hello.txt', locations: [join(t.work, 'hello.txt')] },
    });
    expect(asked.runs[0].waiting_for.tool_call.raw_input.command).toContain('+written by codex');
    await s.call('answer_permission', { run: run.run_id, option_id: '1' });
    await waitingInput(run.run_id);
    expect(readFileSync(join(t.work, 'hello.txt'), 'utf8')).toContain('written by codex');

    // /quit: the run completes; a follow-up resumes the same thread (codex resume <id>).
    await s.call('send_keys', { run: run.run_id, text: '/quit', enter: true });
    const ended = (await s.call('wait_run', {
      runs: [run.run_id],
      until: 'finished',
      timeout: 30,
    })) as Summary;
    expect(ended.runs[0].status).toBe('completed');
    const before = model.requests.length;
    const next = (await s.call('follow_up', { run: run.run_id, message: 'after the quit' })) as Summary;
    expect(next.run_id).not.toBe(run.run_id);
    await keepUntrusted(next.run_id);
    const resumed = await waitingInput(next.run_id, 60_000);
    expect(String(resumed.agent_session_id).split('/')[1]).toBe(thread);
    const later = model.requests.slice(before).map((r) => JSON.stringify(r.body));
    expect(later.some((b) => b.includes('after the quit') && b.includes(`RUN_COMMAND ${QUIET}`))).toBe(true);
    evs = await events(next.run_id);
    expect(
      evs.some((e) => e.type === 'message' && String(e.data.text).includes('echo: after the quit')),
    ).toBe(true);
    // Only this run's turn: nothing of the resumed thread's earlier turns.
    expect(evs.some((e) => e.type === 'message' && String(e.data.text).startsWith('ran: '))).toBe(false);
    expect(hookToWaiting(evs, 'Stop')).toBeLessThan(300);

    // The hooks and their trust were `-c` overrides: the person's config.toml is as it was (but for
    // the notice counter codex keeps there itself), and no file of codex's home names baton's hook.
    const config = readFileSync(join(home, '.codex', 'config.toml'), 'utf8');
    const strip = (c: string) => c.replace(/^"gpt-6\.1-sol" = \d+$/m, '').replace(/\n+/g, '\n');
    expect(strip(config)).toBe(strip(userConfig));
    // (Codex's own records are left out: its rollouts, and its shell snapshots, which copy the
    // environment its shell gets — the hook's token with the rest, in the person's own folder.)
    const own = ['sessions', 'shell_snapshots'].map((d) => join(home, '.codex', d));
    for (const f of files(home, own)) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toContain('BATON_HOOK');
      expect(text, f).not.toContain(join(import.meta.dirname, '..', 'dist', 'cli', 'main.js'));
    }
    await s.call('cancel_run', { run: next.run_id });
  }, 240_000);
});

describe('gemini-tui: its own hooks say what it does', () => {
  it('the approval names its tool and input, a quiet command is no turn end, AfterAgent → waiting at once; its settings are untouched', async () => {
    // Gemini CLI has no per-process settings flag: baton gives it a per-run GEMINI_CLI_HOME.
    let userSettings = '';
    t = makeEnv((dir) => {
      home = join(dir, 'gemini-home');
      mkdirSync(home, { recursive: true });
      const entry = CASES[2]?.entry(home, join(dir, 'work')) as Record<string, unknown>;
      userSettings = readFileSync(join(home, '.gemini', 'settings.json'), 'utf8');
      return { agents: { 'gemini-tui': entry } };
    });
    const before = readdirSync(join(home, '.gemini')).sort();
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'gemini-tui',
      cwd: t.work,
      prompt: 'WRITE_FILE hello.txt written by gemini',
    })) as Summary;
    const asked = (await s.call('wait_run', { runs: [run.run_id], timeout: 60 })) as Summary;
    expect(asked.runs[0].waiting_for).toMatchObject({ kind: 'permission', title: 'Apply this change?' });
    // The approval with its tool and input, from gemini's BeforeTool hook and its notification.
    expect(asked.runs[0].waiting_for.tool_call).toMatchObject({
      kind: 'edit',
      locations: [join(t.work, 'hello.txt')],
      raw_input: { content: 'written by gemini' },
    });
    await s.call('answer_permission', { run: run.run_id, option_id: '1' });
    await waitingInput(run.run_id);
    expect(readFileSync(join(t.work, 'hello.txt'), 'utf8')).toContain('written by gemini');
    let evs = await events(run.run_id);
    const latency = hookToWaiting(evs, 'AfterAgent');
    console.log(`gemini-tui: AfterAgent hook -> waiting in ${latency} ms`);
    expect(latency).toBeLessThan(300);
    const first = (await s.call('get_run', { run: run.run_id })) as Summary;
    expect(first.agent_session_id).toMatch(/^b_[0-9a-f]{12}\/[0-9a-f-]{36}$/);

    // A command that runs 30 s once allowed: never waiting for input, never finished meanwhile.
    await s.call('follow_up', { run: run.run_id, message: `RUN_COMMAND ${QUIET}` });
    const again = (await s.call('wait_run', { runs: [run.run_id], timeout: 60 })) as Summary;
    expect(again.runs[0].waiting_for).toMatchObject({
      kind: 'permission',
      tool_call: { kind: 'execute', raw_input: { command: QUIET } },
    });
    await s.call('answer_permission', { run: run.run_id, option_id: '1' });
    expect(await statusesFor(run.run_id, 27_000)).toEqual(['running:']);
    await waitingInput(run.run_id);
    evs = await events(run.run_id);
    expect(hookToWaiting(evs, 'AfterAgent')).toBeLessThan(300);
    // Its hooks as events (Gemini CLI keeps no JSONL transcript): the tool calls with their output,
    // and each turn's answer.
    const write = evs.find((e) => e.type === 'tool_call' && e.data.kind === 'edit');
    expect(write?.data).toMatchObject({ locations: [join(t.work, 'hello.txt')] });
    const cmd = evs.find((e) => e.type === 'tool_call' && e.data.kind === 'execute');
    expect(cmd?.data.raw_input).toMatchObject({ command: QUIET });
    const out = evs.find((e) => e.type === 'tool_update' && e.data.tool_call_id === cmd?.data.tool_call_id);
    expect(JSON.stringify(out?.data.content)).toContain('slept');
    expect(evs.some((e) => e.type === 'message' && String(e.data.text).startsWith('done: wrote'))).toBe(true);
    expect(evs.some((e) => e.type === 'message' && /^ran: .*slept/.test(String(e.data.text)))).toBe(true);

    // The program exits (C-c twice): the run is over; a follow-up resumes the same session
    // (`gemini --resume <id>` in a new tmux session).
    await s.call('send_keys', { run: run.run_id, keys: ['C-c'] });
    await s.call('send_keys', { run: run.run_id, keys: ['C-c'] });
    const ended = (await s.call('wait_run', {
      runs: [run.run_id],
      until: 'finished',
      timeout: 30,
    })) as Summary;
    expect(['completed', 'failed']).toContain(ended.runs[0].status);
    const sent = model.requests.length;
    const next = (await s.call('follow_up', { run: run.run_id, message: 'after the exit' })) as Summary;
    const resumed = await waitingInput(next.run_id, 60_000).catch(async (err: unknown) => {
      const screen = (await s!.call('read_terminal', { run: next.run_id, lines: 60 })) as Summary;
      const r = (await s!.call('get_run', { run: next.run_id })) as Summary;
      throw new Error(`${String(err)}\n${JSON.stringify(r)}\nscreen:\n${screen.screen}`);
    });
    expect(String(resumed.agent_session_id).split('/')[1]).toBe(String(first.agent_session_id).split('/')[1]);
    const later = model.requests.slice(sent).map((r) => JSON.stringify(r.body));
    expect(later.some((b) => b.includes('after the exit') && b.includes('WRITE_FILE hello.txt'))).toBe(true);
    // The person's settings are as they were: the hooks were in baton's own per-run file (a
    // per-run GEMINI_CLI_HOME whose other entries link to theirs).
    expect(readFileSync(join(home, '.gemini', 'settings.json'), 'utf8')).toBe(userSettings);
    await s.call('cancel_run', { run: next.run_id });
    // The run's folder is gone and took only its links: the person's folder keeps every entry.
    const dir = join(
      t.env.BATON_HOME as string,
      'terminal',
      `${String(first.agent_session_id).split('/')[0]}.d`,
    );
    await eventually(() => !existsSync(dir), 10_000);
    for (const name of before) expect(existsSync(join(home, '.gemini', name)), name).toBe(true);
    expect(readFileSync(join(home, '.gemini', 'settings.json'), 'utf8')).toBe(userSettings);
  }, 240_000);
});
