import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** Gemini CLI's own home for an agent's env: GEMINI_CLI_HOME, else `$HOME` (its folder is `.gemini`). */
export function geminiHome(env: Record<string, string>, home: string): string {
  return env.GEMINI_CLI_HOME ?? process.env.GEMINI_CLI_HOME ?? env.HOME ?? home;
}

/**
 * Gemini CLI's settings for one run. It has no per-process settings flag, but it finds its
 * folder through `GEMINI_CLI_HOME` (only its own: the tools it runs keep `$HOME`): baton gives it a
 * per-run home whose `.gemini` holds a link to each entry of the person's own `~/.gemini` (their
 * login, trusted folders, history: shared as ever) but `settings.json`, which is a new file with
 * the person's settings and baton's hooks added to theirs. The person's own settings file is only
 * read. What gemini writes whole (its project list, its settings) stays in the run's folder. Returns the env, or why it cannot be done (their settings are not plain JSON) — then the
 * screen decides.
 */
export function prepareGeminiHooks(
  dir: string,
  cmd: HookCommand,
  env: Record<string, string>,
  home: string,
): { env: Record<string, string> } | { refused: string } {
  const theirs = join(geminiHome(env, home), '.gemini');
  let base: Record<string, unknown> = {};
  const file = join(theirs, 'settings.json');
  if (existsSync(file)) {
    try {
      base = asJson(JSON.parse(readFileSync(file, 'utf8')));
    } catch {
      return { refused: `your Gemini CLI settings (${file}) are not plain JSON (comments?)` };
    }
  }
  const hooks = { ...asJson(base.hooks) } as Record<string, unknown>;
  for (const event of GEMINI_HOOK_EVENTS) {
    const own = {
      matcher: '*',
      hooks: [{ type: 'command', command: hookShellCommand(cmd, event), timeout: 10_000 }],
    };
    const before = hooks[event];
    hooks[event] = [...(Array.isArray(before) ? (before as unknown[]) : []), own];
  }
  const settings = { ...base, hooksConfig: { ...asJson(base.hooksConfig), enabled: true }, hooks };
  const runHome = join(dir, 'gemini-home');
  const folder = join(runHome, '.gemini');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  // Its chats and history live in `tmp` and `history` (a project's folder there is found again by
  // its marker even when the run's copy of the project list is gone): made if gemini has not yet.
  for (const state of ['tmp', 'history']) mkdirSync(join(theirs, state), { recursive: true, mode: 0o700 });
  const names = readdirSync(theirs);
  for (const name of names) if (name !== 'settings.json') symlinkSync(join(theirs, name), join(folder, name));
  writeFileSync(join(folder, 'settings.json'), JSON.stringify(settings, null, 2), {
    flag: 'wx',
    mode: 0o600,
  });
  return { env: { GEMINI_CLI_HOME: runHome } };
}
