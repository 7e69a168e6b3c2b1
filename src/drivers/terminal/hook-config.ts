import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ChildHandle } from '../../process/child.js';
import { asJson, JsonLinePeer } from '../codex/peer.js';
import { hookShellCommand, type HookCommand } from './hooks.js';

/** Codex's hook events baton listens to (the same names and payloads as Claude Code's). */
export const CODEX_HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'PreToolUse',
  'PermissionRequest',
  'PostToolUse',
  'Stop',
] as const;

/** Gemini CLI's hook events baton listens to. */
export const GEMINI_HOOK_EVENTS = [
  'SessionStart',
  'BeforeAgent',
  'BeforeTool',
  'AfterTool',
  'Notification',
  'AfterAgent',
] as const;

/** Codex's config dir for an agent's env: CODEX_HOME, else `$HOME/.codex`. */
export function codexHome(env: Record<string, string>, home: string): string {
  return env.CODEX_HOME ?? process.env.CODEX_HOME ?? join(env.HOME ?? home, '.codex');
}

/** Codex's `-c` overrides that add baton's hooks for this process only (session flags). */
export function codexHookOverrides(cmd: HookCommand): string[] {
  return CODEX_HOOK_EVENTS.flatMap((event) => [
    '-c',
    `hooks.${event}=[{hooks=[{type="command",command=${JSON.stringify(hookShellCommand(cmd, event))},timeout=5}]}]`,
  ]);
}

/** Trust overrides already worked out, per codex command and hook definitions. */
const trusted = new Map<string, Promise<string[] | undefined>>();

/**
 * The `-c hooks.state={…}` override that trusts exactly baton's own session-flag hooks for one
 * codex process. Codex runs a hook only once its definition's hash is trusted; the hash is codex's
 * to compute, so it is asked: `codex app-server` with the same overrides lists each hook with its
 * key and `currentHash` (`hooks/list`). Only hooks from the session flags whose command is one of
 * baton's are trusted, nothing of the person's own. Undefined when codex could not say (then the
 * program runs without baton's hooks, and the screen decides).
 */
export function codexHookTrust(
  command: string,
  env: Record<string, string>,
  cwd: string,
  cmd: HookCommand,
): Promise<string[] | undefined> {
  const overrides = codexHookOverrides(cmd);
  const key = JSON.stringify([command, overrides]);
  let found = trusted.get(key);
  if (!found) {
    found = askCodexHashes(command, env, cwd, cmd, overrides).catch(() => undefined);
    // A failure is not kept: the next run asks again.
    void found.then((v) => v === undefined && trusted.delete(key));
    trusted.set(key, found);
  }
  return found;
}

async function askCodexHashes(
  command: string,
  env: Record<string, string>,
  cwd: string,
  cmd: HookCommand,
  overrides: string[],
): Promise<string[] | undefined> {
  const ours = new Set(CODEX_HOOK_EVENTS.map((e) => hookShellCommand(cmd, e)));
  const child = await ChildHandle.start({
    command,
    args: ['app-server', ...overrides],
    cwd,
    env: { ...process.env, ...env },
  });
  const timer = setTimeout(() => void child.stop(), 20_000);
  try {
    const peer = new JsonLinePeer(child.stdout, child.stdin, 16 * 1024 * 1024, {
      onRequest: () => Promise.reject(new Error('not served')),
      onNotification: () => undefined,
      onDropped: () => undefined,
    });
    void child.exited.then(() => peer.close(new Error('codex app-server exited')));
    await peer.request('initialize', { clientInfo: { name: 'baton', version: '0' } });
    peer.notify('initialized');
    const listed = asJson(await peer.request('hooks/list', { cwds: [cwd] }));
    const state: string[] = [];
    for (const entry of Array.isArray(listed.data) ? listed.data : []) {
      for (const h of Array.isArray(asJson(entry).hooks) ? (asJson(entry).hooks as unknown[]) : []) {
        const hook = asJson(h);
        if (hook.source !== 'sessionFlags' || typeof hook.command !== 'string' || !ours.has(hook.command))
          continue;
        if (typeof hook.key !== 'string' || typeof hook.currentHash !== 'string') continue;
        state.push(`${JSON.stringify(hook.key)}={trusted_hash=${JSON.stringify(hook.currentHash)}}`);
      }
    }
    if (state.length !== CODEX_HOOK_EVENTS.length) return undefined;
    return ['-c', `hooks.state={${state.join(',')}}`];
  } finally {
    clearTimeout(timer);
    await child.stop();
  }
}

/** Where Gemini CLI reads the machine's system settings (and, beside them, its system defaults). */
function geminiSystemPaths(env: Record<string, string>): { settings: string; defaults: string } {
  const settings =
    env.GEMINI_CLI_SYSTEM_SETTINGS_PATH ??
    process.env.GEMINI_CLI_SYSTEM_SETTINGS_PATH ??
    (process.platform === 'darwin'
      ? '/Library/Application Support/GeminiCli/settings.json'
      : '/etc/gemini-cli/settings.json');
  const defaults =
    env.GEMINI_CLI_SYSTEM_DEFAULTS_PATH ??
    process.env.GEMINI_CLI_SYSTEM_DEFAULTS_PATH ??
    join(dirname(settings), 'system-defaults.json');
  return { settings, defaults };
}

/**
 * Why Gemini CLI would skip a system settings file at `file` (it reads one only when the file and
 * every folder above it are root's and writable by no one else), or undefined when it would read it.
 */
export function geminiRefuses(file: string): string | undefined {
  if (process.getuid?.() !== 0) {
    return 'Gemini CLI reads a system settings file only when root owns it: baton runs as another user';
  }
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const st = statSync(dir);
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
      return `Gemini CLI ignores a system settings file below ${dir} (not root's, or writable by group or others)`;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Writes Gemini CLI's settings for one run: the machine's own system settings with baton's hooks
 * added to theirs, as the system settings file this process reads instead
 * (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`; the system defaults stay where they were). Returns the env,
 * or the reason it cannot be used (Gemini CLI would skip the file; the machine's file is
 * unreadable) — then the screen decides.
 */
export function prepareGeminiHooks(
  dir: string,
  cmd: HookCommand,
  env: Record<string, string>,
): { env: Record<string, string> } | { refused: string } {
  const file = join(dir, 'gemini-system-settings.json');
  const refused = geminiRefuses(file);
  if (refused) return { refused };
  const paths = geminiSystemPaths(env);
  let base: Record<string, unknown> = {};
  if (existsSync(paths.settings)) {
    try {
      base = asJson(JSON.parse(readFileSync(paths.settings, 'utf8')));
    } catch {
      return { refused: `the machine's Gemini CLI system settings (${paths.settings}) are not plain JSON` };
    }
  }
  const hooks = { ...asJson(base.hooks) } as Record<string, unknown>;
  for (const event of GEMINI_HOOK_EVENTS) {
    const own = {
      matcher: '*',
      hooks: [{ type: 'command', command: hookShellCommand(cmd, event), timeout: 10_000 }],
    };
    const theirs = hooks[event];
    hooks[event] = [...(Array.isArray(theirs) ? (theirs as unknown[]) : []), own];
  }
  const settings = { ...base, hooksConfig: { ...asJson(base.hooksConfig), enabled: true }, hooks };
  writeFileSync(file, JSON.stringify(settings, null, 2), { flag: 'wx', mode: 0o600 });
  return {
    env: { GEMINI_CLI_SYSTEM_SETTINGS_PATH: file, GEMINI_CLI_SYSTEM_DEFAULTS_PATH: paths.defaults },
  };
}
