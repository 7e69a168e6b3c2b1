import { execFile, execFileSync, spawnSync } from 'node:child_process';

/** Why a program run by {@link execBounded} failed: it is missing, or it exited badly (with its stderr). */
export class ExecFailure extends Error {
  /** The program could not be started because it is not installed (ENOENT). */
  readonly missing: boolean;
  readonly stderr: string;

  constructor(message: string, opts: { missing: boolean; stderr: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ExecFailure';
    this.missing = opts.missing;
    this.stderr = opts.stderr;
  }
}

/** Options of {@link execBounded}: bounded output and time, an explicit environment, no shell. */
export type ExecOptions = {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Largest stdout (and stderr) kept; more fails the run. Default 16 MiB. */
  maxBuffer?: number;
  /** Killed (SIGTERM) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Written to its stdin, which is then closed. */
  input?: string;
};

/**
 * Runs a short-lived helper program (git, tmux) without a shell, with bounded output and time:
 * resolves with its stdout; rejects with an {@link ExecFailure} (`missing` when not installed).
 * The only asynchronous `execFile` of baton outside the agent process code.
 */
export function execBounded(
  command: string,
  args: readonly string[],
  opts: ExecOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 60_000,
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new ExecFailure((stderr || err.message).trim(), { missing, stderr, cause: err }));
      },
    );
    // A program that exits before reading its input: the write fails with EPIPE, not the run.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Runs a helper program synchronously (quick checks such as `git rev-parse`): its stdout, or
 * undefined when it could not run or exited non-zero. Bounded in time (default 10 s).
 */
export function execQuiet(
  command: string,
  args: readonly string[],
  opts: ExecOptions = {},
): string | undefined {
  try {
    return execFileSync(command, args, {
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: opts.timeoutMs ?? 10_000,
      maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024,
    });
  } catch {
    return undefined;
  }
}

/**
 * Runs a program on this process's own terminal (stdin, stdout and stderr inherited) until it
 * exits: `baton attach` handing the terminal to tmux. Resolves with its exit status.
 */
export function runOnTerminal(
  command: string,
  args: readonly string[],
): { status: number | null; error?: Error } {
  const r = spawnSync(command, args, { stdio: 'inherit' });
  return { status: r.status, ...(r.error ? { error: r.error } : {}) };
}
