import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';

/** The absolute path of `command` found on `PATH` (or the path itself when absolute), or undefined. */
export function findExecutable(command: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates =
    isAbsolute(command) || command.includes('/')
      ? [command]
      : path.split(delimiter).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Runs a short command (such as `--version`) with stdin closed and returns its first output line,
 * or undefined when it fails, prints nothing, or takes longer than `timeoutMs` (then it is killed).
 */
export function readVersion(command: string, args: string[], timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let out = '';
    let child;
    try {
      // stdin closed: an ACP adapter that ignores --version starts up, sees EOF and exits.
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    } catch {
      resolve(undefined);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(0, 4096)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(0, 4096)));
    child.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = out
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l.length > 0);
      resolve(code === 0 && line ? line.slice(0, 200) : undefined);
    });
  });
}

/**
 * The `name version` of the npm package an executable belongs to (its bin link resolved), or
 * undefined when it is not inside one. For CLIs that print no version.
 */
export function packageVersion(executable: string): string | undefined {
  let dir: string;
  try {
    dir = dirname(realpathSync(executable));
  } catch {
    return undefined;
  }
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name && pkg.version) return `${pkg.name} ${pkg.version}`;
    } catch {
      // not here
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}
