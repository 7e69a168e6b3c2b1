import { PassThrough, Writable } from 'node:stream';
import { ApiextensionsV1Api, Exec, KubeConfig, VersionApi, type V1Status } from '@kubernetes/client-node';
import { ExecFailure } from '../process/exec.js';
import { BatonError } from '../errors.js';
import { AGENT_CONTAINER, SANDBOX_API } from './k8s-manifests.js';
import type { KubernetesRunnerConfig } from './options.js';

/** Longest a reachability or discovery call may take. */
const CALL_TIMEOUT_MS = 10_000;

/** The kubeconfig of a runner (its file or the default one), at its context. */
export function loadKubeConfig(c: KubernetesRunnerConfig): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (c.kubeconfig) kc.loadFromFile(c.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new BatonError(
      'INVALID_CONFIG',
      `kubernetes runner: cannot read the kubeconfig ${c.kubeconfig ?? '(default)'}: ${(err as Error).message}`,
    );
  }
  if (c.context) {
    if (!kc.getContextObject(c.context)) {
      throw new BatonError(
        'INVALID_CONFIG',
        `kubernetes runner: the kubeconfig ${c.kubeconfig ?? '(default)'} has no context "${c.context}"`,
      );
    }
    kc.setCurrentContext(c.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new BatonError(
      'INVALID_CONFIG',
      `kubernetes runner: the kubeconfig ${c.kubeconfig ?? '(default)'} names no cluster for context "${kc.getCurrentContext()}"`,
    );
  }
  return kc;
}

/** `https://host:port (context X)`: the cluster a runner talks to, for messages. */
export function clusterName(kc: KubeConfig): string {
  return `${kc.getCurrentCluster()?.server ?? '?'} (context ${kc.getCurrentContext()})`;
}

/** Rejects with TIMED_OUT when `p` takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BatonError('TIMED_OUT', `${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The reason of a failed API call, short: the HTTP status and message, or the network error. */
export function reason(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: string };
  if (typeof e.code === 'number') {
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? '');
    const message = /"message":"([^"]*)"/.exec(body)?.[1];
    return `HTTP ${e.code}${message ? `: ${message}` : ''}`;
  }
  return (e.message ?? String(err)).replace(/^request to \S+ failed, reason: /, '');
}

/** The HTTP status of a failed API call, or undefined for a network error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Asks the cluster's API server for its version: resolves when it answers (any HTTP status but a
 * network failure counts as reachable), rejects with HOST_UNREACHABLE naming the cluster.
 */
export async function reachCluster(kc: KubeConfig): Promise<void> {
  try {
    await within(kc.makeApiClient(VersionApi).getCode(), CALL_TIMEOUT_MS, 'GET /version');
  } catch (err) {
    if (statusOf(err) !== undefined && statusOf(err) !== 401) return;
    const why = statusOf(err) === 401 ? 'HTTP 401: the credentials were refused' : reason(err);
    throw new BatonError(
      'HOST_UNREACHABLE',
      `cannot reach the Kubernetes cluster ${clusterName(kc)}: ${why}`,
    );
  }
}

/** Which agent-sandbox CRDs the cluster has (false when absent or not readable). */
export async function sandboxCrds(kc: KubeConfig): Promise<{ sandbox: boolean; claims: boolean }> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const has = (name: string) =>
    within(api.readCustomResourceDefinition({ name }), CALL_TIMEOUT_MS, `GET crd ${name}`).then(
      () => true,
      (err: unknown) => {
        if (statusOf(err) === 404 || statusOf(err) === 403) return false;
        throw err;
      },
    );
  const [sandbox, claims] = await Promise.all([has(SANDBOX_API.crd), has(SANDBOX_API.claimsCrd)]);
  return { sandbox, claims };
}

/**
 * Runs `argv` in container `agent` of a Pod over a one-shot exec stream (no stdin, no tty) and
 * resolves with its stdout; rejects with an ExecFailure carrying its stderr when it exits non-zero,
 * writes more than `maxBuffer`, or takes longer than `timeoutMs` (the stream is closed then).
 * `input`: written to its stdin, which is then left open (the command must not wait for its end).
 */
/** A stdin holding `text` that never ends (see {@link execInPod}). */
function openInput(text: string): PassThrough {
  const stream = new PassThrough();
  stream.write(text);
  return stream;
}

export async function execInPod(
  kc: KubeConfig,
  where: { namespace: string; pod: string },
  argv: string[],
  limits: { maxBuffer: number; timeoutMs: number; input?: string },
): Promise<string> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  let socket: { close(): void } | undefined;
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const settle = (error: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.close();
      const stderr = Buffer.concat(err).toString('utf8');
      if (error === undefined) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(new ExecFailure(`${error}${stderr ? `: ${stderr.trim()}` : ''}`, { missing: false, stderr }));
    };
    const sink = (into: Buffer[]) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > limits.maxBuffer) settle(`more than ${limits.maxBuffer} bytes of output`);
          else into.push(chunk);
          done();
        },
      });
    const timer = setTimeout(() => settle(`no end in ${limits.timeoutMs} ms`), limits.timeoutMs);
    new Exec(kc)
      .exec(
        where.namespace,
        where.pod,
        AGENT_CONTAINER,
        argv,
        sink(out),
        sink(err),
        // Written and never ended: the end of stdin would close the whole stream under v4.
        limits.input !== undefined ? openInput(limits.input) : null,
        false,
        (status: V1Status) => {
          // The status comes after the output (channel 3): let the sinks take what is in flight.
          setImmediate(() => settle(status.status === 'Success' ? undefined : (status.message ?? 'failed')));
        },
      )
      .then(
        (ws) => {
          socket = ws;
          ws.on('close', () => setImmediate(() => settle('the exec stream closed without a status')));
        },
        (e: unknown) => settle(reason(e)),
      );
  });
}
