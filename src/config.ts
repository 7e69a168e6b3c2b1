import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { acpAgentSchema } from './drivers/acp/options.js';
import { a2aAgentSchema } from './drivers/a2a/options.js';
import { claudeCodeAgentSchema } from './drivers/claude-code/options.js';
import { codexAgentSchema } from './drivers/codex/options.js';
import { terminalAgentSchema } from './drivers/terminal/options.js';
import { BatonError } from './errors.js';
import { runnerSchema } from './runners/options.js';

/** Drivers baton ships. Agents in the config name one of these. */
export const DRIVER_NAMES = ['acp', 'claude-code', 'codex', 'terminal', 'a2a'] as const;
/** One of {@link DRIVER_NAMES}. */
export type DriverName = (typeof DRIVER_NAMES)[number];

const durationSchema = z.union([z.string(), z.number()]);

/**
 * A configured agent: one schema per driver (each next to its driver), chosen by `driver`. A key
 * of another driver is unknown; a missing `driver` or one baton does not ship is named with the choices.
 */
const agentSchema = z.discriminatedUnion(
  'driver',
  [acpAgentSchema, claudeCodeAgentSchema, codexAgentSchema, terminalAgentSchema, a2aAgentSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `Invalid option: expected one of ${DRIVER_NAMES.map((d) => JSON.stringify(d)).join('|')}`
        : undefined,
  },
);

const worktreesSchema = z.strictObject({
  /** A shell command run in each new work tree before the agent starts (e.g. "npm ci"). */
  setup: z.string().min(1).optional(),
  /** Untracked files to copy into each new work tree (glob patterns, e.g. ".env"). */
  include: z.array(z.string().min(1)).optional(),
});

const profileSchema = z.strictObject({
  agent: z.string().min(1).optional(),
  policy: z.enum(['ask', 'auto_edit', 'allow_all', 'deny_all']).optional(),
  approver: z.enum(['any', 'caller', 'human']).optional(),
  model: z.string().min(1).optional(),
  timeout: durationSchema.optional(),
  isolation: z.enum(['none', 'worktree']).optional(),
  /** Text added to every prompt of the run. */
  instructions: z.string().min(1).optional(),
  /** Permission requests whose tool (title or kind) matches one of these globs are allowed. */
  allow_tools: z.array(z.string().min(1)).optional(),
  /** ... and denied (deny wins over allow). */
  deny_tools: z.array(z.string().min(1)).optional(),
  /** The most agent turns (model round trips) per prompt, where the agent supports a limit (claude-code). */
  max_turns: z.number().int().min(1).max(1000).optional(),
  /** Where the run's agent process runs (overrides the agent's `runner`). */
  runner: runnerSchema.optional(),
  description: z.string().optional(),
});

/** A named preset of spawn_run settings, as written in the config file. */
export type ProfileConfig = z.infer<typeof profileSchema>;

const delegationSchema = z.strictObject({
  /** Offer baton to ACP agents as an MCP server in session/new, so a sub-agent can start runs. */
  offer_to_agents: z.boolean().optional(),
  /** How deep runs started by sub-agents may nest (a top-level run is depth 0). */
  max_depth: z.number().int().min(0).max(20).optional(),
});

const terminalSchema = z.strictObject({
  width: z.number().int().min(20).max(1000).optional(),
  height: z.number().int().min(5).max(500).optional(),
  /** Allow spawn_run's `command` (any program in a terminal). Off: only configured agents run. */
  allow_any_command: z.boolean().optional(),
  /**
   * The user's own tmux sessions (list_terminals, adopt_terminal): off by default. On, a caller
   * can type into a shell the user started, so it is a deliberate choice.
   */
  external: z.boolean().optional(),
  /** The user's tmux server as a socket path (`tmux -S`); default: their default server. */
  external_socket: z.string().min(1).optional(),
});

const wakeSchema = z.strictObject({
  /** What `wake` types or sends as a follow-up when the caller gives no text. */
  text: z.string().min(1).max(10_000).optional(),
});

const approvalsSchema = z.strictObject({
  /** An MCP client's elicitation answer counts as a person's (approver "human"); off by default. */
  elicitation_is_human: z.boolean().optional(),
});

const daemonSchema = z.strictObject({
  /** The daemon stops after this long with no runs and no clients ("0" = never). */
  idle_stop: durationSchema.optional(),
});

/** Events a webhook can ask for. */
export const WEBHOOK_EVENTS = ['waiting', 'finished'] as const;

const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

/** A webhook as written in the config file. */
export type WebhookConfig = z.infer<typeof webhookSchema>;

const fileSchema = z.strictObject({
  roots: z.array(z.string().min(1)).min(1).optional(),
  max_concurrent_runs: z.number().int().min(1).max(1000).optional(),
  default_timeout: durationSchema.optional(),
  permission_timeout: durationSchema.optional(),
  session_idle_timeout: durationSchema.optional(),
  agents: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i), agentSchema).optional(),
  webhooks: z.array(webhookSchema).optional(),
  terminal: terminalSchema.optional(),
  worktrees: worktreesSchema.optional(),
  profiles: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i), profileSchema).optional(),
  /** Per role (spawn_run `role`): the profile a run of that role gets when spawn_run names none. */
  roles: z.record(z.string().min(1).max(64), z.strictObject({ profile: z.string().min(1) })).optional(),
  delegation: delegationSchema.optional(),
  daemon: daemonSchema.optional(),
  approvals: approvalsSchema.optional(),
  wake: wakeSchema.optional(),
});

/** A user-defined agent as written in the config file. */
export type AgentConfig = z.infer<typeof agentSchema>;

/** Resolved configuration: every value present, durations in milliseconds, roots real paths. */
export type Config = {
  home: string;
  configPath: string;
  roots: string[];
  maxConcurrentRuns: number;
  defaultTimeoutMs: number;
  permissionTimeoutMs: number;
  sessionIdleTimeoutMs: number;
  agents: Record<string, AgentConfig>;
  webhooks: WebhookConfig[];
  /** `external`: the user's tmux sessions may be listed and adopted; `externalSocket`: their server (`tmux -S`), undefined for the default. */
  terminal: {
    width: number;
    height: number;
    allowAnyCommand: boolean;
    external: boolean;
    externalSocket?: string;
  };
  /** `text`: wake's default nudge. */
  wake: { text: string };
  worktrees: { setup?: string; include: string[] };
  profiles: Record<string, ProfileConfig>;
  /** Per role: the profile a run of that role gets when spawn_run names none. */
  roles: Record<string, { profile: string }>;
  delegation: { offerToAgents: boolean; maxDepth: number };
  /** `idleStopMs` 0: never stops by itself. */
  daemon: { idleStopMs: number };
  /** `elicitationIsHuman`: MCP elicitation answers count as a person's (approver "human"). */
  approvals: { elicitationIsHuman: boolean };
};

/** `$BATON_HOME`, default `~/.baton`. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.BATON_HOME || join(homedir(), '.baton'));
}

/** baton's own entries directly under `$BATON_HOME` (the work trees' contents are the user's). */
const HOME_DIRS = ['artifacts', 'terminal', 'demo-sessions', 'worktrees', 'hosts'];
const HOME_FILES = [
  'baton.db',
  'baton.db-wal',
  'baton.db-shm',
  'token',
  'tmux.conf',
  'daemon.log',
  'daemon.log.1',
  'daemon.pid',
];
const warnedHomes = new Set<string>();

/**
 * Makes `$BATON_HOME` private to its user, whatever existed before: the folder 0700 (one warning
 * on stderr per process when it was open to others), baton's own folders in it 0700 and files
 * 0600 (symlinks left alone). Throws INVALID_CONFIG when the folder is shared (sticky, like /tmp)
 * or cannot be changed (not yours).
 */
export function secureHome(home: string): void {
  const st = statSync(home);
  if (!st.isDirectory()) {
    throw new BatonError('INVALID_CONFIG', `BATON_HOME ${home} is not a folder`);
  }
  if (st.mode & 0o1000) {
    throw new BatonError(
      'INVALID_CONFIG',
      `BATON_HOME ${home} is a shared folder (sticky bit, like /tmp); use a folder of its own, e.g. ${join(home, 'baton')}`,
    );
  }
  // Another user who made the folder (or put files in it while it was open) could change the
  // config (allow_any_command, agents' commands) or know the owner lock's key.
  const uid = process.getuid?.();
  if (uid !== undefined) {
    for (const name of ['', 'config.json', 'owner.lock', ...HOME_DIRS, ...HOME_FILES]) {
      const owner = name ? lstatSync(join(home, name), { throwIfNoEntry: false })?.uid : st.uid;
      if (owner !== undefined && owner !== uid) {
        throw new BatonError(
          'INVALID_CONFIG',
          `${name ? join(home, name) : `BATON_HOME ${home}`} belongs to another user (uid ${owner}); baton uses only a BATON_HOME and files of your own`,
        );
      }
    }
  }
  try {
    if (st.mode & 0o077) {
      chmodSync(home, 0o700);
      if (!warnedHomes.has(home)) {
        warnedHomes.add(home);
        process.stderr.write(
          `baton: ${home} was open to other users (mode ${(st.mode & 0o777).toString(8)}); made it 0700\n`,
        );
      }
    }
    for (const [names, mode] of [
      [HOME_DIRS, 0o700],
      [HOME_FILES, 0o600],
    ] as const) {
      for (const name of names) {
        const path = join(home, name);
        let entry;
        try {
          entry = lstatSync(path);
        } catch {
          continue;
        }
        if (!entry.isSymbolicLink() && (entry.mode & 0o777) !== mode) chmodSync(path, mode);
      }
    }
  } catch (err) {
    throw new BatonError(
      'INVALID_CONFIG',
      `cannot make BATON_HOME ${home} private (0700): ${(err as Error).message}; it must be a folder you own`,
      { cause: err },
    );
  }
}

/**
 * Loads the config file (`$BATON_CONFIG`, default `$BATON_HOME/config.json`; missing = defaults),
 * creates `$BATON_HOME` (made private: {@link secureHome}), and resolves every value.
 * Throws INVALID_CONFIG naming the key path of the first problems found.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const home = resolveHome(env);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  secureHome(home);
  const configPath = resolve(env.BATON_CONFIG || join(home, 'config.json'));
  let raw: unknown = {};
  if (existsSync(configPath)) {
    try {
      raw = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (err) {
      throw new BatonError('INVALID_CONFIG', `${configPath} is not valid JSON: ${(err as Error).message}`);
    }
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.join('.') || '(root)';
      if (issue.code === 'unrecognized_keys') {
        return `${path === '(root)' ? '' : `${path}.`}${issue.keys.join(', ')}: unknown key`;
      }
      // A check that words its problem as a sentence about the key ("idle_time must be ...").
      const sentence = issue.code === 'custom' && issue.params?.sentence === true;
      return `${path}${sentence ? ' ' : ': '}${issue.message}`;
    });
    throw new BatonError('INVALID_CONFIG', `invalid config ${configPath}: ${problems.join('; ')}`);
  }
  const file = parsed.data;
  const duration = (value: string | number | undefined, key: string, fallback: number): number => {
    if (value === undefined) return fallback;
    try {
      return parseDuration(value, key);
    } catch (err) {
      throw new BatonError('INVALID_CONFIG', `invalid config ${configPath}: ${(err as Error).message}`);
    }
  };
  // A profile's agent is checked against the catalog at spawn time (AGENT_NOT_FOUND names the choices).
  for (const [name, p] of Object.entries(file.profiles ?? {})) {
    if (p.timeout !== undefined) duration(p.timeout, `profiles.${name}.timeout`, 0);
    for (const key of ['allow_tools', 'deny_tools'] as const) {
      for (const glob of p[key] ?? []) {
        if (glob.length > 500) {
          throw new BatonError(
            'INVALID_CONFIG',
            `invalid config ${configPath}: profiles.${name}.${key}: pattern too long`,
          );
        }
      }
    }
  }
  for (const [role, r] of Object.entries(file.roles ?? {})) {
    if (!file.profiles?.[r.profile]) {
      throw new BatonError(
        'INVALID_CONFIG',
        `invalid config ${configPath}: roles.${role}.profile: no profile "${r.profile}" under "profiles"`,
      );
    }
  }
  const roots = (file.roots ?? [homedir()]).map((root) => {
    if (!isAbsolute(root)) {
      throw new BatonError(
        'INVALID_CONFIG',
        `invalid config ${configPath}: roots: "${root}" must be an absolute path`,
      );
    }
    try {
      return realpathSync(root);
    } catch {
      throw new BatonError('INVALID_CONFIG', `invalid config ${configPath}: roots: "${root}" does not exist`);
    }
  });
  return {
    home,
    configPath,
    roots,
    maxConcurrentRuns: file.max_concurrent_runs ?? 8,
    defaultTimeoutMs: duration(file.default_timeout, 'default_timeout', 30 * 60_000),
    permissionTimeoutMs: duration(file.permission_timeout, 'permission_timeout', 30 * 60_000),
    sessionIdleTimeoutMs: duration(file.session_idle_timeout, 'session_idle_timeout', 5 * 60_000),
    agents: file.agents ?? {},
    webhooks: file.webhooks ?? [],
    terminal: {
      width: file.terminal?.width ?? 200,
      height: file.terminal?.height ?? 50,
      allowAnyCommand: file.terminal?.allow_any_command ?? false,
      external: file.terminal?.external ?? false,
      ...(file.terminal?.external_socket ? { externalSocket: file.terminal.external_socket } : {}),
    },
    wake: { text: file.wake?.text ?? 'continue' },
    worktrees: {
      ...(file.worktrees?.setup ? { setup: file.worktrees.setup } : {}),
      include: file.worktrees?.include ?? [],
    },
    profiles: file.profiles ?? {},
    roles: file.roles ?? {},
    delegation: {
      offerToAgents: file.delegation?.offer_to_agents ?? false,
      maxDepth: file.delegation?.max_depth ?? 2,
    },
    daemon: {
      idleStopMs: [0, '0', 'never'].includes(file.daemon?.idle_stop ?? 1)
        ? 0
        : duration(file.daemon?.idle_stop, 'daemon.idle_stop', 15 * 60_000),
    },
    approvals: { elicitationIsHuman: file.approvals?.elicitation_is_human ?? false },
  };
}
