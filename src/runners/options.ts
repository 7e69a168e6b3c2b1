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

/** Where an agent's process runs: config `runner` of an agent or a profile. */
export const runnerSchema = z.discriminatedUnion('type', [localRunnerSchema, sshRunnerSchema]);

/** A runner as configured. */
export type RunnerConfig = z.infer<typeof runnerSchema>;
/** An ssh runner as configured. */
export type SshRunnerConfig = z.infer<typeof sshRunnerSchema>;

/** True for a name an environment variable may have. */
export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}
