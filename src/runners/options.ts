import { BatonError } from '../errors.js';
import { z } from 'zod';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const absolute = z.string().regex(/^\//, 'must be an absolute path');

/** The agent runs on this machine (the default). */
const localRunnerSchema = z.strictObject({ type: z.literal('local') });

/**
 * The agent runs on another machine through the system `ssh` client: BatchMode, host keys checked
 * against `known_hosts` (StrictHostKeyChecking=yes), one multiplexed connection per host.
 */
export const sshRunnerSchema = z.strictObject({
  type: z.literal('ssh'),
  /** Host name or address (no options: it may not start with "-"). */
  host: z
    .string()
    .regex(/^[A-Za-z0-9._:[\]-]+$/, 'a host name or address')
    .refine((h) => !h.startsWith('-'), 'may not start with "-"'),
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().regex(/^[a-z_][a-z0-9_.-]*$/i, 'a user name'),
  /** The private key to log in with (absolute path). */
  identity_file: absolute,
  /** The known_hosts file holding the host's key (absolute path; default: ssh's own). */
  known_hosts: absolute.optional(),
  /**
   * Where the run's folder is on the remote host: the longest local prefix that holds the run's
   * cwd is replaced by its remote prefix. A cwd under none of them is refused.
   */
  remote_cwd: z
    .record(absolute, absolute)
    .refine((m) => Object.keys(m).length > 0, 'map at least one local folder'),
  /** Seconds the shared connection stays open after its last session (default 60). */
  control_persist: z.number().int().min(0).max(86_400).optional(),
  /** Seconds to wait for the connection (default 10). */
  connect_timeout: z.number().int().min(1).max(600).optional(),
});

/** A container image reference (no options: it starts with a letter or digit). */
const imageRef = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/, 'an image reference');

/** A Kubernetes object name (RFC 1123 label: what namespaces, service accounts and claims allow). */
const k8sName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes name (lower-case letters, digits and -)');
/** A resource quantity such as 500m, 2, 4Gi. */
const quantity = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a quantity such as 500m or 4Gi');

/**
 * The agent runs in a sandbox on an existing Kubernetes cluster, one per agent process (the warm
 * process of a session): an agent-sandbox `Sandbox` (or a `SandboxClaim` of `template`) when the
 * cluster has those CRDs, else a bare Pod. Its stdio goes through the API's exec stream.
 */
export const kubernetesRunnerSchema = z.strictObject({
  type: z.literal('kubernetes'),
  /** The kubeconfig file (absolute path; default: $KUBECONFIG or ~/.kube/config). */
  kubeconfig: absolute.optional(),
  /** Its context to use (default: its current-context). */
  context: z.string().min(1).max(253).optional(),
  namespace: k8sName.optional(),
  /** The container image holding the agent's CLI, git and a POSIX sh (setsid, mkfifo, mktemp). */
  image: imageRef,
  /** A SandboxTemplate of the cluster: the sandbox is claimed from it (image, resources: the template's). */
  template: k8sName.optional(),
  service_account: k8sName.optional(),
  resources: z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() }).optional(),
  /**
   * Where the work tree comes from: a PersistentVolumeClaim holding the checkout (`volume`), else
   * a git clone (init container) of `git_url` at the run's base commit (its local HEAD).
   */
  volume: k8sName.optional(),
  git_url: z
    .string()
    .max(2048)
    .regex(/^(https:\/\/|ssh:\/\/|git@)[^\s]+$/, 'an https://, ssh:// or git@ URL')
    .optional(),
  /**
   * The size of the volume a session's sandbox claims for its work tree (default 10Gi), kept while
   * the sandbox is suspended between the session's agent processes (without `volume`).
   */
  work_size: quantity.optional(),
  /** The StorageClass of that volume (default: the cluster's default class). */
  storage_class: z
    .string()
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a StorageClass name')
    .optional(),
  /**
   * The agent's home folder in the sandbox (default /home/baton; `HOME` unless the agent's env sets
   * it): a volume of its own, which a session's sandbox keeps with its work tree (the agent's own
   * session files, so it resumes), else an emptyDir.
   */
  home: absolute.optional(),
  /** The work tree's folder in the sandbox (default /workspace): the agent's cwd. */
  work_dir: absolute.optional(),
  /** Seconds to wait for the sandbox to run (default 120). */
  startup_timeout: z.number().int().min(5).max(3600).optional(),
  /** Seconds a sandbox may live at most (its Pod's activeDeadlineSeconds; default 86400). */
  max_lifetime: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .optional(),
});

/** A memory size for podman/docker: 512m, 4g. */
const memorySize = z.string().regex(/^[0-9]+[kmg]?$/i, 'a size such as 512m or 4g');

/**
 * The agent runs in a container on this machine (podman, else docker): one container per agent
 * process (the warm process of a session), the run's folder mounted read-write at the same path,
 * the image's own file system read-only, no capabilities, no network unless `network` says so.
 */
export const containerRunnerSchema = z.strictObject({
  type: z.literal('container'),
  /** The container engine (default: podman when installed, else docker). */
  engine: z.enum(['podman', 'docker']).optional(),
  /** The image holding the agent's CLI and a POSIX sh. */
  image: imageRef,
  /**
   * The container's network: "none" (the default: no network at all), "private" (the engine's
   * default network: out to the internet, not this machine's loopback), "host" (this machine's).
   */
  network: z.enum(['none', 'private', 'host']).optional(),
  /** CPUs it may use (e.g. 1.5). */
  cpus: z.number().positive().max(1024).optional(),
  /** Memory it may use (e.g. 2g). */
  memory: memorySize.optional(),
  /** Processes it may have at once (default 512). */
  pids_limit: z.number().int().min(16).max(1_000_000).optional(),
  /**
   * Who the agent runs as: "self" (the default: baton's own uid and gid, so files it writes in the
   * work tree are the person's; rootless podman maps it with keep-id) or "UID:GID".
   */
  user: z
    .string()
    .regex(/^(self|[0-9]+:[0-9]+)$/, '"self" or UID:GID')
    .optional(),
  /**
   * The agent's home folder in the container (default /home/baton): a folder kept per session on
   * this machine (under baton's state folder), so a follow-up in a new container finds the agent's
   * own session files.
   */
  home: absolute.optional(),
  /** More folders of this machine to mount (read-only unless `writable`), at the same path unless `target`. */
  mounts: z
    .array(
      z.strictObject({
        source: absolute,
        target: absolute.optional(),
        writable: z.boolean().optional(),
      }),
    )
    .max(32)
    .optional(),
});

/** Where an agent's process runs: config `runner` of an agent or a profile. */
export const runnerSchema = z.discriminatedUnion('type', [
  localRunnerSchema,
  sshRunnerSchema,
  containerRunnerSchema,
  kubernetesRunnerSchema,
]);

/** A runner as configured. */
export type RunnerConfig = z.infer<typeof runnerSchema>;
/** An ssh runner as configured. */
export type SshRunnerConfig = z.infer<typeof sshRunnerSchema>;

/** A container runner as configured. */
export type ContainerRunnerConfig = z.infer<typeof containerRunnerSchema>;

/** A Kubernetes runner as configured. */
export type KubernetesRunnerConfig = z.infer<typeof kubernetesRunnerSchema>;

/** A session id as a file or folder name on this machine, checked (never a path). */
export function sessionFileName(session: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(session))
    throw new BatonError('INTERNAL', `not a session id: ${session}`);
  return session;
}

/** True for a name an environment variable may have. */
export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}

/**
 * The agent's variables as `NAME=VALUE` lines (then an empty line) for {@link READ_ENV} on the
 * agent's side: values never appear in a command line there. `where` names that side in the
 * error for a name or value a line cannot carry.
 */
export function envLines(env: Record<string, string>, where: string): string {
  const words = envWords(env, where, 'INVALID_CONFIG');
  return `${words.map((w) => `${w}\n`).join('')}\n`;
}

/**
 * The variables as `NAME=VALUE` words, each checked (a name of letters, digits and _, a value
 * without newlines or NULs); `code` is the error's (a config's variables, or a call's).
 */
export function envWords(
  env: Record<string, string> | undefined,
  where: string,
  code: 'INVALID_CONFIG' | 'INVALID_PARAMS' = 'INVALID_PARAMS',
): string[] {
  return Object.entries(env ?? {}).map(([name, value]) => {
    if (!isEnvName(name) || /[\n\0]/.test(value)) {
      throw new BatonError(
        code,
        `the variable ${JSON.stringify(name)} cannot be passed ${where} (a name of letters, digits and _, a value without newlines)`,
      );
    }
    return `${name}=${value}`;
  });
}

/** sh: exports the `NAME=VALUE` lines of stdin up to an empty one ({@link envLines}). */
export const READ_ENV = 'while IFS= read -r l && [ -n "$l" ]; do export "$l"; done';
