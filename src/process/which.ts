import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

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
 * Runs a short command (such as `--version`) and returns its first output line, or undefined when
 * it fails or takes longer than `timeoutMs`. The child is killed on timeout.
 */
export function readVersion(command: string, args: string[], timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) return resolve(undefined);
        const line = `${stdout}\n${stderr}`
          .split('\n')
          .map((l) => l.trim())
          .find((l) => l.length > 0);
        resolve(line?.slice(0, 200));
      },
    );
  });
}
