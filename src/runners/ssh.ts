import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from '../errors.js';
import { ChildHandle } from '../process/child.js';
import { ExecFailure, execBounded } from '../process/exec.js';
import { envLines, envWords, READ_ENV, type SshRunnerConfig } from './options.js';
import type { Runner, RunnerExec, RunnerSpawn, TerminalLaunch } from './runner.js';

/** `sh -c` on the remote host for a helper program: its folder, then `env NAME=VALUE… program args…`. */
export const REMOTE_EXEC = 'cd -- "$1" || exit 127; shift; exec "$@"';

/**
 * The remote side of an ssh run, run by `sh -c` on the remote host with the run's folder and the
 * agent's argv as its arguments. It first reads the agent's variables from stdin (`NAME=VALUE`
 * lines up to an empty one: values never appear in a remote command line), then starts the agent
 * in its own session (`setsid`) with stdin from a FIFO it feeds from the ssh channel. When the
 * channel's input ends (baton closed it, or the ssh client died with the owner), the agent gets
 * EOF, 2 s to exit, then SIGTERM and after 2 s more SIGKILL to its whole process group: nothing
 * outlives the connection; when the agent exits, the rest of its process group is killed. Needs a POSIX sh, setsid, mktemp, mkfifo (any Linux).
 */
export const REMOTE_WRAPPER = [
  READ_ENV,
  'd=$1; shift',
  'cd -- "$d" || { echo "baton: no folder $d on the remote host" >&2; exit 127; }',
  't=$(mktemp -d) && mkfifo "$t/in" || exit 127',
  'exec 4<&0',
  'setsid "$@" <"$t/in" & p=$!',
  'exec 3>"$t/in"',
  'rm -rf "$t"',
  '(cat <&4 >&3; exec 3>&-; i=0; while kill -0 "$p" && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; kill -TERM -"$p"; sleep 2; kill -KILL -"$p") >/dev/null 2>&1 & w=$!',
  'exec 3>&- 4<&-',
  // The agent has exited: the rest of its group goes too (as for a local agent).
  'wait "$p"; s=$?; kill -KILL -"$p" 2>/dev/null',
  'kill "$w" 2>/dev/null',
  'exit "$s"',
].join('; ');

/**
 * Makes a 0600 file on the other side holding the `NAME=VALUE` lines of stdin up to an empty one
 * ({@link envLines}; stdin's end is not needed) and prints its path: a terminal run's variables,
 * which cannot go through its terminal.
 */
export const REMOTE_ENV_FILE =
  'umask 077 && f=$(mktemp) && while IFS= read -r l && [ -n "$l" ]; do printf "%s\\n" "$l"; done >"$f" && ' +
  // Removed after 2 minutes should the terminal never start to read it (a failed connection).
  `{ setsid sh -c 'sleep 120; rm -f -- "$0"' "$f" </dev/null >/dev/null 2>&1 & } && echo "$f"`;

/**
 * The remote side of a terminal run over ssh (`ssh -tt`: the remote program has a terminal there),
 * run by `sh -c` with the env file, the run's folder and the program's argv as its arguments. It
 * exports the variables of the env file ({@link envLines}, written beforehand over the shared
 * connection) and removes it, then becomes the program: the terminal's foreground process, so
 * typed keys and C-c reach it. A watcher in its own session ends the program's whole process group
 * (SIGTERM, then SIGKILL after 2 s) once the ssh session's process is gone (the connection closed:
 * the terminal here was killed, or its ssh client died) — a program that ignores the terminal's
 * hang-up is stopped all the same — and when the program has exited, whatever it left in its group.
 */
export const REMOTE_TERMINAL_WRAPPER = [
  'f=$1; d=$2; shift 2',
  `${READ_ENV} <"$f"`,
  'rm -f -- "$f"',
  'cd -- "$d" || { echo "baton: no folder $d on the remote host" >&2; exit 127; }',
  // This shell's process group (the login shell's: the terminal's foreground group), from /proc or ps.
  'g=$(cut -d")" -f2 </proc/$$/stat 2>/dev/null | cut -d" " -f4); [ -n "$g" ] || g=$(ps -o pgid= -p $$ | tr -d " ")',
  // Only a real group (a number above 1): never `kill -- -1`, never a word.
  'case $g in ""|*[!0-9]*|0|1) echo "baton: no process group to watch" >&2; exit 127;; esac',
  // No watcher where the parent is outside this process namespace (a Kubernetes exec: $PPID is 0;
  // there the sandbox's deletion or suspension ends the program's group).
  `case $PPID in 0|1) ;; *) setsid sh -c 'while kill -0 "$0" && kill -0 -"$1"; do sleep 1; done; kill -TERM -"$1"; sleep 2; kill -KILL -"$1"' "$PPID" "$g" </dev/null >/dev/null 2>&1 & ;; esac`,
  'exec "$@"',
]
  // One line (a csh login shell cannot take a quoted newline): `;` between commands, none after `&`.
  .map((part, i, all) => (i === all.length - 1 ? part : part.endsWith('&') ? `${part} ` : `${part}; `))
  .join('');

/** One word for a POSIX shell: single-quoted, a quote inside written `'\''`. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A remote command line: every word single-quoted for the remote shell. */
function remoteLine(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/** A value for an ssh `-o` option, quoted for ssh's own word splitting. */
function sshValue(value: string): string {
  if (/["\n]/.test(value)) {
    throw new BatonError(
      'INVALID_CONFIG',
      `ssh runner: the path ${JSON.stringify(value)} may not hold a quote or a newline`,
    );
  }
  return `"${value}"`;
}

/**
 * Runs agents on another host through the system `ssh` client: key login only (BatchMode), the
 * host's key checked (StrictHostKeyChecking=yes, `known_hosts`), one multiplexed connection per
 * host (ControlMaster, its socket in baton's private state folder), the run's folder mapped by
 * `remote_cwd`, only the agent's configured variables passed, the remote process tree reaped when
 * the connection closes ({@link REMOTE_WRAPPER}).
 */
export class SshRunner implements Runner {
  readonly type = 'ssh';
  readonly local = false;
  readonly sharesFolder = false;
  readonly #config: SshRunnerConfig;
  readonly #socketDir: string;

  constructor(config: SshRunnerConfig, stateDir: string) {
    this.#config = config;
    this.#socketDir = join(stateDir, 'ssh');
  }

  /**
   * ssh's options for this host, before the destination. `terminal`: a terminal session (`-tt`) on
   * a connection of its own, not the shared one: it lives as long as its terminal run, which may
   * outlive this process (the next owner takes the run over) and must not end with the shared
   * connection, nor end it.
   */
  options(terminal = false): string[] {
    const c = this.#config;
    const shared = [
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${sshValue(join(this.#socketDir, this.#connectionName()).replace(/%/g, '%%'))}`,
      '-o',
      `ControlPersist=${c.control_persist ?? 60}`,
    ];
    return [
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      ...(c.known_hosts ? ['-o', `UserKnownHostsFile=${sshValue(c.known_hosts)}`] : []),
      '-o',
      'IdentitiesOnly=yes',
      '-i',
      c.identity_file,
      '-p',
      String(c.port ?? 22),
      '-l',
      c.user,
      ...(terminal ? ['-o', 'ControlMaster=no', '-o', 'ControlPath=none'] : shared),
      '-o',
      `ConnectTimeout=${c.connect_timeout ?? 10}`,
      '-o',
      'ServerAliveInterval=15',
      // Whatever the user's ssh config says: no agent, X11 or port forwarding to the agent's host.
      '-a',
      '-x',
      '-o',
      'ClearAllForwardings=yes',
      '-o',
      'PermitLocalCommand=no',
      terminal ? '-tt' : '-T',
      // Errors still shown, not "Connection to … closed." at the end of the program's screen.
      ...(terminal ? ['-o', 'LogLevel=ERROR'] : []),
      // No escape character: a "~." the program prints or a person types must not end the connection.
      '-e',
      'none',
    ];
  }

  /**
   * The shared connection's socket name: one per login, key and known_hosts (ssh's own %C would
   * let a runner with another key, or none that works, reuse a connection this key opened).
   */
  #connectionName(): string {
    const c = this.#config;
    const id = JSON.stringify([c.host, c.port ?? 22, c.user, c.identity_file, c.known_hosts ?? null]);
    return createHash('sha256').update(id).digest('hex').slice(0, 24);
  }

  get where(): string {
    return `${this.#config.user}@${this.#config.host}`;
  }

  /**
   * A helper program (git) on the remote host over the shared connection: one ssh session, every
   * word single-quoted for the remote shell, only `opts.env` added to the login's environment,
   * stdout bounded (`maxBuffer`, default 16 MiB) and time bounded (`timeoutMs`, default 60 s: the
   * local ssh client is killed, which ends the session).
   */
  readonly exec: RunnerExec = async (command, args, opts) => {
    const vars = envWords(opts.env, 'over ssh');
    const words = ['sh', '-c', REMOTE_EXEC, 'baton-exec', opts.cwd, 'env', ...vars, command, ...args];
    mkdirSync(this.#socketDir, { recursive: true, mode: 0o700 });
    return execBounded('ssh', this.#sshArgs(words), {
      cwd: this.#socketDir,
      env: process.env,
      ...(opts.maxBuffer ? { maxBuffer: opts.maxBuffer } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
  };

  agentCwd(localCwd: string): string {
    let best: [string, string] | undefined;
    for (const [from, to] of Object.entries(this.#config.remote_cwd)) {
      const prefix = from.replace(/\/+$/, '') || '/';
      const under = localCwd === prefix || localCwd.startsWith(prefix === '/' ? '/' : `${prefix}/`);
      if (under && (!best || prefix.length > best[0].length)) best = [prefix, to.replace(/\/+$/, '') || '/'];
    }
    if (!best) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `${localCwd} has no folder on ${this.#config.host}: add its local folder to the runner's remote_cwd`,
      );
    }
    const rest = localCwd.slice(best[0].length).replace(/^\/+/, '');
    return rest ? `${best[1] === '/' ? '' : best[1]}/${rest}` : best[1];
  }

  /** The remote command line of an agent: the wrapper, its folder, its argv, each word quoted. */
  remoteCommand(spawn: Pick<RunnerSpawn, 'command' | 'args' | 'cwd'>): string {
    return remoteLine(['sh', '-c', REMOTE_WRAPPER, 'baton-runner', spawn.cwd, spawn.command, ...spawn.args]);
  }

  /** ssh's arguments for one remote command (`words`, each quoted for the remote shell). */
  #sshArgs(words: readonly string[], terminal = false): string[] {
    return [...this.options(terminal), '--', this.#config.host, remoteLine(words)];
  }

  async start(spawn: RunnerSpawn): Promise<ChildHandle> {
    const vars = envLines(spawn.env, 'over ssh');
    mkdirSync(this.#socketDir, { recursive: true, mode: 0o700 });
    const child = await ChildHandle.start({
      command: 'ssh',
      args: [...this.options(), '--', this.#config.host, this.remoteCommand(spawn)],
      cwd: this.#socketDir,
      env: process.env,
      ...(spawn.onStderr ? { onStderr: spawn.onStderr } : {}),
    });
    child.stdin.on('error', () => undefined);
    child.stdin.write(vars);
    return child;
  }

  /**
   * A terminal run's program on the remote host: its variables go first to a file there (0600,
   * `mktemp`, over the shared connection: never in a command line), which the remote side reads
   * and removes ({@link REMOTE_TERMINAL_WRAPPER}); the terminal here runs `ssh -tt` on a
   * connection of its own.
   */
  async terminal(spawn: Omit<RunnerSpawn, 'onStderr'>): Promise<TerminalLaunch> {
    const vars = envLines(spawn.env, 'over ssh');
    mkdirSync(this.#socketDir, { recursive: true, mode: 0o700 });
    const made = await execBounded('ssh', this.#sshArgs(['sh', '-c', REMOTE_ENV_FILE]), {
      cwd: this.#socketDir,
      env: process.env,
      input: vars,
      timeoutMs: 30_000,
    }).catch((err: unknown) => {
      const text = err instanceof ExecFailure ? err.stderr || err.message : String(err);
      throw new BatonError(
        'AGENT_ERROR',
        `ssh runner: ${this.where} did not take the agent's variables: ${text.trim().split('\n').pop() ?? ''} (baton doctor checks the runner)`,
      );
    });
    const file = made.trim();
    if (!/^\/[^\n'"]+$/.test(file)) {
      throw new BatonError('AGENT_ERROR', `ssh runner: ${this.where} made no file for the agent's variables`);
    }
    const words = [
      'sh',
      '-c',
      REMOTE_TERMINAL_WRAPPER,
      'baton-terminal',
      file,
      spawn.cwd,
      spawn.command,
      ...spawn.args,
    ];
    return {
      command: 'ssh',
      args: this.#sshArgs(words, true),
      abandon: () =>
        this.exec('rm', ['-f', '--', file], { cwd: '/' }).then(
          () => undefined,
          () => undefined,
        ),
    };
  }

  async check(): Promise<{ problem: string; fix: string } | undefined> {
    const c = this.#config;
    const where = `${c.user}@${c.host}:${c.port ?? 22}`;
    mkdirSync(this.#socketDir, { recursive: true, mode: 0o700 });
    try {
      const out = await execBounded(
        'ssh',
        [
          ...this.options(),
          '--',
          c.host,
          'command -v setsid >/dev/null && command -v mkfifo >/dev/null && echo baton-ok',
        ],
        { timeoutMs: ((c.connect_timeout ?? 10) + 5) * 1000 },
      );
      if (out.includes('baton-ok')) return undefined;
      return {
        problem: `${where} lacks setsid or mkfifo (baton's remote wrapper needs them)`,
        fix: `install util-linux and coreutils on ${c.host}`,
      };
    } catch (err) {
      const text = err instanceof ExecFailure ? err.stderr || err.message : String(err);
      if (err instanceof ExecFailure && err.missing)
        return {
          problem: 'ssh is not installed',
          fix: 'install the OpenSSH client (apt-get install openssh-client)',
        };
      if (
        /host key verification failed|no .* host key is known|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(
          text,
        )
      )
        return {
          problem: `${where}: its host key is not in ${c.known_hosts ?? '~/.ssh/known_hosts'} (or changed)`,
          fix: `check the host's fingerprint, then: ssh-keyscan -p ${c.port ?? 22} ${c.host} >> ${c.known_hosts ?? '~/.ssh/known_hosts'}`,
        };
      if (/permission denied/i.test(text))
        return {
          problem: `${where} refused the key ${c.identity_file}`,
          fix: `add ${c.identity_file}.pub to ~${c.user}/.ssh/authorized_keys on ${c.host}`,
        };
      if (/no such file|not accessible|bad permissions/i.test(text) && text.includes(c.identity_file))
        return {
          problem: `the key ${c.identity_file} cannot be read (${text.trim().split('\n').pop()})`,
          fix: `create it (ssh-keygen -t ed25519 -f ${c.identity_file}) or fix identity_file; it must be mode 0600`,
        };
      return {
        problem: `${where} is not reachable: ${text.trim().split('\n').pop() ?? ''}`,
        fix: `check that sshd runs on ${c.host} port ${c.port ?? 22} and that this machine can reach it`,
      };
    }
  }

  /** Stops the shared connection (baton is stopping); sessions over it have ended by then. */
  async close(): Promise<void> {
    await execBounded('ssh', [...this.options(), '-O', 'exit', '--', this.#config.host], {
      timeoutMs: 5000,
    }).catch(() => undefined);
  }
}
