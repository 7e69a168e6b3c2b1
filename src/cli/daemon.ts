import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveHome } from '../config.js';
import { OwnerClient, logTail, sameVersion, startDaemon, versionMismatchMessage } from '../owner/client.js';
import { daemonLogPath, type DaemonStatus } from '../owner/protocol.js';
import { formatDuration } from '../duration.js';
import { BatonError } from '../errors.js';
import { isProcessAlive } from '../process/identity.js';
import { bold, dim, err, out } from './print.js';

/** `baton daemon status` exits with this when no daemon runs (as `systemctl status` does). */
const EXIT_NOT_RUNNING = 3;

type Fail = (e: unknown, json: boolean) => never;

/** A control connection to the running owner (any version), or undefined when none runs. */
async function openControl(home: string): Promise<OwnerClient | undefined> {
  const control = new OwnerClient(home, { kind: 'cli', mode: 'control' }, { start: false });
  return (await control.connect()) ? control : undefined;
}

function printStatus(s: DaemonStatus, stale: boolean): void {
  const who = s.role === 'standalone' ? 'a standalone baton mcp' : 'baton daemon';
  out(`${bold(who)} ${s.version} running (pid ${s.pid}), up ${formatDuration(s.uptime_ms)}`);
  out(`  socket       ${s.socket}`);
  out(`  log          ${s.log}`);
  out(`  clients      ${s.clients}`);
  out(`  active runs  ${s.active_runs}`);
  out(
    `  idle stop    ${s.idle_stop_ms > 0 ? `after ${formatDuration(s.idle_stop_ms)} with no runs and no clients` : 'never'}`,
  );
  if (stale)
    out(dim('  (another version than this baton: `baton daemon stop` replaces it on the next call)'));
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isProcessAlive(pid);
}

/** Registers `baton daemon start|run|status|stop|logs`. */
export function registerDaemonCommands(program: Command, fail: Fail): void {
  const daemon = program
    .command('daemon')
    .description(
      'the background baton that owns runs for every MCP host (`baton mcp` starts it when needed)',
    );

  daemon
    .command('status')
    .description('whether the daemon runs, its pid, version, clients and active runs (exit 3: not running)')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      try {
        const control = await openControl(resolveHome());
        if (!control?.welcome) {
          if (opts.json) out(JSON.stringify({ running: false }));
          else out('baton daemon is not running');
          process.exit(EXIT_NOT_RUNNING);
        }
        const welcome = control.welcome;
        const s = await control.call<DaemonStatus>('owner.status');
        control.close();
        if (opts.json) out(JSON.stringify({ running: true, same_version: sameVersion(welcome), ...s }));
        else printStatus(s, !sameVersion(welcome));
        process.exit(0);
      } catch (e) {
        fail(e, Boolean(opts.json));
      }
    });

  daemon
    .command('start')
    .description('start the daemon in the background (no-op when it runs)')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      try {
        const home = resolveHome();
        let control = await openControl(home);
        const already = control !== undefined;
        if (!control) {
          (await startDaemon(home, { mode: 'control' })).socket.destroy();
          control = await openControl(home);
        }
        const welcome = control?.welcome;
        if (!control || !welcome)
          throw new BatonError('DAEMON_UNAVAILABLE', 'the baton daemon did not come up');
        const s = await control.call<DaemonStatus>('owner.status');
        control.close();
        if (opts.json) out(JSON.stringify({ started: !already, ...s }));
        else {
          out(`baton daemon ${s.version} ${already ? 'already running' : 'started'} (pid ${s.pid})`);
          if (!sameVersion(welcome)) err(versionMismatchMessage(welcome));
        }
        process.exit(0);
      } catch (e) {
        fail(e, Boolean(opts.json));
      }
    });

  daemon
    .command('stop')
    .description('stop the daemon (refused while runs are active, unless --force)')
    .option(
      '--force',
      'stop even with active runs: they are cancelled first (follow_up continues their sessions)',
    )
    .option('--json', 'JSON output')
    .action(async (opts: { force?: boolean; json?: boolean }) => {
      try {
        const control = await openControl(resolveHome());
        if (!control?.welcome) {
          if (opts.json) out(JSON.stringify({ running: false, stopped: false }));
          else out('baton daemon is not running');
          process.exit(0);
        }
        const pid = control.welcome.pid;
        const r = await control.call<{ cancelled_runs?: string[]; interrupted_runs?: number }>('owner.stop', {
          force: Boolean(opts.force),
        });
        control.close();
        if (!(await waitGone(pid, 60_000))) {
          throw new BatonError('TIMED_OUT', `the baton daemon (pid ${pid}) did not stop within 60s`);
        }
        if (opts.json) out(JSON.stringify({ running: false, stopped: true, pid, ...r }));
        else {
          out(
            `baton daemon stopped (pid ${pid})${r.cancelled_runs?.length ? `; ${r.cancelled_runs.length} run(s) cancelled` : r.interrupted_runs ? `; ${r.interrupted_runs} run(s) interrupted` : ''}`,
          );
        }
        process.exit(0);
      } catch (e) {
        fail(e, Boolean(opts.json));
      }
    });

  daemon
    .command('logs')
    .description("the daemon's log ($BATON_HOME/daemon.log)")
    .option('-n, --lines <n>', 'how many of the last lines', '50')
    .option('-f, --follow', 'keep printing what is appended')
    .action(async (opts: { lines: string; follow?: boolean }) => {
      const path = daemonLogPath(resolveHome());
      const n = Number(opts.lines);
      if (!Number.isInteger(n) || n < 0) {
        fail(new BatonError('INVALID_PARAMS', `--lines must be a whole number (got ${opts.lines})`), false);
      }
      const tail = logTail(path, n);
      if (tail) out(tail);
      else if (!opts.follow) err(dim(`no daemon log yet (${path})`));
      if (!opts.follow) process.exit(0);
      let offset = (() => {
        try {
          return statSync(path).size;
        } catch {
          return 0;
        }
      })();
      for (;;) {
        await new Promise((r) => setTimeout(r, 250));
        let size: number;
        try {
          size = statSync(path).size;
        } catch {
          continue;
        }
        if (size < offset) offset = 0; // rotated
        if (size === offset) continue;
        const fd = openSync(path, 'r');
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        closeSync(fd);
        offset = size;
        process.stdout.write(buf);
      }
    });

  daemon
    .command('run')
    .description('run the daemon in the foreground (for a service manager; logs go to stderr)')
    .action(async () => {
      try {
        const { runDaemon } = await import('../owner/daemon.js');
        await runDaemon();
      } catch (e) {
        fail(e, false);
      }
    });
}
