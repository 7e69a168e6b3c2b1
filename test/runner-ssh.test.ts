// The ssh runner against a real OpenSSH server: the test starts its own `sshd` (Debian
// openssh-server) on 127.0.0.1 on a free port with its own config, host key and authorized_keys,
// logging in as the user the test runs as (root in CI: key login only, PermitRootLogin
// prohibit-password; any other user works the same, an sshd not run as root serves only its own
// user). The fixture ACP agent runs "on the remote side": its folder is the runner's remote_cwd
// mapping of the run's cwd (another folder on this machine), so a file it writes lands there.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer } from './fixtures/model-server.mjs';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import {
  eventually,
  FIXTURE_AGENT,
  makeEnv,
  pidsMatching,
  pidsWithEnv,
  runCli,
  sleep,
  startServer,
  steps,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';
import {
  answerAndWait,
  askCodeWord,
  CONTRACT_SCENARIO,
  expectStructuredAnswer,
  gitRepo,
} from './contract-steps.js';
import {
  adoptions,
  answerDeploy,
  deployQuestion,
  killOwner,
  killTmuxServer,
  runWhen,
  shTerminalAgent,
  tmuxSessions,
} from './terminal-steps.js';

const SSHD = '/usr/sbin/sshd';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

type Sshd = { dir: string; port: number; key: string; knownHosts: string; proc: ChildProcess };

async function startSshd(dir: string): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: apt-get install openssh-server (.ci/run does)`);
  mkdirSync(dir, { recursive: true });
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'user_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o600);
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${userInfo().username}`,
      '',
    ].join('\n'),
  );
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
  // sshd's privilege separation folder (Debian's path); only root may make it.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const proc = spawn(SSHD, ['-D', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], {
    stdio: 'ignore',
  });
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const sock = createServer().listen(port, '127.0.0.1');
        sock.once('listening', () => sock.close(() => resolve(false)));
        sock.once('error', () => resolve(true));
      }),
    10_000,
  );
  return { dir, port, key: join(dir, 'user_key'), knownHosts: join(dir, 'known_hosts'), proc };
}

describe('ssh runner (a real sshd on 127.0.0.1)', () => {
  let sshd: Sshd;
  let t: TestEnv;
  let s: Server;
  let agentHome: string;
  let remoteWork: string;

  const runner = (over: Record<string, unknown> = {}) => ({
    type: 'ssh',
    host: '127.0.0.1',
    port: sshd.port,
    user: userInfo().username,
    identity_file: sshd.key,
    known_hosts: sshd.knownHosts,
    remote_cwd: { [t.work]: remoteWork },
    control_persist: 2,
    ...over,
  });

  async function start(opts: { daemon?: boolean } = {}): Promise<void> {
    t = makeEnv((dir) => {
      agentHome = join(dir, 'agent-home');
      remoteWork = join(dir, 'remote-work');
      mkdirSync(agentHome);
      mkdirSync(remoteWork);
      return {};
    });
    const cfg = JSON.parse(readFileSync(join(t.home, 'config.json'), 'utf8')) as Summary;
    const agent = (over: Record<string, unknown> = {}) => ({
      driver: 'acp',
      command: process.execPath,
      args: [FIXTURE_AGENT, '--scenario', CONTRACT_SCENARIO, '--state', join(t.dir, 'fixture-state')],
      env: { HOME: agentHome, REMOTE_MARK: 'named-in-config' },
      runner: runner(over),
    });
    cfg.agents.remote = agent();
    // The agent with a child of its own in its process group (a tool it started), which ignores
    // stdin's end: only the remote wrapper's group kill stops it.
    const tree = agent();
    cfg.agents['remote-tree'] = {
      ...tree,
      command: '/bin/sh',
      args: ['-c', 'sleep 600 & exec "$0" "$@"', tree.command, ...tree.args],
    };
    // The same agent configured to run here; the profile "far" sends its runs over ssh.
    const { runner: _runner, ...near } = agent();
    cfg.agents.near = near;
    cfg.profiles = { far: { agent: 'near', runner: runner() } };
    // The real Claude Code CLI on the remote side, offline against the scripted model server.
    setupAgentHome('claude-code', agentHome, model.url);
    const claude = realAgentConfig('claude-code', agentHome, model.url) as Summary;
    cfg.agents['claude-far'] = {
      ...claude,
      env: { ...claude.env, PATH: process.env.PATH },
      runner: runner(),
    };
    // Terminal programs on the remote side, in a terminal there (ssh -tt from baton's tmux pane).
    const term = (script: string) =>
      shTerminalAgent(script, { HOME: agentHome, REMOTE_MARK: 'named-in-config' }, runner());
    cfg.agents['remote-confirm'] = term(deployQuestion('REMOTE_MARK'));
    // Ignores the terminal's hang-up and SIGTERM: only the remote watcher's SIGKILL stops it.
    cfg.agents['remote-stubborn'] = term('trap "" HUP TERM INT; sleep 600.4343; echo woke');
    cfg.agents['remote-badkey'] = agent({ identity_file: join(sshd.dir, 'host_key') });
    cfg.agents['remote-unknown-host'] = agent({ known_hosts: join(t.dir, 'empty_known_hosts') });
    writeFileSync(join(t.dir, 'empty_known_hosts'), '');
    writeFileSync(join(t.home, 'config.json'), JSON.stringify(cfg));
    // A variable of baton's own environment: the remote agent must not get it.
    t.env.LOCAL_ONLY_SECRET = 'do-not-forward';
    s = await startServer(t, opts);
  }

  const spawnRun = async (prompt: string, extra: Record<string, unknown> = {}) =>
    (await s.call('spawn_run', { agent: 'remote', cwd: t.work, prompt, ...extra })) as Summary;

  /** Every process of the runs, on both sides: the local ssh clients and the remote wrappers name it. */
  const runnerProcesses = () =>
    [...pidsMatching('baton-runner'), ...pidsMatching('baton-terminal')].filter((p) => {
      try {
        // This test's: its client names the test's sshd, its remote side the test's folders.
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return cmd.includes(sshd.dir) || cmd.includes(t.dir);
      } catch {
        return false; // gone
      }
    });

  let sshdEnv: TestEnv;
  let model: ModelServer;
  beforeAll(async () => {
    model = await startModelServer();
    sshdEnv = makeEnv();
    sshd = await startSshd(join(sshdEnv.dir, 'sshd'));
  });
  afterAll(async () => {
    sshd?.proc.kill('SIGTERM');
    sshdEnv?.cleanup();
    await model?.close();
  });
  afterEach(async () => {
    try {
      await s?.close();
      await eventually(() => pidsWithEnv(agentHome).length === 0 && runnerProcesses().length === 0, 15_000);
    } finally {
      // What a failed test left must not fail the next ones.
      killTmuxServer(t);
      t?.cleanup();
    }
  });

  it('permission → allow: the agent writes the file on the remote side; changed_files and get_diff come from git there', async () => {
    await start();
    // Both sides are git work trees, with different commits: the local one (the run's cwd, untouched)
    // must not pass for the run's changes; only git run through the runner sees them.
    gitRepo(t.work, 'LOCAL');
    gitRepo(remoteWork, 'REMOTE');
    const run = await spawnRun('WRITE_FILE contract.txt hello-contract', { policy: 'ask' });
    const waiting = (await waitFor(s, run.run_id)) as Summary;
    expect(waiting.status, JSON.stringify(waiting.error)).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    expect(existsSync(join(remoteWork, 'contract.txt'))).toBe(false);
    // Live, while the run waits: nothing changed yet on the remote side.
    expect(((await s.call('get_diff', { run: run.run_id })) as Summary).diff).toBe('');
    const done = await answerAndWait(s, waiting, 'allow_once');
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toContain('done: wrote contract.txt');
    expect(readFileSync(join(remoteWork, 'contract.txt'), 'utf8')).toBe('hello-contract');
    // The local folder is untouched: the agent works on the remote host's files (no fs/* offered).
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
    expect(done.result.changed_files).toEqual([
      { path: 'contract.txt', status: 'added', additions: 1, deletions: 0 },
    ]);
    const { events } = (await s.call('get_events', { run: run.run_id, types: ['warning'] })) as {
      events: Summary[];
    };
    expect(events).toEqual([]);
    const diff = (await s.call('get_diff', { run: run.run_id })) as Summary;
    expect(diff.diff).toContain('+++ b/contract.txt');
    expect(diff.diff).toContain('+hello-contract');
    expect(diff.diff).not.toContain('REMOTE');
    // One path, a path with a quote in it (quoted for the remote shell, not interpreted).
    const one = (await s.call('get_diff', {
      run: run.run_id,
      path: "contract.txt' ; touch pwned '",
    })) as Summary;
    expect(one.diff).toBe('');
    expect(existsSync(join(remoteWork, 'pwned'))).toBe(false);
    // Git's temporary index lived on the remote side and is gone (mktemp -d there, removed after).
    expect(pidsMatching('baton-exec')).toEqual([]);
  });

  it('two concurrent ssh runs in one remote work tree touching one file both carry the overlap warning', async () => {
    await start();
    gitRepo(t.work, 'LOCAL');
    gitRepo(remoteWork, 'REMOTE');
    const touch = (who: string, wait: number) =>
      steps(
        {
          permission: {
            title: 'Edit shared.txt',
            kind: 'edit',
            locations: ['shared.txt'],
            allowed: [{ write_file: { path: 'shared.txt', content: `by ${who}\n` } }],
          },
        },
        { sleep: wait },
      );
    const a = await spawnRun(touch('a', 2500), { policy: 'allow_all' });
    const b = await spawnRun(touch('b', 200), { policy: 'allow_all' });
    const [da, db] = [(await waitFor(s, a.run_id)) as Summary, (await waitFor(s, b.run_id)) as Summary];
    expect(da.status, JSON.stringify(da.error)).toBe('completed');
    expect(db.status, JSON.stringify(db.error)).toBe('completed');
    expect(da.result.overlaps).toEqual([{ path: 'shared.txt', run_id: b.run_id }]);
    expect(db.result.overlaps).toEqual([{ path: 'shared.txt', run_id: a.run_id }]);
    expect(da.result.changed_files.map((f: Summary) => f.path)).toEqual(['shared.txt']);
    for (const [run, other] of [
      [a.run_id, b.run_id],
      [b.run_id, a.run_id],
    ]) {
      const w = (await s.call('get_events', { run, types: ['warning'] })) as Summary;
      expect(w.events[0].data).toMatchObject({ kind: 'overlap', path: 'shared.txt', other_run: other });
    }
  });

  it('follow_up continues the session over the same runner; structured output is validated', async () => {
    await start();
    const first = await spawnRun('REMEMBER the word alpha-7');
    expect(((await waitFor(s, first.run_id)) as Summary).status).toBe('completed');
    await askCodeWord(s, first.run_id, 'alpha-7');
    await expectStructuredAnswer(s, spawnRun);
  });

  it('cancel mid-turn → cancelled; the remote agent has only its configured variables; nothing left', async () => {
    await start();
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    await sleep(300);
    const remote = pidsWithEnv(agentHome);
    expect(remote.length).toBeGreaterThan(0);
    const environ = readFileSync(`/proc/${remote[0]}/environ`, 'utf8');
    expect(environ).toContain('REMOTE_MARK=named-in-config');
    expect(environ).not.toContain('LOCAL_ONLY_SECRET');
    // Nor baton's delegation variables: there is no baton to call there.
    expect(environ).not.toContain('BATON_HOME=');
    expect(environ).not.toContain('BATON_PARENT_RUN=');
    // The remote agent runs in the mapped folder.
    expect(execFileSync('readlink', [`/proc/${remote[0]}/cwd`], { encoding: 'utf8' }).trim()).toBe(
      remoteWork,
    );
    const started = Date.now();
    const cancelled = (await s.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(8000);
    await s.close();
    await eventually(() => pidsWithEnv(agentHome).length === 0 && runnerProcesses().length === 0, 15_000);
    // The shared connection ends too (control_persist 2 s after its last session, or at shutdown).
    await eventually(() => pidsMatching(join(t.home, 'ssh')).length === 0, 15_000);
  });

  it('kill -9 of the owner mid-turn: the remote agent and the local ssh client are gone', async () => {
    await start();
    const run = await spawnRun('SLOW 20', { agent: 'remote-tree' });
    await eventually(
      async () => ((await s.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    await sleep(300);
    expect(pidsMatching('sleep\u0000600').length).toBe(1);
    expect(pidsWithEnv(agentHome).length).toBeGreaterThan(1);
    expect(runnerProcesses().length).toBeGreaterThan(0);
    process.kill(s.pid, 'SIGKILL');
    // The owner's pipe to ssh closes → the channel's input ends → the remote wrapper reaps its tree.
    await eventually(() => pidsWithEnv(agentHome).length === 0, 15_000);
    await eventually(() => runnerProcesses().length === 0, 15_000);
    await eventually(() => pidsMatching(join(t.home, 'ssh')).length === 0, 15_000);
  });

  it('baton doctor checks each ssh runner and gives the exact fix', async () => {
    await start();
    const res = await runCli(t, ['doctor', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const agents = (JSON.parse(res.stdout) as { agents: Summary[] }).agents;
    const byName = (n: string) => agents.find((a) => a.name === n) as Summary;
    expect(byName('remote')).toMatchObject({ installed: true, ready: true });
    expect(byName('remote-badkey')).toMatchObject({ ready: false });
    expect(byName('remote-badkey').fix).toContain(`add ${join(sshd.dir, 'host_key')}.pub to`);
    expect(byName('remote-unknown-host').problem).toContain('host key');
    expect(byName('remote-unknown-host').fix).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >>`);
    // A run on a runner that cannot log in fails with ssh's own reason.
    const run = (await s.call('spawn_run', { agent: 'remote-badkey', cwd: t.work, prompt: 'hi' })) as Summary;
    const failed = (await waitFor(s, run.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(JSON.stringify(failed.error)).toContain('Permission denied');
  });

  it('the real Claude Code CLI over ssh: permission → allow writes on the remote side; follow_up remembers', async () => {
    await start();
    const run = (await s.call('spawn_run', {
      agent: 'claude-far',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'ask',
    })) as Summary;
    const waiting = (await waitFor(s, run.run_id)) as Summary;
    expect(waiting.status, JSON.stringify(waiting.error)).toBe('waiting');
    const done = await answerAndWait(s, waiting, 'allow_once');
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(readFileSync(join(remoteWork, 'contract.txt'), 'utf8').trim()).toBe('hello-contract');
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
    await askCodeWord(s, run.run_id);
    const last = model.requests.filter((r) => r.protocol === 'anthropic').at(-1);
    expect(JSON.stringify(last?.body)).toContain('WRITE_FILE contract.txt');
  });

  it('a profile with a runner sends a local agent over ssh', async () => {
    await start();
    const run = (await s.call('spawn_run', {
      profile: 'far',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'allow_all',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(readFileSync(join(remoteWork, 'contract.txt'), 'utf8')).toBe('hello-contract');
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
  });

  it("an agent on the other side is not served this machine's files; a warm local process does not serve a run of the ssh profile", async () => {
    await start();
    // A path inside the agent's folder as baton sees it (the remote folder's path, here on this
    // machine): baton would serve it from its own disk, so it must refuse.
    writeFileSync(join(remoteWork, 'secret.txt'), 'local secret');
    // The scripted agent asks for the file through ACP fs/read_text_file although it was not offered.
    const prompt = JSON.stringify({ steps: [{ read_file: { path: join(remoteWork, 'secret.txt') } }] });
    const run = await spawnRun(prompt);
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(JSON.stringify(done)).not.toContain('local secret');
    expect(done.status).toBe('failed');
    // The same session, first here (agent "near"), then with the profile that runs it over ssh.
    const here = (await s.call('spawn_run', { agent: 'near', cwd: t.work, prompt: 'REMEMBER x' })) as Summary;
    expect(((await waitFor(s, here.run_id)) as Summary).status).toBe('completed');
    const far = (await s.call('spawn_run', {
      session_id: here.session_id,
      profile: 'far',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'allow_all',
    })) as Summary;
    const wrote = (await waitFor(s, far.run_id)) as Summary;
    expect(wrote.status, JSON.stringify(wrote.error)).toBe('completed');
    expect(existsSync(join(remoteWork, 'contract.txt'))).toBe(true);
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
  });

  it('a terminal program over ssh: its [y/N] question is a permission request, the answer typed there; it runs in the mapped folder with only its variables; its changes come from git there', async () => {
    await start();
    gitRepo(t.work, 'LOCAL');
    gitRepo(remoteWork, 'REMOTE');
    const started = Date.now() - 1000;
    const run = ((await s.call('spawn_run', { agent: 'remote-confirm', cwd: t.work })) as Summary)
      .run_id as string;
    const done = await answerDeploy(s, run, () => {
      // The program is the remote login's (sshd's child), in the mapped folder, on a terminal there.
      const [pid] = pidsWithEnv('REMOTE_MARK=named-in-config');
      expect(execFileSync('readlink', [`/proc/${pid}/cwd`], { encoding: 'utf8' }).trim()).toBe(remoteWork);
      expect(execFileSync('readlink', [`/proc/${pid}/fd/0`], { encoding: 'utf8' })).toMatch(/^\/dev\/pts\//);
      // Its variables went through a file on the remote side that is gone once read.
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('LOCAL_ONLY_SECRET');
    });
    expect(readFileSync(join(remoteWork, 'answer.txt'), 'utf8')).toBe('y named-in-config unset\n');
    // The file that carried the variables (mktemp there: this machine's /tmp) is gone.
    const carriers = readdirSync('/tmp')
      .filter((f) => f.startsWith('tmp.'))
      .filter((f) => {
        try {
          const file = join('/tmp', f);
          if (statSync(file).mtimeMs < started) return false; // an earlier test's
          return readFileSync(file, 'utf8').includes('REMOTE_MARK=named-in-config');
        } catch {
          return false; // a folder, gone, or not ours
        }
      });
    expect(carriers).toEqual([]);
    expect(existsSync(join(t.work, 'answer.txt'))).toBe(false);
    expect(done.result.changed_files).toEqual([
      { path: 'answer.txt', status: 'added', additions: 1, deletions: 0 },
    ]);
    await eventually(() => tmuxSessions(t).length === 0);
  });

  it('kill -9 of the owner: the next owner takes the terminal run over; cancel leaves nothing on either side, though the program ignores hang-ups', async () => {
    await start({ daemon: true });
    const run = ((await s.call('spawn_run', { agent: 'remote-stubborn', cwd: t.work })) as Summary)
      .run_id as string;
    await runWhen(s, run, (r) => r.status === 'running');
    await eventually(() => pidsMatching('sleep\u0000600.4343').length === 1);
    const [sleeper] = pidsMatching('sleep\u0000600.4343');
    await killOwner(t);
    await eventually(async () => (await adoptions(s, run).catch(() => [])).length === 1);
    expect(((await s.call('get_run', { run })) as Summary).status).toBe('running');
    expect(pidsMatching('sleep\u0000600.4343')).toEqual([sleeper]);
    const started = Date.now();
    expect(((await s.call('cancel_run', { run })) as Summary).status).toBe('cancelled');
    // The pane (and its ssh client) is killed; the remote watcher ends the group that ignored SIGHUP.
    await eventually(() => tmuxSessions(t).length === 0, 15_000);
    await eventually(() => pidsMatching('600.4343').length === 0, 15_000);
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(runnerProcesses()).toEqual([]);
  });

  it('a cwd outside the remote_cwd mapping is refused with the fix', async () => {
    await start();
    mkdirSync(join(t.dir, 'elsewhere'));
    const run = (await s.call('spawn_run', {
      agent: 'remote',
      cwd: join(t.dir, 'elsewhere'),
      prompt: 'hi',
    })) as Summary;
    const done = (await waitFor(s, run.run_id)) as Summary;
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('CWD_NOT_ALLOWED');
    expect(done.error.message).toContain('remote_cwd');
  });
});
