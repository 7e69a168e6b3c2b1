// The bridge between baton and one agent in a Kubernetes sandbox, started by the kubernetes
// runner as a child process (node dist/runners/k8s-bridge.js). Its stdin's first line is a
// BridgeHeader (JSON: the runner's config, the agent's argv, cwd and variables); the rest of its
// stdin is the agent's stdin, its stdout the agent's stdout. It makes the sandbox (a Sandbox, a
// SandboxClaim or a Pod), waits for its Pod to run, execs the agent under baton's remote wrapper
// (variables over the exec stream's stdin, never in the command), and deletes the sandbox when
// the agent exits, when its stdin ends (the owner closed it or died) or on SIGTERM/SIGINT (the
// kill ladder). Messages for the run go to stderr; it exits with the agent's status.
// With --terminal <file> it runs in a terminal (a terminal run's tmux pane): the header is that 0600
// file (read, then removed), the program gets a tty in the Pod, its variables go through a 0600
// file there, and the terminal's hang-up or end deletes the sandbox.
// It cannot delete anything once SIGKILLed (a new owner's recovery kills the group of a run it
// interrupts, an owner going down kills its children at once): a reaper (this file with --reap,
// in a session of its own) holds a pipe from the bridge and deletes the sandbox when that pipe
// ends before the bridge said it deleted it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { spawnWatcher } from '../process/child.js';
import {
  clusterName,
  execInPod,
  loadKubeConfig,
  reachCluster,
  reason,
  sandboxCrds,
  statusOf,
} from './k8s-cluster.js';
import {
  AGENT_CONTAINER,
  claimManifest,
  HOLDER_ANNOTATION,
  homeDir,
  podManifest,
  SANDBOX_API,
  sandboxManifest,
  shutdownTime,
  type Manifest,
} from './k8s-manifests.js';
import { livePodFile, type BridgeHeader, type LivePod } from './kubernetes.js';
import { REMOTE_ENV_FILE, REMOTE_TERMINAL_WRAPPER, REMOTE_WRAPPER } from './ssh.js';

const fail = (message: string, code = 1): never => {
  process.stderr.write(`baton: ${message}\n`);
  process.exit(code);
};

/** Reads the header line; the bytes after it are the agent's stdin. */
function readHeader(): Promise<{ header: BridgeHeader; rest: Buffer }> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > 1 << 20) fail('the runner header is too long');
        return;
      }
      process.stdin.off('data', onData);
      process.stdin.off('end', early);
      process.stdin.pause();
      try {
        resolve({
          header: JSON.parse(buf.subarray(0, nl).toString('utf8')) as BridgeHeader,
          rest: buf.subarray(nl + 1),
        });
      } catch {
        fail('the runner header is not JSON');
      }
    };
    const early = () => fail('stdin ended before the runner header');
    process.stdin.on('data', onData);
    process.stdin.once('end', early);
  });
}

/**
 * What the bridge made or holds. `holder`: a session's sandbox held by this bridge (resumed, not
 * made for this process alone): it is suspended at the end, not deleted.
 */
type Made = { kind: 'Pod' | 'Sandbox' | 'SandboxClaim'; name: string; namespace: string; holder?: string };

/** Where a Sandbox is in the API (group, version, namespace, plural, name). */
const sandboxApi = (made: Made) => ({
  group: SANDBOX_API.group,
  version: SANDBOX_API.version,
  namespace: made.namespace,
  plural: SANDBOX_API.sandboxes,
  name: made.name,
});

/** The holder annotation of a session's Sandbox now; undefined when it is gone or has none. */
async function holderOf(kc: KubeConfig, made: Made): Promise<string | undefined> {
  const sandbox = (await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject(sandboxApi(made))
    .catch(() => undefined)) as { metadata?: { annotations?: Record<string, string> } } | undefined;
  return sandbox?.metadata?.annotations?.[HOLDER_ANNOTATION];
}

/** A JSON Patch path segment (RFC 6901: ~ and / escaped). */
const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The session's own Sandbox (`made.name`): resumed when it exists (replicas 1, this bridge its
 * holder, its Pod template as configured now, its shutdownTime moved to max_lifetime from now),
 * else made with its work tree and home on claimed volumes. Its work tree and the agent's changes
 * in it are kept between the session's agent processes. One found running (an earlier process's
 * suspend has not landed, or its program lives on) is suspended first and resumed once its Pod is
 * gone: the agent starts in a fresh Pod, with nothing of an earlier process running beside it.
 */
async function holdSessionSandbox(kc: KubeConfig, h: BridgeHeader, made: Made): Promise<void> {
  const c = h.config;
  const holder = made.holder as string;
  const custom = kc.makeApiClient(CustomObjectsApi);
  const api = sandboxApi(made);
  const sandboxPlan = {
    name: made.name,
    now: new Date(),
    session: { holder },
    ...(h.commit ? { commit: h.commit } : {}),
  };
  const manifest = sandboxManifest(c, sandboxPlan) as { spec: { podTemplate: unknown } };
  // The Pod template as configured now (image, resources: the config may have changed since);
  // the work tree's volume stays the sandbox's.
  const resume = () =>
    custom.patchNamespacedCustomObject({
      ...api,
      body: [
        { op: 'add', path: `/metadata/annotations/${pointer(HOLDER_ANNOTATION)}`, value: holder },
        { op: 'replace', path: '/spec/podTemplate', value: manifest.spec.podTemplate },
        { op: 'replace', path: '/spec/replicas', value: 1 },
        { op: 'replace', path: '/spec/shutdownTime', value: shutdownTime(c, new Date()) },
      ],
    });
  const found = (await custom.getNamespacedCustomObject(api).catch((err: unknown) => {
    if (statusOf(err) === 404) return undefined;
    throw err;
  })) as { spec?: { replicas?: number } } | undefined;
  if (found) {
    if ((found.spec?.replicas ?? 1) !== 0) {
      await custom.patchNamespacedCustomObject({
        ...api,
        body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
      });
      await podGone(kc, made, (c.startup_timeout ?? 120) * 1000);
    }
    await resume();
    return;
  }
  await custom.createNamespacedCustomObject({ ...api, body: manifest }).catch(async (err: unknown) => {
    // Made in the meantime (another process of the session): held all the same.
    if (statusOf(err) === 409) return resume();
    throw err;
  });
}

/** Waits until the Pod of `made` (a Sandbox's: its name) no longer exists. */
async function podGone(kc: KubeConfig, made: Made, timeoutMs: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const there = await core.readNamespacedPod({ name: made.name, namespace: made.namespace }).then(
      () => true,
      (err: unknown) => {
        if (statusOf(err) === 404) return false;
        throw err;
      },
    );
    if (!there) return;
    if (Date.now() > deadline)
      throw new Error(`the earlier Pod ${made.name} did not go within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * What this bridge will make (or hold), decided before anything is sent, so that its reaper
 * exists before the sandbox does (a bridge killed in between leaves nothing: deleting or
 * suspending what is not there yet is a no-op).
 */
async function plan(kc: KubeConfig, h: BridgeHeader, name: string): Promise<Made> {
  const c = h.config;
  const namespace = c.namespace ?? 'default';
  const crds = await sandboxCrds(kc);
  if (crds.sandbox && !c.template && h.sandbox) {
    return { kind: 'Sandbox', name: h.sandbox, namespace, holder: randomBytes(8).toString('hex') };
  }
  if (c.template) {
    if (!crds.claims) fail(`${clusterName(kc)} has no SandboxClaim CRD for template "${c.template}"`);
    return { kind: 'SandboxClaim', name, namespace };
  }
  return { kind: crds.sandbox ? 'Sandbox' : 'Pod', name, namespace };
}

async function create(kc: KubeConfig, h: BridgeHeader, made: Made): Promise<void> {
  const c = h.config;
  const { name, namespace } = made;
  const sandboxPlan = { name, now: new Date(), ...(h.commit ? { commit: h.commit } : {}) };
  const custom = kc.makeApiClient(CustomObjectsApi);
  if (made.holder) return holdSessionSandbox(kc, h, made);
  if (made.kind === 'SandboxClaim') {
    const body: Manifest = claimManifest({ ...c, template: c.template as string }, sandboxPlan);
    await custom.createNamespacedCustomObject({
      group: SANDBOX_API.extensionsGroup,
      version: SANDBOX_API.version,
      namespace,
      plural: SANDBOX_API.claims,
      body,
    });
    return;
  }
  if (made.kind === 'Sandbox') {
    await custom.createNamespacedCustomObject({
      group: SANDBOX_API.group,
      version: SANDBOX_API.version,
      namespace,
      plural: SANDBOX_API.sandboxes,
      body: sandboxManifest(c, sandboxPlan),
    });
    return;
  }
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespacedPod({ namespace, body: podManifest(c, sandboxPlan) as never });
}

/**
 * Deletes what was made, or suspends a session's sandbox it holds (replicas 0: its Pod goes, its
 * volume stays) — only while it still holds it (the patch tests the holder: a newer process of the
 * session may have resumed it since); true when that is done (or nothing is left to do).
 */
async function remove(kc: KubeConfig, made: Made): Promise<boolean> {
  const { name, namespace } = made;
  const gone = (err: unknown) => {
    if (statusOf(err) === 404) return true;
    process.stderr.write(
      `baton: could not ${made.holder ? 'suspend' : 'delete'} ${made.kind} ${name}: ${reason(err)}\n`,
    );
    return false;
  };
  if (made.holder) {
    return kc
      .makeApiClient(CustomObjectsApi)
      .patchNamespacedCustomObject({
        ...sandboxApi(made),
        body: [
          { op: 'test', path: `/metadata/annotations/${pointer(HOLDER_ANNOTATION)}`, value: made.holder },
          { op: 'replace', path: '/spec/replicas', value: 0 },
        ],
      })
      .then(
        () => true,
        async (err: unknown) => {
          // 422: the patch did not apply. Only another holder (or none) makes it not this one's.
          if (statusOf(err) === 422 && (await holderOf(kc, made)) !== made.holder) return true;
          return gone(err);
        },
      );
  }
  if (made.kind === 'Pod') {
    return kc
      .makeApiClient(CoreV1Api)
      .deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 })
      .then(() => true, gone);
  }
  const claim = made.kind === 'SandboxClaim';
  return kc
    .makeApiClient(CustomObjectsApi)
    .deleteNamespacedCustomObject({
      group: claim ? SANDBOX_API.extensionsGroup : SANDBOX_API.group,
      version: SANDBOX_API.version,
      namespace,
      plural: claim ? SANDBOX_API.claims : SANDBOX_API.sandboxes,
      name,
    })
    .then(() => true, gone);
}

/** The Pod of what was made, once it runs: a claim's Pod is its Sandbox's (status.sandbox.Name). */
async function runningPod(kc: KubeConfig, made: Made, timeoutMs: number): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pod: string | undefined = made.name;
    if (made.kind === 'SandboxClaim') {
      const claim = (await custom.getNamespacedCustomObject({
        group: SANDBOX_API.extensionsGroup,
        version: SANDBOX_API.version,
        namespace: made.namespace,
        plural: SANDBOX_API.claims,
        name: made.name,
      })) as { status?: { sandbox?: { Name?: string } } };
      pod = claim.status?.sandbox?.Name;
    }
    if (pod) {
      const p = await core
        .readNamespacedPod({ name: pod, namespace: made.namespace })
        .catch((err: unknown) => {
          if (statusOf(err) === 404) return undefined;
          throw err;
        });
      const phase = p?.status?.phase;
      // A resumed sandbox's earlier Pod may still be going (deleted at its suspend): not that one.
      if (phase === 'Running' && !p?.metadata?.deletionTimestamp) return pod;
      if (phase === 'Failed' || phase === 'Succeeded') throw new Error(`its Pod ${pod} ended (${phase})`);
    }
    if (Date.now() > deadline) throw new Error(`its Pod did not run within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The reaper's first line: the sandbox to delete (or suspend) should the bridge die first, and
 * the session's live-Pod file the bridge wrote, forgotten with it.
 */
type ReapOrder = { config: BridgeHeader['config']; made: Made; live?: { file: string; text: string } };
/** The line the bridge sends its reaper once it deleted the sandbox itself. */
const REMOVED = 'removed';
/**
 * The line a terminal run's bridge sends its reaper when the program exited: the reaper keeps the
 * sandbox {@link LINGER_MS} more (git there gives the run's changes, which baton reads once it has
 * seen the exit), then removes it — unless the session's next process holds it by then.
 */
const LINGER = 'linger';
const LINGER_MS = 15_000;

/**
 * Starts the reaper of `made`: detached (its own session: the bridge's group may be SIGKILLed),
 * its stdin a pipe from this bridge, its errors appended to reaper.log in the runner's state folder.
 */
function startReaper(order: ReapOrder): Writable | undefined {
  const { made } = order;
  try {
    const pipe = spawnWatcher({
      command: process.execPath,
      args: [fileURLToPath(import.meta.url), '--reap'],
      logFd: openSync('reaper.log', 'a', 0o600),
    });
    pipe.write(`${JSON.stringify(order)}\n`);
    return pipe;
  } catch (err) {
    process.stderr.write(`baton: no reaper for ${made.kind} ${made.name}: ${reason(err)}\n`);
    return undefined;
  }
}

/** The reaper: deletes the sandbox of its first line when its stdin ends without {@link REMOVED}. */
async function reap(): Promise<void> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  const lines = text.split('\n');
  const [first] = lines;
  if (lines.includes(REMOVED) || !first) return;
  const order = JSON.parse(first) as ReapOrder;
  if (lines.includes(LINGER)) await new Promise((r) => setTimeout(r, LINGER_MS));
  await remove(loadKubeConfig(order.config), order.made);
  forget(order.live);
}

/** Removes the session's live-Pod file when it is still the one written (a newer process's stays). */
function forget(live: { file: string; text: string } | undefined): void {
  try {
    if (live && readFileSync(live.file, 'utf8') === live.text) unlinkSync(live.file);
  } catch {
    // gone already
  }
}

/**
 * A terminal run's header, from the 0600 file the runner wrote (the bridge's stdin is the
 * terminal): read, then removed.
 */
function readHeaderFile(file: string | undefined): { header: BridgeHeader; rest: Buffer } {
  if (!file) return fail('--terminal needs the header file');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
    unlinkSync(file);
  } catch (err) {
    return fail(`the runner header ${file} cannot be read: ${reason(err)}`);
  }
  try {
    return { header: JSON.parse(text) as BridgeHeader, rest: Buffer.alloc(0) };
  } catch {
    return fail('the runner header is not JSON');
  }
}

async function main(): Promise<void> {
  // A terminal run: the program gets a tty in the Pod, this process's terminal passed through.
  const terminal = process.argv[2] === '--terminal';
  const { header, rest } = terminal ? readHeaderFile(process.argv[3]) : await readHeader();
  // In the runner's state folder, as when started by the runner (its header file is there): the
  // session's live-Pod file and reaper.log are found there, not in the tmux pane's folder.
  if (terminal) process.chdir(dirname(resolve(process.argv[3] as string)));
  if (header.kubeconfigEnv) process.env.KUBECONFIG = header.kubeconfigEnv;
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(header.config);
    await reachCluster(kc);
  } catch (err) {
    return fail((err as Error).message, 69);
  }
  const name = `baton-${randomBytes(6).toString('hex')}`;
  let made: Made | undefined;
  let creating: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let reaper: Writable | undefined;
  // Where git for the session's changes runs while this agent lives (the runner's exec reads it).
  const live = header.session ? resolve(livePodFile(header.session)) : undefined;
  let liveText: string | undefined;
  const forgetLive = () => forget(live && liveText ? { file: live, text: liveText } : undefined);
  // Deletes what was made, or is being made (a stop while the create call is in flight), then exits.
  const stop = (code: number) => {
    stopping ??= (async () => {
      forgetLive();
      await creating?.catch(() => undefined);
      // Only a sandbox really deleted releases the reaper: else it tries again once this exits.
      const removed = made ? await remove(kc, made) : true;
      if (reaper && removed) await new Promise((r) => reaper?.end(`${REMOVED}\n`, () => r(undefined)));
    })().finally(() => process.exit(code));
    return stopping;
  };
  // A terminal run's program exited: its reaper keeps the sandbox a little (its changes are read).
  const linger = (code: number) => {
    stopping ??= (async () => {
      if (reaper) await new Promise((r) => reaper?.end(`${LINGER}\n`, () => r(undefined)));
      else {
        forgetLive();
        if (made) await remove(kc, made);
      }
    })().finally(() => process.exit(code));
    return stopping;
  };
  process.on('SIGTERM', () => void stop(143));
  process.on('SIGINT', () => void stop(130));
  // The terminal it runs in was closed (its tmux pane killed).
  process.on('SIGHUP', () => void stop(129));
  const s = header.spawn;
  // HOME is the sandbox's home volume unless the agent's env names another.
  const env = Object.entries({ HOME: homeDir(header.config), ...s.env }).map(([k, v]) => `${k}=${v}`);
  const envText = `${env.join('\n')}${env.length ? '\n' : ''}\n`;
  let execd = false;
  let agentIn: Readable;
  if (terminal) {
    // Keys pass through as typed (C-c is the program's); the end of the terminal ends the sandbox.
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    agentIn = process.stdin;
    process.stdin.on('end', () => void stop(0));
  } else {
    // The agent's stdin: its variables first (the wrapper reads them), then baton's bytes, read at
    // once so that their end is seen even while the sandbox starts.
    const piped = new PassThrough();
    agentIn = piped;
    piped.write(envText);
    if (rest.length) piped.write(rest);
    // The owner closed the agent's stdin or died: the agent gets EOF and the wrapper's grace, then
    // the sandbox goes (at once when the agent was not started yet).
    process.stdin.on('end', () => {
      piped.end();
      if (!execd) void stop(0);
      else setTimeout(() => void stop(0), 5000).unref();
    });
    process.stdin.pipe(piped);
    process.stdin.resume();
  }
  try {
    made = await plan(kc, header, name);
    if (live) {
      // Known before the Pod is: the reaper forgets it with the sandbox.
      liveText = JSON.stringify({
        namespace: made.namespace,
        pod: made.name,
        sandbox: made.name,
      } satisfies LivePod);
    }
    reaper = startReaper({
      config: header.config,
      made,
      ...(live && liveText ? { live: { file: live, text: liveText } } : {}),
    });
    creating = create(kc, header, made);
    await creating;
    // (Not on a terminal run's screen, which is the program's.)
    const what = `${made.kind} ${made.namespace}/${made.name}${made.holder ? " (the session's)" : ''}`;
    if (!terminal) process.stderr.write(`baton: ${what} on ${clusterName(kc)}\n`);
    if (stopping) return;
    const pod = await runningPod(kc, made, (header.config.startup_timeout ?? 120) * 1000);
    if (live && liveText) {
      // The Pod's name is the sandbox's for a Pod or Sandbox; a claim's comes from its status.
      liveText = JSON.stringify({ namespace: made.namespace, pod, sandbox: made.name } satisfies LivePod);
      mkdirSync(dirname(live), { recursive: true, mode: 0o700 });
      writeFileSync(live, liveText, { mode: 0o600 });
    }
    execd = true;
    let argv = ['sh', '-c', REMOTE_WRAPPER, 'baton-runner', s.cwd, s.command, ...s.args];
    if (terminal) {
      // Its variables cannot go through its terminal: a 0600 file in the Pod, read and removed.
      const where = { namespace: made.namespace, pod };
      const limits = { input: envText, maxBuffer: 4096, timeoutMs: 30_000 };
      const file = (await execInPod(kc, where, ['sh', '-c', REMOTE_ENV_FILE], limits)).trim();
      argv = ['sh', '-c', REMOTE_TERMINAL_WRAPPER, 'baton-terminal', file, s.cwd, s.command, ...s.args];
    }
    const ws = await new Exec(kc).exec(
      made.namespace,
      pod,
      AGENT_CONTAINER,
      argv,
      process.stdout,
      // With a tty the program's stderr is its terminal (an API server refuses both).
      terminal ? null : process.stderr,
      agentIn,
      terminal,
      (status: V1Status) => {
        const exit = status.details?.causes?.find((x) => x.reason === 'ExitCode')?.message;
        const code = status.status === 'Success' ? 0 : Number(exit ?? 1);
        void (terminal ? linger(code) : stop(code));
      },
    );
    // The stream dropped without a status: the agent is unreachable, its sandbox goes.
    ws.on('close', () => void stop(1));
  } catch (err) {
    process.stderr.write(`baton: the sandbox on ${clusterName(kc)} failed: ${reason(err)}\n`);
    await stop(1);
  }
}

if (process.argv[2] === '--reap') void reap().catch(() => process.exit(1));
else void main();
