// Secrets and files (audit C5, C6, S6): a terminal agent's env never shows on a command line, the
// state folder is private to its user whatever existed before, and what is typed at a password
// prompt is not kept.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  eventually,
  fixtureAgent,
  makeEnv,
  pidsMatching,
  runCli,
  serve,
  startServer,
  stopServe,
  waitFor,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from '../helpers.js';

/** The permission bits of a path. */
const mode = (path: string) => statSync(path).mode & 0o777;

/** The screen of a terminal run; empty while its program has not started. */
async function screenOf(s: Server, run: string): Promise<string> {
  const r = await s.raw('read_terminal', { run });
  return r.isError ? '' : ((r.structuredContent as Summary).screen as string);
}

describe('security: secrets and files', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let http: Serve | undefined;
  afterEach(async () => {
    await s?.close().catch(() => undefined);
    s = undefined;
    await stopServe(http);
    http = undefined;
    t.cleanup();
  });

  it("C5: a terminal agent's env reaches the program but no process's command line", async () => {
    const secret = `sk-SECRET-${randomBytes(8).toString('hex')}`;
    t = makeEnv({
      agents: {
        envsh: {
          driver: 'terminal',
          command: 'sh',
          args: ['-c', 'echo "seen=$FAKE_API_KEY odd=$ODD_VALUE"; read x; echo "bye $x"'],
          env: { FAKE_API_KEY: secret, ODD_VALUE: `it's "quoted" $HOME \`x\`` },
        },
      },
    });
    s = await startServer(t);
    const run = (await s.call('spawn_run', { agent: 'envsh', cwd: t.work })) as Summary;
    const screen = await eventually(async () => {
      const text = await screenOf(s as Server, run.run_id);
      return text.includes('seen=') ? text : undefined;
    });
    expect(screen).toContain(`seen=${secret} odd=it's "quoted" $HOME \`x\``);
    // The tmux server (forked from the client that created the session), the client, the wrapper
    // and the program: none has the secret in its argv.
    expect(pidsMatching(secret)).toEqual([]);
    // The file that carried it is gone once read.
    expect(readdirSync(join(t.home, 'terminal')).filter((f) => f.endsWith('.env'))).toEqual([]);
    await s.call('send_keys', { run: run.run_id, text: 'done', enter: true });
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    expect(done.result.text).toContain('bye done');
  });

  it('C6: a pre-made 0755 home and its files end up 0700/0600; a short token is rewritten 0600', async () => {
    t = makeEnv((dir) => ({
      agents: {
        fixture: fixtureAgent(dir),
        sh: { driver: 'terminal', command: 'sh', args: ['-c', 'echo hi'] },
      },
    }));
    chmodSync(t.home, 0o755);
    // Left by an older baton (or another umask): a world-readable database and folders.
    writeFileSync(join(t.home, 'baton.db'), '', { mode: 0o644 });
    chmodSync(join(t.home, 'baton.db'), 0o644);
    for (const d of ['artifacts', 'terminal', 'demo-sessions', 'worktrees']) {
      mkdirSync(join(t.home, d), { mode: 0o755 });
      chmodSync(join(t.home, d), 0o755);
    }
    writeFileSync(join(t.home, 'token'), 'short\n', { mode: 0o644 });
    chmodSync(join(t.home, 'token'), 0o644);
    execFileSync('git', ['init', '-q', '-b', 'main', t.work]);
    writeFileSync(join(t.work, 'a.txt'), 'a\n');
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', t.work, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args]);
    git('add', '.');
    git('commit', '-q', '-m', 'init');

    const first = await runCli(t, ['run', 'demo', 'hello']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`${t.home} was open to other users (mode 755)`);
    expect(mode(t.home)).toBe(0o700);
    const second = await runCli(t, ['run', 'demo', 'hello again']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('open to other users');

    // The CLI runs started the daemon: this host is a front of it.
    s = await startServer(t, { daemon: true });
    const big = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'q'.repeat(20_000),
    })) as Summary;
    await waitFor(s, big.run_id, 'finished');
    const term = (await s.call('spawn_run', { agent: 'sh', cwd: t.work })) as Summary;
    await waitFor(s, term.run_id, 'finished');
    const wt = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: 'hi',
      isolation: 'worktree',
    })) as Summary;
    await waitFor(s, wt.run_id, 'finished');
    http = await serve(t);
    expect(http.token.length).toBeGreaterThan(16);

    // While the store is open: the database and its WAL files.
    const files = ['baton.db', 'baton.db-wal', 'baton.db-shm', 'token', 'tmux.conf'];
    const dirs = ['', 'artifacts', `artifacts/${big.run_id}`, 'terminal', 'demo-sessions', 'worktrees'];
    for (const d of ['artifacts', 'demo-sessions']) {
      for (const f of readdirSync(join(t.home, d), { recursive: true, encoding: 'utf8' })) {
        if (statSync(join(t.home, d, f)).isFile()) files.push(join(d, f));
      }
    }
    expect(files.some((f) => f.startsWith(`artifacts/${big.run_id}/`))).toBe(true);
    expect(files.some((f) => f.startsWith('demo-sessions/'))).toBe(true);
    const modes = Object.fromEntries([...files, ...dirs].map((p) => [p, mode(join(t.home, p)).toString(8)]));
    expect(modes).toEqual(
      Object.fromEntries([...files.map((f) => [f, '600']), ...dirs.map((d) => [d, '700'])]),
    );
    // The agent's own files keep the user's umask (baton does not impose its modes on children).
    expect(mode(join(t.home, 'worktrees', wt.run_id, 'a.txt'))).toBe(mode(join(t.work, 'a.txt')));
  });

  it('S6: what is typed at a password prompt reaches the program but is not recorded', async () => {
    const secret = `hunter2-${randomBytes(6).toString('hex')}`;
    t = makeEnv({
      agents: {
        askpass: {
          driver: 'terminal',
          command: 'sh',
          args: [
            '-c',
            `printf '[sudo] password for me: '; stty -echo; read p; stty echo; echo; echo "len=\${#p}"; read q; echo "q=$q"; sleep 1`,
          ],
        },
      },
    });
    s = await startServer(t);
    const run = (await s.call('spawn_run', { agent: 'askpass', cwd: t.work })) as Summary;
    await eventually(async () => (await screenOf(s as Server, run.run_id)).includes('password for me:'));
    await new Promise((r) => setTimeout(r, 300));
    await s.call('send_keys', { run: run.run_id, text: secret, enter: true });
    await eventually(async () => (await screenOf(s as Server, run.run_id)).includes(`len=${secret.length}`));
    // Not a password prompt any more: recorded as usual.
    await s.call('send_keys', { run: run.run_id, text: 'visible', enter: true });
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.result.text).toContain('q=visible');
    const { events } = (await s.call('get_events', {
      run: run.run_id,
      types: ['terminal'],
      limit: 1000,
    })) as {
      events: Summary[];
    };
    const inputs = events.filter((e) => e.data.kind === 'input').map((e) => e.data.input as string);
    expect(inputs).toEqual([
      `<${secret.length} characters typed at a password prompt, not recorded><Enter>`,
      'visible<Enter>',
    ]);
    const logs = await runCli(t, ['logs', run.run_id as string, '--json']);
    expect(logs.stdout).not.toContain(secret);
    for (const f of ['baton.db', 'baton.db-wal']) {
      if (existsSync(join(t.home, f))) expect(readFileSync(join(t.home, f)).includes(secret), f).toBe(false);
    }
  });
});
