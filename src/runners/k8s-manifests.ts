import type { KubernetesRunnerConfig } from './options.js';

/** The agent-sandbox API (kubernetes-sigs/agent-sandbox): its groups, version and plurals. */
export const SANDBOX_API = {
  group: 'agents.x-k8s.io',
  extensionsGroup: 'extensions.agents.x-k8s.io',
  version: 'v1alpha1',
  sandboxes: 'sandboxes',
  claims: 'sandboxclaims',
  /** The CRD whose presence says the API is installed. */
  crd: 'sandboxes.agents.x-k8s.io',
  claimsCrd: 'sandboxclaims.extensions.agents.x-k8s.io',
} as const;

/** The container the agent is exec'd in. */
export const AGENT_CONTAINER = 'agent';
/** Labels on everything baton creates: found again by `kubectl get pods -l app.kubernetes.io/managed-by=baton`. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'baton' } as const;

/**
 * What the sandbox's main container runs until the agent is exec'd into it: nothing but a sleep
 * that ends on SIGTERM (the sandbox is deleted when the agent's process ends).
 */
export const IDLE_COMMAND = ['sh', '-c', "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"];

/**
 * The annotation naming the bridge that holds a session's sandbox (resumed it last): a suspend
 * tests it first, so a bridge or reaper of an earlier agent process never suspends the sandbox
 * under the session's next one.
 */
export const HOLDER_ANNOTATION = 'baton.dev/holder';

/** What one sandbox is made for: its name and where its work tree comes from. */
export type SandboxPlan = {
  /** Its object name (and its Pod's): baton-<random>, or a session's own, a valid DNS label. */
  name: string;
  /**
   * A session's sandbox (a `Sandbox`), kept across the session's agent processes: suspended
   * (replicas 0) between them and resumed with its work tree, which is then on a volume claimed
   * from `volumeClaimTemplates` (unless `volume` names one); `holder` is the bridge holding it.
   */
  session?: { holder: string };
  /** The run's base commit (40 hex digits) to check out, with `git_url`; absent with a volume. */
  commit?: string;
  /** When it shuts down at the latest (max_lifetime from now). */
  now: Date;
};

/** A Kubernetes object as sent to the API server. */
export type Manifest = Record<string, unknown>;

const workDir = (c: KubernetesRunnerConfig) => c.work_dir ?? '/workspace';
/** The agent's home in the sandbox (`HOME`, unless its env says otherwise). */
export const homeDir = (c: KubernetesRunnerConfig) => c.home ?? '/home/baton';
const lifetime = (c: KubernetesRunnerConfig) => c.max_lifetime ?? 86_400;

/**
 * The init containers' scripts (`sh -c`, the folder, URL and commit their arguments: nothing of
 * them is interpolated). Each does nothing when its work is there already: a resumed session
 * sandbox's new Pod finds the clone on its volume, with the agent's changes in it.
 */
export const CLONE_SCRIPT = '[ -d "$1/.git" ] || exec git clone --quiet --no-checkout -- "$2" "$1"';
export const CHECKOUT_SCRIPT =
  '[ -e "$1/.git/baton-base" ] || { git -C "$1" checkout --quiet --detach "$2" && echo "$2" > "$1/.git/baton-base"; }';

/**
 * The Pod spec the agent runs in: one long-lived container from `image` with the work tree at
 * `work_dir`, from a PersistentVolumeClaim (`volume`), a session sandbox's claimed volume, or an
 * emptyDir, filled by two init containers (`git clone`, then a detached checkout of the base
 * commit, each skipped when done). No service account token unless `service_account` is named; no
 * privilege escalation, every capability dropped; restartPolicy Never; activeDeadlineSeconds
 * bounds an orphan's life.
 */
export function podSpec(c: KubernetesRunnerConfig, plan: SandboxPlan): Manifest {
  const dir = workDir(c);
  // A claimed volume's root may hold lost+found (ext4): the work tree is a folder in it.
  const claimed = Boolean(plan.session) && !c.volume;
  const mount = [{ name: 'work', mountPath: dir, ...(claimed ? { subPath: 'tree' } : {}) }];
  const mounts = [...mount, { name: 'home', mountPath: homeDir(c) }];
  const hardened = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  const clone =
    !c.volume && c.git_url && plan.commit
      ? [
          {
            name: 'clone',
            image: c.image,
            command: ['sh', '-c', CLONE_SCRIPT, 'baton-clone', dir, c.git_url],
            volumeMounts: mount,
            securityContext: hardened,
          },
          {
            name: 'checkout',
            image: c.image,
            command: ['sh', '-c', CHECKOUT_SCRIPT, 'baton-checkout', dir, plan.commit],
            volumeMounts: mount,
            securityContext: hardened,
          },
        ]
      : [];
  const limits = {
    ...(c.resources?.cpu ? { cpu: c.resources.cpu } : {}),
    ...(c.resources?.memory ? { memory: c.resources.memory } : {}),
  };
  return {
    restartPolicy: 'Never',
    activeDeadlineSeconds: lifetime(c),
    automountServiceAccountToken: Boolean(c.service_account),
    ...(c.service_account ? { serviceAccountName: c.service_account } : {}),
    ...(clone.length ? { initContainers: clone } : {}),
    containers: [
      {
        name: AGENT_CONTAINER,
        image: c.image,
        command: IDLE_COMMAND,
        workingDir: dir,
        volumeMounts: mounts,
        securityContext: hardened,
        ...(Object.keys(limits).length ? { resources: { limits, requests: limits } } : {}),
      },
    ],
    // A session sandbox's own volumes are added to its Pod by the controller (from volumeClaimTemplates).
    volumes: [
      ...(c.volume
        ? [{ name: 'work', persistentVolumeClaim: { claimName: c.volume } }]
        : plan.session
          ? []
          : [{ name: 'work', emptyDir: {} }]),
      ...(plan.session ? [] : [{ name: 'home', emptyDir: {} }]),
    ],
  };
}

function metadata(c: KubernetesRunnerConfig, plan: SandboxPlan): Manifest {
  return {
    name: plan.name,
    namespace: c.namespace ?? 'default',
    labels: { ...MANAGED_BY },
    ...(plan.session ? { annotations: { [HOLDER_ANNOTATION]: plan.session.holder } } : {}),
  };
}

/** A bare Pod (the cluster has no agent-sandbox API). */
export function podManifest(c: KubernetesRunnerConfig, plan: SandboxPlan): Manifest {
  return { apiVersion: 'v1', kind: 'Pod', metadata: metadata(c, plan), spec: podSpec(c, plan) };
}

/** When a sandbox made (or resumed) at `now` is deleted at the latest: `max_lifetime` later. */
export const shutdownTime = (c: KubernetesRunnerConfig, now: Date) =>
  new Date(now.getTime() + lifetime(c) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * An agent-sandbox `Sandbox` (agents.x-k8s.io/v1alpha1): one Pod of {@link podSpec}, deleted by
 * its controller at `shutdownTime` (shutdownPolicy Delete) should baton not delete it first. A
 * session's sandbox claims the volumes of its work tree (`work_size`, unless `volume` names one) and
 * of the agent's home (1Gi), `storage_class`: the controller keeps them while the sandbox is
 * suspended and deletes them with the sandbox.
 */
export function sandboxManifest(c: KubernetesRunnerConfig, plan: SandboxPlan): Manifest {
  const claim = (name: string, size: string) => ({
    metadata: { name, labels: { ...MANAGED_BY } },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(c.storage_class ? { storageClassName: c.storage_class } : {}),
    },
  });
  const claims = plan.session
    ? [...(c.volume ? [] : [claim('work', c.work_size ?? '10Gi')]), claim('home', '1Gi')]
    : [];
  return {
    apiVersion: `${SANDBOX_API.group}/${SANDBOX_API.version}`,
    kind: 'Sandbox',
    metadata: metadata(c, plan),
    spec: {
      podTemplate: { metadata: { labels: { ...MANAGED_BY } }, spec: podSpec(c, plan) },
      replicas: 1,
      shutdownPolicy: 'Delete',
      shutdownTime: shutdownTime(c, plan.now),
      ...(claims.length ? { volumeClaimTemplates: claims } : {}),
    },
  };
}

/** A `SandboxClaim` (extensions.agents.x-k8s.io/v1alpha1) of the configured SandboxTemplate. */
export function claimManifest(c: KubernetesRunnerConfig & { template: string }, plan: SandboxPlan): Manifest {
  return {
    apiVersion: `${SANDBOX_API.extensionsGroup}/${SANDBOX_API.version}`,
    kind: 'SandboxClaim',
    metadata: metadata(c, plan),
    spec: {
      sandboxTemplateRef: { name: c.template },
      lifecycle: { shutdownPolicy: 'Delete', shutdownTime: shutdownTime(c, plan.now) },
    },
  };
}
