// The kubernetes runner's exec path end to end against test/fixtures/k8s-api.mjs: a SCRIPTED
// Kubernetes API peer on 127.0.0.1 that speaks the wire protocols @kubernetes/client-node uses
// (HTTP JSON for /version, the CRD lookups and Pods; the exec subresource as a WebSocket with the
// v5/v4 channel.k8s.io framing and the V1Status on channel 3). It is not a cluster: nothing is
// scheduled, there is no image and no isolation; the "container" is a local child process of the
// peer started in a folder of the test (the runner's work_dir), with a small environment of its
// own (PATH and a marker naming the Pod). The agent is the fixture ACP agent, configured by its
// absolute path as the image would hold it, run by baton's remote wrapper as the bridge sends it.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startK8sApi, tryUpgrade, writeKubeconfig, type K8sApi } from './fixtures/k8s-api.mjs';
import {
  daemonPid,
  eventually,
  FIXTURE_AGENT,
  makeEnv,
  pidsMatching,
  pidsWithEnv,
  ROOT,
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

const TOKEN = 'scripted-peer-token-7f3a';
const BRIDGE = join(ROOT, 'dist', 'runners', 'k8s-bridge.js');

describe('kubernetes runner: the exec path against a scripted API peer (protocol only, not a cluster)', () => {
  let t: TestEnv;
  let s: Server | undefined;
  let api: K8sApi;
  let agentHome: string;
  let podWork: string;

  /** Every process of the runs on this machine: the bridges, and the peer's "containers" (by their marker). */
  const leftovers = () => [
    ...pidsMatching('k8s-bridge.js').filter((p) => pidsWithEnv(`BATON_HOME=${t.home}`).includes(p)),
    ...pidsWithEnv('BATON_K8S_PEER_POD='),
  ];

  async function start(
    opts: {
      daemon?: boolean;
      idle?: string;
      peer?: {
        protocols?: string[];
        denyExec?: boolean;
        keepStdinOpen?: boolean;
        failDeletes?: number;
        crds?: boolean;
      };
    } = {},
  ): Promise<void> {
    t = makeEnv((dir) => {
      agentHome = join(dir, 'agent-home');
      podWork = join(dir, 'pod-work');
      mkdirSync(agentHome);
      mkdirSync(podWork);
      return {};
    });
    api = await startK8sApi({ token: TOKEN, workDir: podWork, ...opts.peer });
    writeKubeconfig(join(t.dir, 'kubeconfig'), api.url, TOKEN);
    writeKubeconfig(join(t.dir, 'kubeconfig-bad'), api.url, 'not-the-token');
    const runner = (over: Record<string, unknown> = {}) => ({
      type: 'kubernetes',
      kubeconfig: join(t.dir, 'kubeconfig'),
      image: 'registry.example/agents/fixture:1',
      namespace: 'agents',
      work_dir: podWork,
      ...over,
    });
    const cfg = JSON.parse(readFileSync(join(t.home, 'config.json'), 'utf8')) as Summary;
    const agent = {
      driver: 'acp',
      command: process.execPath,
      args: [FIXTURE_AGENT, '--scenario', CONTRACT_SCENARIO, '--state', join(t.dir, 'fixture-state')],
      env: { HOME: agentHome, POD_MARK: 'named-in-config' },
    };
    cfg.agents.near = agent;
    cfg.agents.kube = { ...agent, runner: runner() };
    // A clone of the base commit (the init container's work on a cluster; the test makes it here).
    cfg.agents['kube-git'] = { ...agent, runner: runner({ git_url: 'https://git.example/team/app.git' }) };
    cfg.agents['kube-badtoken'] = { ...agent, runner: runner({ kubeconfig: join(t.dir, 'kubeconfig-bad') }) };
    // Terminal programs in the Pod, on a tty there (the bridge in baton's tmux pane passes it through).
    const term = (script: string) =>
      shTerminalAgent(script, { HOME: agentHome, POD_MARK: 'named-in-config' }, runner());
    cfg.agents['kube-confirm'] = term(deployQuestion('POD_MARK', 'tty >/dev/null && echo on-a-tty'));
    cfg.agents['kube-confirm-git'] = {
      ...cfg.agents['kube-confirm'],
      runner: runner({ git_url: 'https://git.example/team/app.git' }),
    };
    // Ignores hang-ups and SIGTERM: only the deletion of its Pod stops it.
    cfg.agents['kube-stubborn'] = term('trap "" HUP TERM INT; sleep 600.5454; echo woke');
    cfg.profiles = { pod: { agent: 'near', runner: runner() } };
    if (opts.idle) cfg.session_idle_timeout = opts.idle;
    writeFileSync(join(t.home, 'config.json'), JSON.stringify(cfg));
    t.env.LOCAL_ONLY_SECRET = 'do-not-forward';
    s = await startServer(t, { daemon: opts.daemon ?? false });
  }

  const spawnRun = async (prompt: string, extra: Record<string, unknown> = {}) =>
    (await s!.call('spawn_run', { agent: 'kube', cwd: t.work, prompt, ...extra })) as Summary;

  /** A run told a word, then a follow-up in its session that gets the earlier turn back. */
  async function rememberThenRecall(word: string): Promise<void> {
    const first = await spawnRun(`REMEMBER the word ${word}`);
    expect(((await waitFor(s!, first.run_id)) as Summary).status).toBe('completed');
    await askCodeWord(s!, first.run_id, word);
  }

  /** Every Pod the peer was asked for was deleted, every session Sandbox suspended, and no Pod is left. */
  function podsDeleted(): boolean {
    const made = api.calls.filter((c) => c === 'POST /api/v1/namespaces/agents/pods').length;
    const deleted = api.calls.filter((c) => c.startsWith('DELETE /api/v1/namespaces/agents/pods/')).length;
    const suspended = [...api.sandboxes.values()].every((sb) => sb.spec.replicas === 0);
    return (made > 0 || api.sandboxes.size > 0) && deleted >= made && suspended && api.pods.size === 0;
  }

  /** The holder annotation of a Sandbox, and its replicas. */
  const held = (key: string) => {
    const sb = api.sandboxes.get(key);
    return {
      holder: (sb?.metadata.annotations as Record<string, string> | undefined)?.['baton.dev/holder'],
      replicas: sb?.spec.replicas,
    };
  };

  afterEach(async () => {
    try {
      await s?.close();
      s = undefined;
      await eventually(() => podsDeleted() && leftovers().length === 0, 15_000);
    } finally {
      // What a failed test left must not fail the next ones.
      if (t) killTmuxServer(t);
      await api?.close();
      t?.cleanup();
    }
  });

  it("with the agent-sandbox CRDs a session keeps its own Sandbox: suspended when its agent process ends, resumed (the agent's work there) for the follow-up; a stale reaper cannot suspend it", async () => {
    await start({ idle: '1s', peer: { crds: true } });
    const first = await spawnRun('REMEMBER the word delta-4');
    expect(((await waitFor(s!, first.run_id)) as Summary).status).toBe('completed');
    // One Sandbox, the session's (its name from the home and session), holding its Pod; no bare Pod.
    expect([...api.sandboxes.keys()]).toEqual([expect.stringMatching(/^agents\/baton-s-[0-9a-f]{20}$/)]);
    const key = [...api.sandboxes.keys()][0]!;
    expect(api.calls).not.toContain('POST /api/v1/namespaces/agents/pods');
    const made = api.sandboxes.get(key)!;
    expect((made.spec.volumeClaimTemplates as Summary[]).map((v) => v.metadata.name)).toEqual([
      'work',
      'home',
    ]);
    const firstHolder = held(key).holder;
    expect(firstHolder).toMatch(/^[0-9a-f]{16}$/);
    writeFileSync(join(podWork, 'agent-notes.txt'), 'kept on the volume');
    // The warm process's idle time ends it: the Sandbox is suspended (replicas 0), its Pod gone, not deleted.
    await eventually(() => held(key).replicas === 0 && !api.pods.has(key), 15_000);
    expect(api.calls.some((c) => c.startsWith('DELETE /apis/agents.x-k8s.io/'))).toBe(false);
    // As if an earlier process's suspend had not landed: the Sandbox runs again, no one holding it.
    const patched = await fetch(
      `${api.url}/apis/agents.x-k8s.io/v1alpha1/namespaces/${key}`.replace(
        '/agents/baton-s-',
        '/agents/sandboxes/baton-s-',
      ),
      {
        method: 'PATCH',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'replace', path: '/spec/replicas', value: 1 }]),
      },
    );
    expect(patched.status).toBe(200);
    await eventually(() => api.pods.get(key)?.status.phase === 'Running');
    const stray = api.pods.get(key);
    const before = api.patches.length;
    // The follow-up resumes it: replicas 1 again, a new holder, a new Pod of the same name.
    await askCodeWord(s!, first.run_id, 'delta-4');
    const resumed = held(key);
    expect(resumed.replicas).toBe(1);
    expect(resumed.holder).toMatch(/^[0-9a-f]{16}$/);
    expect(resumed.holder).not.toBe(firstHolder);
    expect(api.sandboxes.size).toBe(1);
    expect(readFileSync(join(podWork, 'agent-notes.txt'), 'utf8')).toBe('kept on the volume');
    // It found the Sandbox running: suspended it (no holder to test), waited for that Pod to go, resumed.
    const taken = api.patches
      .slice(before)
      .map((p) => (JSON.parse(p.body) as Summary[]).map((o) => `${o.op} ${o.path}`));
    expect(taken.slice(0, 2)).toEqual([
      ['replace /spec/replicas'],
      [
        'add /metadata/annotations/baton.dev~1holder',
        'replace /spec/podTemplate',
        'replace /spec/replicas',
        'replace /spec/shutdownTime',
      ],
    ]);
    expect(api.pods.get(key)).not.toBe(stray);
    // Every change of the Sandbox is a JSON Patch: the resume, then the suspend testing its holder.
    expect(new Set(api.patches.map((p) => p.contentType))).toEqual(new Set(['application/json-patch+json']));
    const suspend = JSON.parse(api.patches[0]!.body) as Summary[];
    // The resume takes the Pod template as configured now (the next Pod's image, resources).
    const resume = JSON.parse(api.patches[before + 1]!.body) as Summary[];
    expect(resume.map((o) => `${o.op} ${o.path}`)).toEqual([
      'add /metadata/annotations/baton.dev~1holder',
      'replace /spec/podTemplate',
      'replace /spec/replicas',
      'replace /spec/shutdownTime',
    ]);
    expect(suspend[0]).toEqual({
      op: 'test',
      path: '/metadata/annotations/baton.dev~1holder',
      value: firstHolder,
    });
    // A reaper of the first agent process, late: its suspend tests the old holder and is refused.
    const order = {
      config: { type: 'kubernetes', kubeconfig: join(t.dir, 'kubeconfig'), image: 'x', namespace: 'agents' },
      made: { kind: 'Sandbox', name: key.split('/')[1], namespace: 'agents', holder: firstHolder },
    };
    // (Not execFileSync: the peer answers from this process.)
    const reaper = spawn(process.execPath, [BRIDGE, '--reap'], {
      cwd: t.dir,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    reaper.stdin.end(`${JSON.stringify(order)}\n`);
    expect(await new Promise((r) => reaper.on('exit', r))).toBe(0);
    // Its patch (the only other one testing the first holder) was refused; the sandbox is not its.
    const tested = api.patches.filter((p) => p.body.includes(firstHolder!)).map((p) => p.status);
    expect(tested).toEqual([200, 422]);
  });

  it('a session Sandbox outlives a kill -9 of the owner suspended, not deleted', async () => {
    await start({ daemon: true, peer: { crds: true } });
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    const [key] = [...api.sandboxes.keys()];
    expect(held(key!).replicas).toBe(1);
    process.kill(daemonPid(t.home)!, 'SIGKILL');
    await eventually(() => held(key!).replicas === 0 && api.pods.size === 0, 20_000);
    expect(api.sandboxes.has(key!)).toBe(true);
    await eventually(() => leftovers().length === 0, 15_000);
  });

  it('a terminal program in the Pod on a tty: [y/N] is a permission request, the answer typed in; its variables never in a command; the Pod deleted a moment after it exits', async () => {
    await start();
    const run = ((await s!.call('spawn_run', { agent: 'kube-confirm', cwd: t.work })) as Summary)
      .run_id as string;
    const done = await answerDeploy(s!, run, () => {
      // Two execs: the variables into a 0600 file (no tty), then the program on a tty reading it.
      expect(api.execs.map((e) => e.tty)).toEqual([false, true]);
      expect(JSON.stringify(api.execs.map((e) => e.command))).not.toContain('named-in-config');
      expect(existsSync(api.execs[1]!.command[4]!)).toBe(false);
    });
    expect(done.result.text).toContain('on-a-tty');
    expect(readFileSync(join(podWork, 'answer.txt'), 'utf8')).toBe('y named-in-config unset\n');
    // Kept 15 s for git there (its changes), then deleted by the bridge's reaper.
    await eventually(() => podsDeleted(), 30_000);
    await eventually(() => tmuxSessions(t).length === 0);
  }, 60_000);

  it("a terminal program in the session's Sandbox: its changes come from git in the Pod, kept a moment after the program exits, then suspended", async () => {
    await start({ peer: { crds: true } });
    gitRepo(t.work, 'README.md');
    rmSync(podWork, { recursive: true });
    execFileSync('git', ['clone', '-q', t.work, podWork]);
    const run = ((await s!.call('spawn_run', { agent: 'kube-confirm-git', cwd: t.work })) as Summary)
      .run_id as string;
    const done = await answerDeploy(s!, run);
    expect(done.result.changed_files).toEqual([
      { path: 'answer.txt', status: 'added', additions: 1, deletions: 0 },
    ]);
    expect(((await s!.call('get_diff', { run })) as Summary).diff).toContain('+y named-in-config unset');
    const [key] = [...api.sandboxes.keys()];
    expect(key).toMatch(/^agents\/baton-s-/);
    // The bridge's reaper suspends it once the linger is over (nothing of the run is left running).
    await eventually(() => podsDeleted(), 30_000);
    expect(api.sandboxes.get(key!)?.spec.replicas).toBe(0);
  }, 60_000);

  it('a terminal run in a Pod outlives a kill -9 of the owner (taken over, the Pod kept); cancel deletes the Pod', async () => {
    await start({ daemon: true });
    const run = ((await s!.call('spawn_run', { agent: 'kube-stubborn', cwd: t.work })) as Summary)
      .run_id as string;
    await runWhen(s!, run, (r) => r.status === 'running');
    await eventually(() => pidsMatching('sleep\u0000600.5454').length === 1);
    await killOwner(t);
    await eventually(async () => (await adoptions(s!, run).catch(() => [])).length === 1);
    expect(((await s!.call('get_run', { run })) as Summary).status).toBe('running');
    expect(api.pods.size).toBe(1);
    expect(pidsMatching('sleep\u0000600.5454')).toHaveLength(1);
    expect(((await s!.call('cancel_run', { run })) as Summary).status).toBe('cancelled');
    await eventually(() => podsDeleted() && pidsMatching('600.5454').length === 0, 15_000);
    await eventually(() => tmuxSessions(t).length === 0);
  });

  it("permission → allow writes in the Pod's folder over the exec stream; → deny does not; the Pod is deleted", async () => {
    await start();
    const run = await spawnRun('WRITE_FILE contract.txt hello-contract', { policy: 'ask' });
    const waiting = (await waitFor(s!, run.run_id)) as Summary;
    expect(waiting.status, JSON.stringify(waiting.error)).toBe('waiting');
    expect(waiting.waiting_for.kind).toBe('permission');
    // The bridge exec'd the remote wrapper in container "agent" over v5.channel.k8s.io.
    expect(api.execs).toHaveLength(1);
    const exec = api.execs[0]!;
    expect(exec.protocol).toBe('v5.channel.k8s.io');
    expect(exec.command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(exec.command.slice(3)).toEqual([
      'baton-runner',
      podWork,
      process.execPath,
      FIXTURE_AGENT,
      '--scenario',
      CONTRACT_SCENARIO,
      '--state',
      join(t.dir, 'fixture-state'),
    ]);
    // The Pod the bridge made ran (the peer's scripted Running) and holds no agent variable.
    const [pod] = [...api.pods.values()];
    expect(pod?.status.phase).toBe('Running');
    expect(pod?.spec.containers[0]?.workingDir).toBe(podWork);
    expect(JSON.stringify(pod)).not.toContain('named-in-config');
    expect(existsSync(join(podWork, 'contract.txt'))).toBe(false);
    const done = await answerAndWait(s!, waiting, 'allow_once');
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result.text).toContain('done: wrote contract.txt');
    expect(readFileSync(join(podWork, 'contract.txt'), 'utf8')).toBe('hello-contract');
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);

    // Denied: another run (its own Pod), nothing written.
    const second = (await s!.call('spawn_run', {
      agent: 'kube',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt other',
      policy: 'ask',
    })) as Summary;
    const asks = (await waitFor(s!, second.run_id)) as Summary;
    expect(asks.status, JSON.stringify(asks.error)).toBe('waiting');
    writeFileSync(join(podWork, 'contract.txt'), 'before');
    const denied = await answerAndWait(s!, asks, 'reject_once');
    expect(denied.status, JSON.stringify(denied.error)).toBe('completed');
    expect(denied.result.text).toContain('not written: contract.txt (permission denied)');
    expect(readFileSync(join(podWork, 'contract.txt'), 'utf8')).toBe('before');
    await s!.close();
    s = undefined;
    // Both Pods deleted at the peer once baton stopped its agents; no bridge, no "container" left.
    await eventually(() => podsDeleted() && leftovers().length === 0, 15_000);
    expect(api.execs.length).toBeGreaterThanOrEqual(2);
    for (const e of api.execs) expect(e.stdinClosed).toBe(true);
  });

  it('follow_up continues the session in its sandbox; structured output is validated', async () => {
    await start();
    await rememberThenRecall('alpha-7');
    await expectStructuredAnswer(s!, spawnRun);
  });

  it("changed_files and get_diff come from git in the Pod while the session's agent lives", async () => {
    await start();
    gitRepo(t.work, 'README.md');
    // What the init container does on a cluster: clone the run's base commit into the work tree.
    rmSync(podWork, { recursive: true });
    execFileSync('git', ['clone', '-q', t.work, podWork]);
    const run = (await s!.call('spawn_run', {
      agent: 'kube-git',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'allow_all',
    })) as Summary;
    const done = (await waitFor(s!, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(readFileSync(join(podWork, 'contract.txt'), 'utf8')).toBe('hello-contract');
    expect(existsSync(join(t.work, 'contract.txt'))).toBe(false);
    expect(done.result.changed_files).toEqual([
      { path: 'contract.txt', status: 'added', additions: 1, deletions: 0 },
    ]);
    const { events } = (await s!.call('get_events', { run: run.run_id, types: ['warning'] })) as {
      events: Summary[];
    };
    expect(events).toEqual([]);
    const diff = (await s!.call('get_diff', { run: run.run_id })) as Summary;
    expect(diff.diff).toContain('+++ b/contract.txt');
    expect(diff.diff).toContain('+hello-contract');
    // git ran in the Pod, over exec streams of their own (the agent's is the first).
    // Each helper over an exec stream of its own (the agent's is the first): the turn's end (one sh
    // script: the snapshot and both diffs of changed_files), then get_diff's git diff.
    const helpers = api.execs.slice(1);
    expect(helpers.map((e) => e.command.slice(0, 5).join(' '))).toEqual(
      helpers.map((e) => `sh -c ${e.command[2]} baton-exec ${podWork}`),
    );
    const ran = helpers.map((e) =>
      e.command.slice(e.command.indexOf('env') + 1).find((w) => !w.includes('=')),
    );
    expect(ran).toEqual(['sh', 'git']);
    // Its agent gone (and its Pod), the diff can no longer be read: said so.
    await s!.close();
    s = undefined;
    await eventually(() => podsDeleted() && leftovers().length === 0, 15_000);
    s = await startServer(t);
    const gone = await s.raw('get_diff', { run: run.run_id });
    expect(gone.isError).toBe(true);
    expect(JSON.stringify(gone.structuredContent)).toContain("the sandbox of this run's session is gone");
  });

  it('a profile with a kubernetes runner sends a local agent into a Pod', async () => {
    await start();
    const run = (await s!.call('spawn_run', {
      profile: 'pod',
      cwd: t.work,
      prompt: 'WRITE_FILE contract.txt hello-contract',
      policy: 'allow_all',
    })) as Summary;
    const done = (await waitFor(s!, run.run_id)) as Summary;
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(readFileSync(join(podWork, 'contract.txt'), 'utf8')).toBe('hello-contract');
    expect(api.execs).toHaveLength(1);
  });

  it('cancel mid-turn → cancelled; the agent in the "container" has only its configured variables; Pod deleted', async () => {
    await start();
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    await sleep(300);
    const agents = pidsWithEnv(agentHome);
    expect(agents.length).toBeGreaterThan(0);
    const environ = readFileSync(`/proc/${agents[0]}/environ`, 'utf8');
    expect(environ).toContain('POD_MARK=named-in-config');
    expect(environ).not.toContain('LOCAL_ONLY_SECRET');
    expect(environ).not.toMatch(/BATON_HOME=|BATON_PARENT_RUN=/);
    const started = Date.now();
    const cancelled = (await s!.call('cancel_run', { run: run.run_id })) as Summary;
    expect(cancelled.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(8000);
    await s!.close();
    s = undefined;
    await eventually(() => podsDeleted() && leftovers().length === 0, 15_000);
  });

  it('kill -9 of the owner mid-turn: the Pod is deleted (by the bridge, or its reaper once recovery SIGKILLs the bridge)', async () => {
    // The close of the agent's stdin does not reach it (the peer keeps its stdin open): only the
    // deletion of the Pod ends the agent. The next owner's recovery SIGKILLs the bridge's group
    // (the run is interrupted): its reaper, in a session of its own, deletes the Pod then.
    await start({ daemon: true, peer: { keepStdinOpen: true } });
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    await sleep(300);
    expect(pidsWithEnv(agentHome).length).toBeGreaterThan(0);
    expect(api.pods.size).toBe(1);
    const owner = daemonPid(t.home);
    expect(owner).toBeGreaterThan(0);
    process.kill(owner!, 'SIGKILL');
    await eventually(() => api.execs[0]?.stdinClosed === true, 10_000);
    // The agent outlives its stdin's close until the bridge deletes its Pod.
    expect(pidsWithEnv(agentHome).length).toBeGreaterThan(0);
    await eventually(() => podsDeleted(), 20_000);
    await eventually(() => leftovers().length === 0, 15_000);
  });

  it("the bridge's own DELETE fails (500): its reaper deletes the Pod after the bridge exits", async () => {
    await start({ peer: { failDeletes: 1 } });
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    expect(((await s!.call('cancel_run', { run: run.run_id })) as Summary).status).toBe('cancelled');
    // Two DELETEs: the bridge's (refused) and the reaper's.
    await eventually(() => podsDeleted() && leftovers().length === 0, 20_000);
    const deletes = api.calls.filter((c) => c.startsWith('DELETE /api/v1/namespaces/agents/pods/'));
    expect(deletes).toHaveLength(2);
  });

  it('the bridge SIGKILLed mid-turn: its reaper deletes the Pod and exits', async () => {
    await start();
    const run = await spawnRun('SLOW 20');
    await eventually(
      async () => ((await s!.call('get_run', { run: run.run_id })) as Summary).status === 'running',
    );
    const bridges = pidsMatching('k8s-bridge.js').filter((p) =>
      pidsWithEnv(`BATON_HOME=${t.home}`).includes(p),
    );
    const bridge = bridges.find((p) => !readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--reap'));
    expect(bridges).toHaveLength(2);
    expect(api.pods.size).toBe(1);
    process.kill(bridge!, 'SIGKILL');
    await eventually(() => podsDeleted(), 10_000);
    await eventually(() => leftovers().length === 0, 10_000);
    expect(((await waitFor(s!, run.run_id)) as Summary).status).toBe('failed');
  });

  it('the peer refuses a wrong token: the run fails naming it; exec without the token is refused', async () => {
    await start();
    const run = (await s!.call('spawn_run', {
      agent: 'kube-badtoken',
      cwd: t.work,
      prompt: 'hi',
    })) as Summary;
    const failed = (await waitFor(s!, run.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('HOST_UNREACHABLE');
    expect(failed.error.message).toContain('HTTP 401: the credentials were refused');
    expect(api.calls.some((c) => c.startsWith('POST'))).toBe(false);
    // A Pod to exec in, then the exec upgrade without and with a wrong token: 401 both times.
    const ok = await spawnRun('REMEMBER x');
    expect(((await waitFor(s!, ok.run_id)) as Summary).status).toBe('completed');
    const [name] = [...api.pods.keys()];
    const path = `${api.url.replace('http', 'ws')}/api/v1/namespaces/${name!.replace('/', '/pods/')}/exec?command=id&container=agent&stdout=true`;
    const offer = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
    expect(await tryUpgrade(path, offer, {})).toBe('refused 401');
    expect(await tryUpgrade(path, offer, { authorization: 'Bearer nope' })).toBe('refused 401');
    // With the token it opens, with the protocol the client prefers.
    expect(await tryUpgrade(path, offer, { authorization: `Bearer ${TOKEN}` })).toBe(
      'open v5.channel.k8s.io',
    );
  });

  it('an API server without v5 (v4.channel.k8s.io): a prompt and a follow-up are answered, the Pod deleted', async () => {
    await start({ peer: { protocols: ['v4.channel.k8s.io'] } });
    await rememberThenRecall('beta-9');
    expect(api.execs.map((e) => e.protocol)).toEqual(['v4.channel.k8s.io']);
  });

  it('exec refused (403, no pods/exec right): the run fails with the reason and its Pod is deleted', async () => {
    await start({ peer: { denyExec: true } });
    const run = await spawnRun('hi');
    const failed = (await waitFor(s!, run.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(JSON.stringify(failed.error)).toContain('403');
    await eventually(() => podsDeleted(), 10_000);
    expect(api.execs).toEqual([]);
  });
});
