import { readFileSync } from 'node:fs';

/**
 * The kernel's start time of a process (clock ticks since boot, from /proc), used with the pid to
 * tell a live process from a later one that reused its pid. Undefined when unknown (not Linux, gone).
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22, counted after the command name, which may contain spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** The kernel's state letter of a process (`R`, `S`, `Z` for a zombie...), undefined when unknown. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is alive and, when `start` is known, is the same process that was recorded. A
 * zombie (dead, not yet reaped by its parent) is not alive: it runs nothing and holds no files.
 */
export function isProcessAlive(pid: number, start?: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = processState(pid);
  if (state === 'Z' || state === 'X') return false;
  if (!start) return true;
  const now = processStartTime(pid);
  return now === undefined || now === start;
}

/** Sends `signal` to a whole process group; false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
