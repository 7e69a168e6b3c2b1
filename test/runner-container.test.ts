// The container runner against real podman (Debian's, installed by .ci/run) with an image the test
// builds offline from this machine's node and sh (test/fixtures/container-image.mjs). The fixture
// ACP agent runs inside it: baton's checkout is mounted read-only for its code, the run's folder
// read-write at the same path; nothing else of this machine is in the container.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAgentImage, ENGINE, removeImage } from './fixtures/container-image.mjs';
import {
  daemonPid,
  eventually,
  FIXTURE_AGENT,
  makeEnv,
  pidsMatching,
  pidsWithEnv,
  ROOT,
  runCli,
  sleep,
  startServer,
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

/** The agent's marker variable: its processes (in the container) are found by it from here. */
const MARK = 'BOX_MARK=in-the-container';

let image: string;
beforeAll(() => {
  image = buildAgentImage(`t${process.pid}`);
}, 120_000);
afterAll(() => removeImage(image));

/** A scenario whose turns write outside the work tree: into `dir` (not mounted), the image, the read-only mount. */
function escapeScenario(dir: string): string {
  mkdirSync(join(dir, 'scenarios'));
  const file = join(dir, 'scenarios', 'escape.json');
  writeFileSync(
    file,
    JSON.stringify({
      turns: [
        {
          match: '^OUTSIDE',
          steps: [
            { write_file: { path: join(dir, 'outside.txt'), content: 'escaped' } },
            { message: 'wrote outside' },
          ],
        },
        {
          match: '^IMAGE',
          steps: [
            { message: 'writing IMAGE' },
            { write_file: { path: '/usr/bin/planted', content: 'x' } },
            { message: 'wrote image' },
          ],
        },
        { match: '^SERVERS', steps: [{ mcp_servers: true }] },
        {
          match: '^MOUNT',
          steps: [
            { message: 'writing MOUNT' },
            { write_file: { path: join(ROOT, 'planted.txt'), content: 'x' } },
            { message: 'wrote mount' },
          ],
        },
      ],
      default: [{ echo: true }],
    }),
  );
  return file;
}

/** The containers (running or not) of the baton home `home`, by the label the runner gives them. */
function containersOf(home: string): string[] {
  const label = createHash('sha256').update(home).digest('hex').slice(0, 16);
  const out = execFileSync(
    ENGINE,
    ['ps', '-a', '--filter', `label=io.baton.home=${label}`, '--format', '{{.Names}}'],
    {
      encoding: 'utf8',
    },
  );
  return out.split('\n').filter(Boolean);
}

describe('container runner: the fixture agent in a podman container', () => {
  let t: TestEnv;
  let s: Server | undefined;

  /** What is left of the runs on this machine: containers, their agents, engine clients and reapers. */
  const leftovers = () => [
    ...containersOf(t.home),
    ...pidsWithEnv(MARK).map(String),
    ...pidsMatching(ENGINE)
      .filter((p) => pidsWithEnv(`BATON_HOME=${t.home}`).includes(p))
      .map(String),
  ];

  async function start(
    opts: { daemon?: boolean; idle?: string; offer?: boolean; port?: number } = {},
    env?: TestEnv,
  ): Promise<void> {
    t = env ?? makeEnv(() => ({}));
    gitRepo(t.work, 'README.md');
    const cfg = JSON.parse(readFileSync(join(t.home, 'config.json'), 'utf8')) as Summary;
    // baton's checkout (the agent's code) and the test's scenarios, both read-only.
    const scenario = escapeScenario(t.dir);
    const runner = {
      type: 'container',
      engine: ENGINE,
      image,
      mounts: [{ source: ROOT }, { source: join(t.dir, 'scenarios') }],
    };
    const agent = {
      driver: 'acp',
      command: process.execPath,
      args: [FIXTURE_AGENT, '--scenario', CONTRACT_SCENARIO],
      // The agent keeps its sessions in its home, which baton keeps per session.
      env: { BATON_SCRIPTED_STATE: '/home/baton/state', BOX_MARK: 'in-the-container' },
    };
    cfg.agents.near = { ...agent, env: { BOX_MARK: 'here' } };
    cfg.agents.box = { ...agent, runner };
    cfg.agents['box-noimage'] = { ...agent, runner: { ...runner, image: 'localhost/baton-no-such-image:1' } };
    cfg.agents['box-escape'] = {
      ...agent,
      args: [FIXTURE_AGENT, '--scenario', scenario],
      runner,
    };
    cfg.agents['box-nobody'] = { ...agent, runner: { ...runner, user: '65534:65534' } };
    cfg.agents['near-escape'] = { ...cfg.agents['box-escape'], runner: undefined };
    if (opts.offer) cfg.delegation = { offer_to_agents: true };
    // An agent that neither answers nor ends when its stdin closes: only the container's end stops it.
    // An agent that only tries to reach a TCP port on this machine's loopback and writes what
    // happened into the work tree (its run then fails: it speaks no ACP).
    const probe = {
      ...agent,
      args: [
        '-e',
        `const fs = require('fs'); const out = (t) => { fs.writeFileSync('net-' + process.env.NET + '.txt', t); process.exit(0); };
         require('net').connect(${opts.port ?? 1}, '127.0.0.1').on('connect', () => out('connected')).on('error', (e) => out(e.code));
         setTimeout(() => out('timeout'), 5000);`,
      ],
    };
    cfg.agents['box-net-none'] = { ...probe, env: { ...probe.env, NET: 'none' }, runner };
    cfg.agents['box-net-private'] = {
      ...probe,
      env: { ...probe.env, NET: 'private' },
      runner: { ...runner, network: 'private' },
    };
    cfg.agents['box-net-host'] = {
      ...probe,
      env: { ...probe.env, NET: 'host' },
      runner: { ...runner, network: 'host' },
    };
    cfg.agents['box-deaf'] = {
      ...agent,
      command: process.execPath,
      args: ['-e', 'process.stdin.destroy(); setInterval(() => {}, 1000)'],
      runner,
    };
    // Terminal programs in a container (podman run -it in baton's tmux pane); the image has sh only.
    const term = (script: string) => shTerminalAgent(script, { BOX_MARK: 'in-the-container' }, runner);
    cfg.agents['box-confirm'] = term(
      deployQuestion('BOX_MARK', '(echo x > /usr/planted) 2>/dev/null && echo escaped || echo confined'),
    );
    // Ignores hang-ups and SIGTERM, and reads its terminal: only the container's removal stops it.
    cfg.agents['box-stubborn'] = term('trap "" HUP TERM INT; while :; do read a; done');
    cfg.profiles = { boxed: { agent: 'near', runner } };
    if (opts.idle) cfg.session_idle_timeout = opts.idle;
    writeFileSync(join(t.home, 'config.json'), JSON.stringify(cfg));
    t.env.LOCAL_ONLY_SECRET = 'do-not-forward';
    s = await startServer(t, { daemon: opts.daemon ?? false });
  }

  const spawnRun = async (prompt: string, extra: Record<string, unknown> = {}) =>
    (await s!.call('spawn_run', { agent: 'box', cwd: t.work, prompt, ...extra })) as Summary;

  afterEach(async () => {
    try {
      await s?.close();
      s = undefined;
      await eventually(() => leftovers().length === 0, 20_000).catch(() => {
        throw new Error(`left after the test: ${leftovers().join(', ')}`);
      });
    } finally {
      // What a failed test left must not fail the next ones.
      if (t) killTmuxServer(t);
      t?.cleanup();
    }
  });

  it('permission → allow writes into the mounted work tree; → deny does not; the container is removed', async () => {
    await start();
    const run = await spawnRun('WRITE_FILE contract.txt hello-contract', { policy: 'ask' });
    const waiting = (await waitFor(s!, run.run_id)) as Summary;
    expect(waiting.status, JSON.stringify(waiting.error)).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    // The agent runs in a container of the image, as the test's own user, its folder the run's.
    const [name] = containersOf(t.home);
    expect(name).toMatch(/^baton-[0-9a-f]{12}$/);
    const inspect = JSON.parse(execFileSync(ENGINE, ['inspect', name!], { encoding: 'utf8' }))[0];
    expect(inspect.ImageName).toBe(image);
    expect(inspect.Config.WorkingDir).toBe(t.work);
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
    expect(inspect.HostConfig.NetworkMode).toBe('none');
    // The agent's variables are not in the container's config, nor on any command line here.
    expect(JSON.stringify(inspect)).not.toContain('in-the-container');
    expect(pidsMatching('in-the-container')).toEqual([]);
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
    const done = await answerAndWait(s!, waiting, 'allow_once');
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toContain('done: wrote contract.txt');
    expect(readFileSync(join(t.work, 'contract.txt'), 'utf8')).toBe('hello-contract');
    // git runs here, on the same folder: the change is tracked, with no warning.
    expect(done.result.changed_files).toEqual([
      { path: 'contract.txt', status: 'added', additions: 1, deletions: 0 },
    ]);
    const { events } = (await s!.call('get_events', { run: run.run_id, types: ['warning'] })) as {
      events: Summary[];
    };
    expect(events).toEqual([]);
    expect(((await s!.call('get_diff', { run: run.run_id })) as Summary).diff).toContain('+hello-contract');

    const second = await spawnRun('WRITE_FILE contract.txt other', { policy: 'ask' });
    const asks = (await waitFor(s!, second.run_id)) as Summary;
    expect(asks.status, JSON.stringify(asks.error)).toBe('waiting');
    writeFileSync(join(t.work, 'contract.txt'), 'before');
    const denied = await answerAndWait(s!, asks, 'reject_once');
    expect(denied.result.text).toContain('not written: contract.txt (permission denied)');
    expect(readFileSync(join(t.work, 'contract.txt'), 'utf8')).toBe('before');
    await s!.close();
    s = undefined;
    await eventually(() => leftovers().length === 0, 20_000);
  });

  it('confined to the mounted work tree: writes outside it fail or stay in the container; nothing lands here', async () => {
    await start();
    const outside = join(t.dir, 'outside.txt');
    const ask = async (prompt: string) => {
      const run = (await s!.call('spawn_run', { agent: 'box-escape', cwd: t.work, prompt })) as Summary;
      return (await waitFor(s!, run.run_id)) as Summary;
    };
    // The image and a read-only mount: the write fails, after the agent said it would write.
    for (const prompt of ['IMAGE', 'MOUNT']) {
      const ended = await ask(prompt);
      expect(ended.status, `${prompt}: ${JSON.stringify(ended)}`).toBe('failed');
      const { events } = (await s!.call('get_events', { run: ended.run_id, types: ['message'] })) as {
        events: Summary[];
      };
      expect(JSON.stringify(events)).toContain(`writing ${prompt}`);
    }
    // A sibling of the work tree (under /tmp here): the container's own private /tmp takes it.
    const sibling = await ask('OUTSIDE');
    expect(sibling.status, JSON.stringify(sibling)).toBe('completed');
    expect(existsSync(outside)).toBe(false);
    expect(existsSync(join(ROOT, 'planted.txt'))).toBe(false);
  });

  it("baton's own MCP server (a command of this machine) is offered to a local agent, not to one in a container", async () => {
    await start({ offer: true });
    const said = async (agent: string) => {
      const run = (await s!.call('spawn_run', { agent, cwd: t.work, prompt: 'SERVERS' })) as Summary;
      const done = (await waitFor(s!, run.run_id)) as Summary;
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      return done.result.text as string;
    };
    expect(await said('near-escape')).toContain('"name":"baton"');
    expect(await said('box-escape')).toBe('MCP servers: []');
  });

  it('network "none" (the default) and "private" do not reach this machine\'s loopback; "host" does', async () => {
    // The probe exits at once: its connection is reset, which is no error here.
    const server = createServer((c) => c.on('error', () => undefined).end('hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await start({ port: (server.address() as AddressInfo).port });
      for (const agent of ['box-net-none', 'box-net-private', 'box-net-host']) {
        const run = (await s!.call('spawn_run', { agent, cwd: t.work, prompt: 'hi' })) as Summary;
        expect(((await waitFor(s!, run.run_id)) as Summary).status).toBe('failed');
      }
      expect(readFileSync(join(t.work, 'net-none.txt'), 'utf8')).toMatch(
        /^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH)$/,
      );
      // The engine's own network: its 127.0.0.1 is the container's, not this machine's.
      expect(readFileSync(join(t.work, 'net-private.txt'), 'utf8')).toBe('ECONNREFUSED');
      expect(readFileSync(join(t.work, 'net-host.txt'), 'utf8')).toBe('connected');
    } finally {
      server.close();
    }
  });

  it('follow_up reuses the warm container; after it ended, a new one resumes the session from the kept home', async () => {
    await start({ idle: '1s' });
    const first = await spawnRun('REMEMBER the word gamma-3');
    expect(((await waitFor(s!, first.run_id)) as Summary).status).toBe('completed');
    const warm = containersOf(t.home);
    expect(warm).toHaveLength(1);
    const next = await askCodeWord(s!, first.run_id, 'gamma-3');
    // The idle timeout ends the warm process: its container goes with it.
    await eventually(() => containersOf(t.home).length === 0, 15_000);
    await askCodeWord(s!, next.run_id, 'gamma-3');
    // Structured output is validated as for any run.
    await expectStructuredAnswer(s!, spawnRun);
  });

  it('user "UID:GID": the agent runs as that user, owning its session home; the work tree is not its to write', async () => {
    await start();
    const run = (await s!.call('spawn_run', {
      agent: 'box-nobody',
      cwd: t.work,
      prompt: 'SLOW 20',
    })) as Summary;
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    const [pid] = pidsWithEnv(MARK);
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s+65534/m);
    expect(((await s!.call('cancel_run', { run: run.run_id })) as Summary).status).toBe('cancelled');
    // Its session state went to its home (it owns it); writing the root-owned work tree is refused.
    const write = (await s!.call('spawn_run', {
      agent: 'box-nobody',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'allow_all',
    })) as Summary;
    const ended = (await waitFor(s!, write.run_id)) as Summary;
    expect(ended.status).toBe('failed');
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
  });

  it('a profile with a container runner sends a local agent into a container', async () => {
    await start();
    const run = (await s!.call('spawn_run', {
      profile: 'boxed',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'allow_all',
    })) as Summary;
    const done = (await waitFor(s!, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(readFileSync(join(t.work, 'contract.txt'), 'utf8')).toBe('hello-contract');
    // It ran in a container (the file lands in the same folder either way): the warm one is there.
    expect(containersOf(t.home)).toHaveLength(1);
  });

  it('a terminal program in a container: [y/N] is a permission request, the answer typed in; it writes only the work tree; its variables never on a command line', async () => {
    await start();
    const run = ((await s!.call('spawn_run', { agent: 'box-confirm', cwd: t.work })) as Summary)
      .run_id as string;
    let envDir = '';
    const done = await answerDeploy(s!, run, (asked) => {
      // One container, of a terminal run (its own reaper, not the owner's), read-only, no network.
      const [name] = containersOf(t.home);
      const inspect = JSON.parse(execFileSync(ENGINE, ['inspect', name!], { encoding: 'utf8' }))[0];
      expect(inspect.Config.Labels['io.baton.owner']).toBe('terminal');
      expect(inspect.Config.Tty).toBe(true);
      expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
      expect(inspect.HostConfig.NetworkMode).toBe('none');
      // Its variables: not in the container's config, not on a command line, and their file emptied.
      expect(JSON.stringify(inspect)).not.toContain('in-the-container');
      expect(pidsMatching('in-the-container')).toEqual([]);
      envDir = join(t.home, 'containers', asked.session_id as string, name!);
      expect(readFileSync(join(envDir, 'env'), 'utf8')).toBe('');
    });
    expect(done.result.text).toContain('confined');
    expect(readFileSync(join(t.work, 'answer.txt'), 'utf8')).toBe('y in-the-container unset\n');
    expect(done.result.changed_files).toEqual([
      { path: 'answer.txt', status: 'added', additions: 1, deletions: 0 },
    ]);
    await eventually(() => containersOf(t.home).length === 0 && !existsSync(envDir), 15_000);
    await eventually(() => tmuxSessions(t).length === 0);
  });

  it('a terminal run in a container outlives a kill -9 of the owner (taken over, container kept); cancel removes it; an engine client killed alone takes its container with it', async () => {
    await start({ daemon: true });
    const spawnStubborn = async () =>
      ((await s!.call('spawn_run', { agent: 'box-stubborn', cwd: t.work })) as Summary).run_id as string;
    const run = await spawnStubborn();
    await runWhen(s!, run, (r) => r.status === 'running');
    await eventually(() => pidsWithEnv(MARK).length > 0);
    const [name] = containersOf(t.home);
    await killOwner(t);
    await eventually(async () => (await adoptions(s!, run).catch(() => [])).length === 1);
    expect(((await s!.call('get_run', { run })) as Summary).status).toBe('running');
    expect(containersOf(t.home)).toEqual([name]);
    expect(((await s!.call('cancel_run', { run })) as Summary).status).toBe('cancelled');
    // The program ignored the hang-up and SIGTERM; its engine client was killed with the pane,
    // and the reaper the pane's shell started removed the container.
    await eventually(() => containersOf(t.home).length === 0 && pidsWithEnv(MARK).length === 0, 20_000);
    await eventually(() => tmuxSessions(t).length === 0);

    const second = await spawnStubborn();
    await runWhen(s!, second, (r) => r.status === 'running');
    await eventually(() => pidsWithEnv(MARK).length > 0);
    const client = pidsMatching(`${ENGINE}\u0000run\u0000`).filter((p) =>
      readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(join(t.home, 'containers')),
    );
    expect(client).toHaveLength(1);
    process.kill(client[0]!, 'SIGKILL');
    const ended = await runWhen(s!, second, (r) => ['completed', 'failed'].includes(r.status));
    expect(ended.result?.stop_reason ?? ended.error?.message).toMatch(/137|exited/);
    await eventually(() => containersOf(t.home).length === 0 && pidsWithEnv(MARK).length === 0, 20_000);
  });

  it('cancel mid-turn → cancelled within seconds; the agent had only its configured variables; nothing left', async () => {
    await start();
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    await sleep(300);
    const agents = pidsWithEnv(MARK);
    expect(agents.length).toBeGreaterThan(0);
    const environ = readFileSync(`/proc/${agents[0]}/environ`, 'utf8').split('\0');
    expect(environ).toContain('HOME=/home/baton');
    expect(environ.join('\n')).not.toContain('LOCAL_ONLY_SECRET');
    // Nor baton's delegation variables (its home's path included): no baton to call in there.
    expect(environ.join('\n')).not.toMatch(/BATON_HOME=|BATON_PARENT_RUN=/);
    // The image's PATH, not this machine's.
    expect(environ).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const started = Date.now();
    expect(((await s!.call('cancel_run', { run: run.run_id })) as Summary).status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(8000);
    await s!.close();
    s = undefined;
    await eventually(() => leftovers().length === 0, 20_000);
  });

  it('kill -9 of the owner mid-turn: the reaper removes the container, the agent in it ends', async () => {
    await start({ daemon: true });
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    await sleep(300);
    expect(pidsWithEnv(MARK).length).toBeGreaterThan(0);
    expect(containersOf(t.home)).toHaveLength(1);
    const owner = daemonPid(t.home);
    expect(owner).toBeGreaterThan(0);
    process.kill(owner!, 'SIGKILL');
    await eventually(() => containersOf(t.home).length === 0 && pidsWithEnv(MARK).length === 0, 20_000);
    // The next owner (the front starts one) says the run was interrupted.
    expect(((await waitFor(s!, run.run_id)) as Summary).status).toBe('interrupted');
  });

  /** Starts a run of the deaf agent and returns the engine client that runs its container. */
  async function deafRun(): Promise<{ run: string; client: number }> {
    const run = (await s!.call('spawn_run', { agent: 'box-deaf', cwd: t.work, prompt: 'hi' })) as Summary;
    await eventually(() => pidsWithEnv(MARK).length > 0, 15_000);
    expect(containersOf(t.home)).toHaveLength(1);
    const [name] = containersOf(t.home);
    // `<engine> run … --name <name> …`: read each once (short-lived engine processes come and go).
    const cmdline = (p: number) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    const client = pidsMatching(name!).find((p) => {
      const words = cmdline(p).split('\0');
      return words[0]?.endsWith(ENGINE) && words[1] === 'run' && words.includes(name!);
    });
    expect(client, `no ${ENGINE} run client for ${name}`).toBeGreaterThan(0);
    return { run: run.run_id as string, client: client! };
  }

  it("the engine's client SIGKILLed (the container would live on): baton removes the container, the run fails", async () => {
    await start();
    const { run, client } = await deafRun();
    process.kill(client, 'SIGKILL');
    await eventually(() => containersOf(t.home).length === 0 && pidsWithEnv(MARK).length === 0, 20_000);
    expect(((await waitFor(s!, run)) as Summary).status).toBe('failed');
  });

  it('the owner and the engine client SIGKILLed together: the reaper removes the container', async () => {
    await start({ daemon: true });
    const { run, client } = await deafRun();
    const owner = daemonPid(t.home);
    expect(owner).toBeGreaterThan(0);
    process.kill(owner!, 'SIGKILL');
    process.kill(client, 'SIGKILL');
    await eventually(() => containersOf(t.home).length === 0 && pidsWithEnv(MARK).length === 0, 20_000);
    expect(((await waitFor(s!, run)) as Summary).status).toBe('interrupted');
  });

  it("an owner's start removes the containers an earlier owner of its home left, and no one else's", async () => {
    t = makeEnv(() => ({}));
    const label = createHash('sha256').update(t.home).digest('hex').slice(0, 16);
    const left = (owner: string, home = label) =>
      execFileSync(
        ENGINE,
        [
          'run',
          '-d',
          '--rm',
          '--label',
          `io.baton.home=${home}`,
          '--label',
          `io.baton.owner=${owner}`,
          '--entrypoint',
          'sh',
          image,
          '-c',
          'exec node -e "setInterval(() => {}, 1000)"',
        ],
        { encoding: 'utf8' },
      ).trim();
    const orphan = left('0123456789abcdef');
    const elsewhere = left('0123456789abcdef', 'another-home-label');
    // A terminal run's container (its reaper is its terminal's, which lives on): kept while it
    // runs; one that stopped (its terminal's server died with the machine) is removed.
    const terminal = left('terminal');
    const stopped = `baton-stopped-${process.pid}`;
    execFileSync(ENGINE, [
      'run',
      '--name',
      stopped,
      '--label',
      `io.baton.home=${label}`,
      '--label',
      'io.baton.owner=terminal',
      '--entrypoint',
      'sh',
      image,
      '-c',
      'true',
    ]);
    const terminalName = execFileSync(ENGINE, ['inspect', '--format', '{{.Name}}', terminal], {
      encoding: 'utf8',
    }).trim();
    try {
      expect(containersOf(t.home)).toHaveLength(3);
      await start({}, t);
      await eventually(() => JSON.stringify(containersOf(t.home)) === JSON.stringify([terminalName]), 20_000);
      execFileSync(ENGINE, ['rm', '-f', '-t', '0', terminal], { stdio: 'ignore' });
      const others = execFileSync(ENGINE, ['ps', '-q', '--no-trunc', '--filter', `id=${elsewhere}`], {
        encoding: 'utf8',
      });
      expect(others.trim()).toBe(elsewhere);
      // A run's own container is not taken for an orphan.
      const run = await spawnRun('SLOW 20');
      await eventually(
        async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
      );
      expect(containersOf(t.home)).toHaveLength(1);
      expect(((await s!.call('cancel_run', { run: run.run_id })) as Summary).status).toBe('cancelled');
    } finally {
      execFileSync(ENGINE, ['rm', '-f', '-t', '0', orphan, elsewhere, terminal, stopped], {
        stdio: 'ignore',
      });
    }
  });

  it('baton doctor names a missing image with the command that gets it; a run on it fails saying so', async () => {
    await start();
    const doctor = await runCli(t, ['doctor', '--json']);
    const agents = (JSON.parse(doctor.stdout) as { agents: Summary[] }).agents;
    const byName = (n: string) => agents.find((a) => a.name === n) as Summary;
    expect(byName('box')).toMatchObject({ installed: true, ready: true });
    expect(byName('box-noimage')).toMatchObject({ ready: false });
    expect(byName('box-noimage').problem).toBe(`${ENGINE} has no image localhost/baton-no-such-image:1`);
    expect(byName('box-noimage').fix).toContain(`${ENGINE} pull localhost/baton-no-such-image:1`);
    const run = (await s!.call('spawn_run', { agent: 'box-noimage', cwd: t.work, prompt: 'hi' })) as Summary;
    const failed = (await waitFor(s!, run.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(JSON.stringify(failed.error)).toContain('baton-no-such-image');
  });

  it("a run folder that holds baton's home is refused before any container starts", async () => {
    await start();
    const run = (await s!
      .call('spawn_run', { agent: 'box', cwd: t.dir, prompt: 'hi' })
      .catch((e: unknown) => ({
        error: String(e),
      }))) as Summary;
    const ended = run.run_id ? ((await waitFor(s!, run.run_id)) as Summary) : run;
    expect(JSON.stringify(ended.error)).toMatch(/CWD_NOT_ALLOWED|holds baton's home/);
    expect(containersOf(t.home)).toEqual([]);
  });
});
