import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatonError, toBatonError } from '../errors.js';
import { ChildHandle } from '../process/child.js';
import { execBounded } from '../process/exec.js';
import { envLines, envWords, sessionFileName, type KubernetesRunnerConfig } from './options.js';
import type { Runner, RunnerExec, RunnerSpawn, TerminalLaunch } from './runner.js';
import { REMOTE_EXEC } from './ssh.js';

/** @kubernetes/client-node costs ~0.9 s to load: only when a kubernetes runner is used. */
const cluster = () => import('./k8s-cluster.js');

/** The bridge process (dist/runners/k8s-bridge.js) that owns one sandbox and its exec stream. */
export const BRIDGE = join(dirname(fileURLToPath(import.meta.url)), 'k8s-bridge.js');

/** What the runner hands the bridge on its stdin's first line (never in a command line). */
export type BridgeHeader = {
  config: KubernetesRunnerConfig;
  spawn: { command: string; args: readonly string[]; cwd: string; env: Record<string, string> };
  /** The run's base commit to clone (with git_url). */
  commit?: string;
  /** The run's session: the bridge records its live Pod for it ({@link livePodFile}). */
  session?: string;
  /**
   * baton's $KUBECONFIG when the config names no kubeconfig: a terminal run's bridge is started by
   * tmux, whose environment is the one its server started with, not baton's now.
   */
  kubeconfigEnv?: string;
  /**
   * The session's own Sandbox ({@link sessionSandboxName}), held by the bridge when the cluster has
   * the agent-sandbox CRDs (without `template`): resumed and suspended, not made and deleted.
   */
  sandbox?: string;
};

/** The name of a session's own Sandbox: one per baton home and session, a valid DNS label. */
export function sessionSandboxName(home: string, session: string): string {
  return `baton-s-${createHash('sha256').update(`${home}\0${session}`).digest('hex').slice(0, 20)}`;
}

/** The Pod a session's agent runs in, while it runs (written by its bridge). */
export type LivePod = { namespace: string; pod: string; sandbox: string };

/** The file (relative to the runner's state folder, the bridge's cwd) naming a session's live Pod. */
export function livePodFile(session: string): string {
  return join('sessions', `${sessionFileName(session)}.json`);
}

/** The file (relative to the runner's state folder) holding a session's base commit. */
function baseCommitFile(session: string): string {
  return join('sessions', `${sessionFileName(session)}.base`);
}

/**
 * Runs agents in a sandbox on an existing Kubernetes cluster, through `@kubernetes/client-node`:
 * one sandbox per agent process (an agent-sandbox Sandbox, a SandboxClaim of `template`, or a Pod
 * when the cluster lacks those CRDs), the agent exec'd in it with its stdio on the exec stream.
 * A local bridge process (node, {@link BRIDGE}) owns the sandbox: the kill ladder stops the
 * bridge, which deletes the sandbox; so does the end of its stdin (the owner died).
 */
export class KubernetesRunner implements Runner {
  readonly type = 'kubernetes';
  readonly local = false;
  readonly sharesFolder = false;
  readonly #config: KubernetesRunnerConfig;
  readonly #stateDir: string;
  /** The local folder of the run being started (see {@link forRun}). */
  readonly #localCwd: string | undefined;
  /** The run's session (see {@link forRun}). */
  readonly #sessionId: string | undefined;
  /** The cluster's server and context, once its kubeconfig was read. */
  #cluster: string | undefined;

  constructor(config: KubernetesRunnerConfig, stateDir: string, localCwd?: string, sessionId?: string) {
    this.#config = config;
    this.#stateDir = join(stateDir, 'kubernetes');
    this.#localCwd = localCwd;
    this.#sessionId = sessionId;
  }

  get where(): string {
    return this.#cluster
      ? `cluster ${this.#cluster}`
      : `the cluster of ${this.#config.kubeconfig ?? 'the default kubeconfig'}${this.#config.context ? ` (context ${this.#config.context})` : ''}`;
  }

  /**
   * The same runner for one run: it knows the run's local folder, whose HEAD is the base commit,
   * and its session, whose live Pod runs git for the run's changes ({@link exec}).
   */
  forRun(localCwd: string, sessionId: string): Runner {
    return new KubernetesRunner(this.#config, dirname(this.#stateDir), localCwd, sessionId);
  }

  /**
   * The work tree when the agent starts, known before its sandbox exists: a clone of the base
   * commit (git_url) holds exactly that commit's tree. Undefined with a volume (its state is the
   * volume's, unknown here): its changes are not tracked.
   */
  async startTree(localCwd: string): Promise<{ root: string; tree: string } | undefined> {
    if (this.#config.volume || !this.#config.git_url) return undefined;
    const commit = this.#sessionBase() ?? 'HEAD';
    const out = await execBounded('git', ['rev-parse', '--verify', `${commit}^{tree}`], {
      cwd: localCwd,
      timeoutMs: 10_000,
    });
    return { root: this.agentCwd(), tree: out.trim() };
  }

  /**
   * The commit the session's work tree was cloned at (recorded when its first sandbox was made):
   * its later sandboxes start from it too, and a resumed one holds its changes since then.
   */
  #sessionBase(): string | undefined {
    if (!this.#sessionId) return undefined;
    try {
      const text = readFileSync(join(this.#stateDir, baseCommitFile(this.#sessionId)), 'utf8').trim();
      return /^[0-9a-f]{40}$/.test(text) ? text : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A helper program (git) in the Pod the run's session's agent runs in, over a one-shot exec
   * (no stdin, no tty), in `cwd` there with `opts.env` added: stdout bounded (`maxBuffer`,
   * default 16 MiB), time bounded (`timeoutMs`, default 60 s). Fails (NOT_FOUND) once that
   * agent's sandbox was deleted (the run's diff can be read only while its session's agent lives).
   */
  readonly exec: RunnerExec = async (command, args, opts) => {
    const words = envWords(opts.env, 'into a sandbox');
    const where = this.#livePod();
    const { execInPod, loadKubeConfig } = await cluster();
    return execInPod(
      loadKubeConfig(this.#config),
      where,
      ['sh', '-c', REMOTE_EXEC, 'baton-exec', opts.cwd, 'env', ...words, command, ...args],
      { maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024, timeoutMs: opts.timeoutMs ?? 60_000 },
    );
  };

  /** The live Pod of the bound session, as its bridge recorded it. */
  #livePod(): LivePod {
    const gone = () =>
      new BatonError(
        'NOT_FOUND',
        `the sandbox of this run's session is gone (its agent ended): git there cannot be asked any more`,
      );
    if (!this.#sessionId) throw gone();
    try {
      const where = JSON.parse(
        readFileSync(join(this.#stateDir, livePodFile(this.#sessionId)), 'utf8'),
      ) as LivePod;
      if (typeof where.namespace !== 'string' || typeof where.pod !== 'string') throw gone();
      return where;
    } catch {
      throw gone();
    }
  }

  /** The agent works at the top of the sandbox's work tree. */
  agentCwd(): string {
    return this.#config.work_dir ?? '/workspace';
  }

  /**
   * What the bridge of one agent process is told, made after the checks that need no sandbox:
   * the variables, the cluster reached (an unreachable one fails the run with its name, nothing
   * made), the base commit.
   */
  async #header(spawn: Omit<RunnerSpawn, 'onStderr'>): Promise<BridgeHeader> {
    envLines(spawn.env, 'into a sandbox'); // checked before anything is made
    const { clusterName, loadKubeConfig, reachCluster } = await cluster();
    const kc = loadKubeConfig(this.#config);
    this.#cluster = clusterName(kc);
    await reachCluster(kc);
    const commit = await this.#baseCommit();
    mkdirSync(this.#stateDir, { recursive: true, mode: 0o700 });
    return {
      config: this.#config,
      spawn: { command: spawn.command, args: spawn.args, cwd: spawn.cwd, env: spawn.env },
      ...(commit ? { commit } : {}),
      ...(!this.#config.kubeconfig && process.env.KUBECONFIG
        ? { kubeconfigEnv: process.env.KUBECONFIG }
        : {}),
      ...(this.#sessionId
        ? { session: this.#sessionId, sandbox: sessionSandboxName(dirname(this.#stateDir), this.#sessionId) }
        : {}),
    };
  }

  async start(spawn: RunnerSpawn): Promise<ChildHandle> {
    const header = await this.#header(spawn);
    const child = await ChildHandle.start({
      command: process.execPath,
      args: [BRIDGE],
      cwd: this.#stateDir,
      env: process.env,
      ...(spawn.onStderr ? { onStderr: spawn.onStderr } : {}),
    });
    child.stdin.on('error', () => undefined);
    child.stdin.write(`${JSON.stringify(header)}\n`);
    return child;
  }

  /**
   * A terminal run's program in a sandbox: the terminal here runs the bridge (`--terminal`, its
   * header in a 0600 file it reads and removes), which execs the program with a tty in the Pod and
   * passes the terminal through; it deletes the sandbox when the program exits, when its terminal
   * goes (hang-up, end of input) or on SIGTERM, and its reaper does when it is killed.
   */
  async terminal(spawn: Omit<RunnerSpawn, 'onStderr'>): Promise<TerminalLaunch> {
    const header = await this.#header(spawn);
    const file = join(this.#stateDir, `terminal-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(file, JSON.stringify(header), { flag: 'wx', mode: 0o600 });
    return {
      command: process.execPath,
      args: [BRIDGE, '--terminal', file],
      abandon: async () => rmSync(file, { force: true }),
    };
  }

  /**
   * The commit cloned in the sandbox (git_url without a volume): the session's base commit once it
   * has one, else the local HEAD of the run's folder, recorded as the session's.
   */
  async #baseCommit(): Promise<string | undefined> {
    if (this.#config.volume || !this.#config.git_url) return undefined;
    const known = this.#sessionBase();
    if (known) return known;
    if (!this.#localCwd) {
      throw new BatonError('INTERNAL', 'kubernetes runner: started without the run (forRun)');
    }
    const out = await execBounded('git', ['rev-parse', '--verify', 'HEAD^{commit}'], {
      cwd: this.#localCwd,
      timeoutMs: 10_000,
    }).catch((err: unknown) => {
      throw new BatonError(
        'NOT_A_GIT_REPO',
        `kubernetes runner: ${this.#localCwd} has no commit to clone into the sandbox (${toBatonError(err).message})`,
      );
    });
    const commit = out.trim();
    if (this.#sessionId) {
      mkdirSync(join(this.#stateDir, 'sessions'), { recursive: true, mode: 0o700 });
      writeFileSync(join(this.#stateDir, baseCommitFile(this.#sessionId)), `${commit}\n`, { mode: 0o600 });
    }
    return commit;
  }

  async check(): Promise<{ problem: string; fix: string } | undefined> {
    const c = this.#config;
    const { clusterName, loadKubeConfig, reachCluster, reason, sandboxCrds } = await cluster();
    let kc;
    try {
      kc = loadKubeConfig(c);
    } catch (err) {
      return {
        problem: toBatonError(err).message,
        fix: c.kubeconfig
          ? `fix kubeconfig (${c.kubeconfig}) or context in the runner's config`
          : 'set the runner\'s "kubeconfig" to an absolute path, or KUBECONFIG',
      };
    }
    const name = clusterName(kc);
    this.#cluster = name;
    try {
      await reachCluster(kc);
    } catch (err) {
      return {
        problem: toBatonError(err).message,
        fix: `check that the API server at ${kc.getCurrentCluster()?.server} runs and that this machine reaches it (kubectl --kubeconfig ${c.kubeconfig ?? '~/.kube/config'} --context ${kc.getCurrentContext()} version), or fix the runner's kubeconfig/context`,
      };
    }
    try {
      const crds = await sandboxCrds(kc);
      if (c.template && !crds.claims) {
        return {
          problem: `${name} has no SandboxClaim CRD (extensions.agents.x-k8s.io), needed for template "${c.template}"`,
          fix: 'install the agent-sandbox extensions (kubernetes-sigs/agent-sandbox: kubectl apply -f its extensions manifest), or drop "template" to run a Pod',
        };
      }
    } catch (err) {
      return {
        problem: `${name} answered /version but not the CRD list: ${reason(err)}`,
        fix: "let the runner's credentials get customresourcedefinitions (apiextensions.k8s.io), or check the API server",
      };
    }
    return undefined;
  }
}
