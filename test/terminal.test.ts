// The terminal driver: real programs (python3, sh scripts) inside the real tmux, driven through
// `baton mcp` by an MCP client.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ROOT,
  eventually,
  makeEnv,
  startServer,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';
import { tmuxSessions } from './terminal-steps.js';

const DIR = join(ROOT, 'test', 'fixtures', 'terminal');

function env(): TestEnv {
  return makeEnv({
    terminal: { width: 120, height: 40 },
    agents: {
      python: { driver: 'terminal', command: 'python3', args: ['-q'], exit_keys: ['C-d'] },
      confirm: { driver: 'terminal', command: 'sh', args: [join(DIR, 'confirm.sh')] },
      lettered: { driver: 'terminal', command: 'sh', args: [join(DIR, 'lettered.sh')] },
      checksum: {
        driver: 'terminal',
        command: 'python3',
        args: [join(DIR, 'checksum.py')],
        ready_pattern: '^> ',
      },
      spinner: { driver: 'terminal', command: 'sh', args: [join(DIR, 'spinner.sh'), '5'] },
      // An odd duration names this test's processes: the sh and the sleep it forks (which ignores
      // the same signals) both carry it.
      sleeper: { driver: 'terminal', command: 'sh', args: ['-c', 'trap "" HUP TERM INT; sleep 600.4242'] },
    },
  });
}

async function waitStatus(s: Server, run: string, statuses: string[], ms = 30_000): Promise<Summary> {
  return eventually(async () => {
    const r = (await s.call('get_run', { run })) as Summary;
    return statuses.includes(r.status as string) ? r : undefined;
  }, ms);
}

describe('terminal runs (tmux)', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t.cleanup();
  });

  it('a Python REPL: send print(6*7), read 42, back to waiting at the prompt; cancel ends it and the tmux session', async () => {
    t = env();
    s = await startServer(t);
    const run = (await s.call('spawn_run', { agent: 'python', cwd: t.work })) as Summary;
    const idle = await waitStatus(s, run.run_id, ['waiting']);
    expect(idle.waiting_for).toMatchObject({ kind: 'input', prompt: '>>>' });
    await s.call('send_keys', { run: run.run_id, text: 'print(6*7)', enter: true });
    await eventually(async () =>
      ((await s!.call('read_terminal', { run: run.run_id })) as Summary).screen.includes('\n42'),
    );
    const back = await waitStatus(s, run.run_id, ['waiting']);
    expect(back.waiting_for.kind).toBe('input');
    // follow_up types into the same live program.
    const same = (await s.call('follow_up', { run: run.run_id, message: 'print("abc" * 2)' })) as Summary;
    expect(same.run_id).toBe(run.run_id);
    await eventually(async () =>
      ((await s!.call('read_terminal', { run: run.run_id, lines: 10 })) as Summary).screen.includes('abcabc'),
    );
    expect(tmuxSessions(t)).toHaveLength(1);
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    await eventually(() => tmuxSessions(t).length === 0);
    // Every key sent is an event.
    const events = (await s.call('get_events', {
      run: run.run_id,
      types: ['terminal'],
      limit: 1000,
    })) as Summary;
    const inputs = events.events
      .filter((e: Summary) => e.data.kind === 'input')
      .map((e: Summary) => e.data.input);
    expect(inputs).toEqual(expect.arrayContaining(['print(6*7)<Enter>', 'print("abc" * 2)<Enter>']));
  });

  it('a yes/no question waits with options; answer_permission types the choice; the exit code is recorded', async () => {
    t = env();
    s = await startServer(t);
    const run = (await s.call('spawn_run', { agent: 'confirm', cwd: t.work })) as Summary;
    const asked = await waitStatus(s, run.run_id, ['waiting']);
    expect(asked.waiting_for).toMatchObject({ kind: 'permission', title: 'Continue? [y/N]' });
    expect(asked.waiting_for.options.map((o: Summary) => o.option_id)).toEqual(['y', 'n']);
    await s.call('answer_permission', { run: run.run_id, option_id: 'n' });
    const done = await waitStatus(s, run.run_id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.result.stop_reason).toBe('exit 3');
    expect(done.result.text).toContain('Aborted.');
    await eventually(() => tmuxSessions(t).length === 0);
  });

  it("a question with lettered choices (aider's (Y)es/(N)o/(D)on't ask again) waits with those options", async () => {
    t = env();
    s = await startServer(t);
    const run = (await s.call('spawn_run', { agent: 'lettered', cwd: t.work })) as Summary;
    const asked = await waitStatus(s, run.run_id, ['waiting']);
    expect(asked.waiting_for).toMatchObject({ kind: 'permission', title: 'Create new file hello.txt?' });
    expect(asked.waiting_for.options.map((o: Summary) => [o.option_id, o.kind])).toEqual([
      ['y', 'allow_once'],
      ['n', 'reject_once'],
      ['d', 'reject_always'],
    ]);
    await s.call('answer_permission', { run: run.run_id, option_id: 'd' });
    const done = await waitStatus(s, run.run_id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('answer=d');
  });

  it('a 5 KB multi-line prompt is delivered whole', async () => {
    t = env();
    s = await startServer(t);
    const lines = Array.from({ length: 80 }, (_, i) => `line ${i} ${'x'.repeat(50)} "quotes" $HOME \\back`);
    const text = lines.join('\n');
    expect(text.length).toBeGreaterThan(5000);
    const run = (await s.call('spawn_run', {
      agent: 'checksum',
      cwd: t.work,
      prompt: `${text}\nEND`,
    })) as Summary;
    const done = await waitStatus(s, run.run_id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    const sha = createHash('sha256').update(text).digest('hex');
    expect(done.result.text).toContain(`len=${text.length} sha256=${sha}`);
  });

  it('a program that shows a spinner for 5 s is not reported finished (or waiting) early', async () => {
    t = env();
    s = await startServer(t);
    const started = Date.now();
    const run = (await s.call('spawn_run', { agent: 'spinner', cwd: t.work })) as Summary;
    const seen = new Set<string>();
    let done: Summary | undefined;
    while (!done) {
      const r = (await s.call('get_run', { run: run.run_id })) as Summary;
      seen.add(r.status as string);
      if (r.status === 'completed' || r.status === 'failed') done = r;
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(5000);
    expect(seen.has('waiting')).toBe(false);
    expect(done).toMatchObject({ status: 'completed', result: { stop_reason: 'exit 0' } });
    expect(done.result.text).toContain('done');
  });

  it('any command only when the config allows it: fail closed with the fix, then run it', async () => {
    t = env();
    s = await startServer(t);
    const refused = (await s.raw('spawn_run', {
      agent: 'terminal',
      cwd: t.work,
      command: ['sh', '-c', 'echo hi'],
    })) as Summary;
    expect(refused.structuredContent.error.code).toBe('FORBIDDEN');
    expect(refused.structuredContent.error.message).toContain('"allow_any_command": true');
    const notTerminal = (await s.raw('spawn_run', {
      agent: 'python',
      cwd: t.work,
      command: ['sh'],
    })) as Summary;
    expect(notTerminal.structuredContent.error.code).toBe('INVALID_PARAMS');
    await s.close();
    t.cleanup();
    t = makeEnv({ terminal: { allow_any_command: true } });
    s = await startServer(t);
    const run = (await s.call('spawn_run', {
      agent: 'terminal',
      cwd: t.work,
      command: ['sh', '-c', 'echo "from any command"; exit 7'],
    })) as Summary;
    const done = await waitStatus(s, run.run_id, ['completed', 'failed']);
    expect(done.result).toMatchObject({ stop_reason: 'exit 7' });
    expect(done.result.text).toContain('from any command');
    const screen = (await s.call('read_terminal', { run: run.run_id })) as Summary;
    expect(screen.screen).toContain('from any command');
  });

  it('20 terminal runs at once, all cancelled: no tmux session or process left', async () => {
    t = env();
    s = await startServer(t);
    const runs: Summary[] = [];
    for (let i = 0; i < 20; i++)
      runs.push((await s.call('spawn_run', { agent: 'sleeper', cwd: t.work })) as Summary);
    await eventually(async () => {
      const all = (await s!.call('list_runs', { status: 'running', limit: 50 })) as Summary;
      return all.runs.length === 8 ? true : undefined; // max_concurrent_runs default 8: the rest queue
    });
    const pids = ((await s.call('list_runs', { limit: 50 })) as Summary).runs;
    expect(pids).toHaveLength(20);
    await Promise.all(runs.map((r) => s!.call('cancel_run', { run: r.run_id })));
    for (const r of runs)
      expect(((await s.call('get_run', { run: r.run_id })) as Summary).status).toBe('cancelled');
    await eventually(() => tmuxSessions(t).length === 0);
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('sleep 600.4242'));
    expect(left).toEqual([]);
  });
});
