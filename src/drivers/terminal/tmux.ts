import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from '../../errors.js';
import { ExecFailure, execBounded } from '../../process/exec.js';

/** Runs a tmux command on baton's own server; resolves with its stdout, rejects on failure. */
export function tmuxRun(socket: string, conf: string, args: string[], input?: string): Promise<string> {
  return tmuxExec(['-L', socket, '-f', conf], args, input);
}

/**
 * The socket path of the user's default tmux server (what a plain `tmux` uses, `$TMUX` aside):
 * `$TMUX_TMPDIR` (or /tmp), `tmux-<uid>/default`.
 */
export function userTmuxSocket(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${uid}`, 'default');
}

/**
 * Runs a tmux command on the user's own tmux server (`tmux -S <socket>`, never baton's `-L`
 * server and never with baton's settings file: baton does not start or configure that server).
 */
export function tmuxExternal(socket: string, args: string[], input?: string): Promise<string> {
  return tmuxExec(['-S', socket], args, input);
}

function tmuxExec(prefix: string[], args: string[], input?: string): Promise<string> {
  return execBounded('tmux', [...prefix, ...args], {
    timeoutMs: 10_000,
    ...(input !== undefined ? { input } : {}),
  }).catch((err: unknown) => {
    const missing = err instanceof ExecFailure && err.missing;
    throw new BatonError(
      missing ? 'AGENT_NOT_INSTALLED' : 'AGENT_ERROR',
      missing
        ? 'tmux is not installed; install it (apt-get install tmux, brew install tmux)'
        : `tmux ${args[0]}: ${(err as Error).message}`,
    );
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Writes `env` as `export NAME='value'` lines to a new file only its owner can read (never an
 * existing file or a symlink). Throws INVALID_CONFIG for a name a shell cannot export.
 */
export function writeEnvFile(file: string, env: Record<string, string>): void {
  const lines = Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new BatonError(
        'INVALID_CONFIG',
        `env name "${k}" of a terminal agent is not a valid variable name (letters, digits, _)`,
      );
    }
    return `export ${k}='${v.replace(/'/g, `'\\''`)}'\n`;
  });
  writeFileSync(file, lines.join(''), { flag: 'wx', mode: 0o600 });
}
