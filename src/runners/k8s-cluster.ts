import { ApiextensionsV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { BatonError } from '../errors.js';
import { SANDBOX_API } from './k8s-manifests.js';
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
