import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from '../../errors.js';
import { processStartTime } from '../../process/identity.js';
import {
  EXTERNAL_PREFIX,
  type AdoptOptions,
  type AgentSession,
  type Driver,
  type ExternalTerminal,
  type OpenOptions,
  tmuxSessionOf,
} from '../driver.js';
import { homedir } from 'node:os';
import { codexHome, codexHookOverrides, codexHookTrust, prepareGeminiHooks } from './hook-config.js';
import {
  AGENT_SESSION_ID,
  claudeConfigDir,
  hookDir,
  prepareHookDir,
  ProgramHooks,
  readHookState,
  removeHookDir,
  writeClaudeSettings,
  type HookCommand,
} from './hooks.js';

import { EndedTerminalSession, TerminalSession } from './session.js';
import { tmuxSocketName } from '../../paths.js';
import { tmuxExternal, tmuxRun, writeEnvFile } from './tmux.js';
import type { TerminalLaunch } from '../../runners/runner.js';

export { userTmuxSocket } from './tmux.js';

/** The window size when the engine passes none (the config's defaults are the same). */
const DEFAULT_SIZE = { width: 200, height: 50 };

/** The agent-side session id of a run on a user's own tmux session (adopt_terminal): `ext:<name>`. */

/** Options of {@link TerminalDriver}: the user's own tmux server, when config `terminal.external` is on. */
export type ExternalTmux = { socket: string };

/** The terminal driver: any interactive program as a run, inside tmux. */
export class TerminalDriver implements Driver {
  readonly name = 'terminal';
  readonly nativeStructuredOutput = false;
  readonly policyInProcess = false;
  readonly #socket: string;
  readonly #conf: string;
  readonly #exitDir: string;
  readonly #external: ExternalTmux | undefined;
  readonly #hookCommand: HookCommand | undefined;

  /**
   * `external`: the user's own tmux server (socket path), whose sessions list_terminals shows and
   * adopt_terminal takes; absent (config `terminal.external` off), none is ever touched.
   * `hookCommand`: how a program's hooks start `baton hook` (without it, no hooks: the screen decides).
   */
  constructor(home: string, external?: ExternalTmux, hookCommand?: HookCommand) {
    this.#socket = tmuxSocketName(home);
    this.#external = external;
    this.#hookCommand = hookCommand;
    this.#exitDir = join(home, 'terminal');
    mkdirSync(this.#exitDir, { recursive: true, mode: 0o700 });
    chmodSync(this.#exitDir, 0o700);
    // The server's settings, read when baton's tmux server starts: panes stay after the program
    // exits (to read its exit status), fixed window size, no status bar.
    mkdirSync(home, { recursive: true, mode: 0o700 });
    this.#conf = join(home, 'tmux.conf');
    writeFileSync(
      this.#conf,
      [
        // (An error in this file makes the server exit: window-size is left alone.)
        'set -g remain-on-exit on',
        'set -g status off',
        'set -g history-limit 20000',
        'set -g default-terminal xterm-256color',
        'set -s escape-time 10',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    chmodSync(this.#conf, 0o600);
  }

  /** The user's live tmux sessions (an empty list when their server is not running). */
  async listExternal(): Promise<ExternalTerminal[]> {
    const ext = this.#requireExternal();
    // The name last: it may hold spaces (tmux prints a tab in -F output as '_').
    const out = await tmuxExternal(ext.socket, [
      'list-sessions',
      '-F',
      '#{session_attached} #{session_windows} #{session_name}',
    ]).catch((err: unknown) => {
      // No server (or no socket): no sessions. tmux missing is still an error.
      if (err instanceof BatonError && err.code === 'AGENT_NOT_INSTALLED') throw err;
      return '';
    });
    return out
      .split('\n')
      .map((l) => /^(\d+) (\d+) (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[3] ?? '', attached: Number(m[1]) > 0, windows: Number(m[2]) }));
  }

  /**
   * Checks that the user's session `name` exists (exact name) and returns where its active pane
   * works (the run's cwd). Throws NOT_FOUND otherwise.
   */
  async describeExternal(name: string): Promise<{ cwd: string }> {
    const ext = this.#requireExternal();
    if (!(await this.listExternal()).some((s) => s.name === name)) {
      throw new BatonError(
        'NOT_FOUND',
        `no tmux session named "${name}" on ${ext.socket} (see list_terminals)`,
      );
    }
    const cwd = (
      await tmuxExternal(ext.socket, ['display-message', '-p', '-t', `=${name}:`, '#{pane_current_path}'])
    ).trim();
    return { cwd: cwd || '/' };
  }

  #requireExternal(): ExternalTmux {
    if (!this.#external) {
      throw new BatonError(
        'FORBIDDEN',
        'external tmux sessions are off; to allow them, set "terminal": { "external": true } in the config',
      );
    }
    return this.#external;
  }

  /** Attaches to the active pane of the user's session `name`: watched and typed into, never killed. */
  async #attachExternal(
    name: string,
    o: { terminal?: { width: number; height: number } },
  ): Promise<AgentSession> {
    const ext = this.#requireExternal();
    const tmux = (args: string[], input?: string) => tmuxExternal(ext.socket, args, input);
    // The pane id (%N) is exact and stable: tmux's -t takes a name as a prefix otherwise.
    const pane = (
      await tmux(['display-message', '-p', '-t', `=${name}:`, '#{pane_id}']).catch(() => '')
    ).trim();
    if (!/^%\d+$/.test(pane)) throw new BatonError('AGENT_EXITED', `the tmux session "${name}" is gone`);
    const t = o.terminal ?? DEFAULT_SIZE;
    // No wrapper, so no exit file (a path that is never written); pid 0: nothing to signal.
    const noExitFile = join(this.#exitDir, `ext-${randomBytes(6).toString('hex')}.exit`);
    return new TerminalSession(
      `${EXTERNAL_PREFIX}${name}`,
      0,
      tmux,
      t,
      noExitFile,
      { pidStart: undefined, pidReused: true },
      { target: pane },
    );
  }

  async open(o: OpenOptions): Promise<AgentSession> {
    if (o.resumeSessionId?.startsWith(EXTERNAL_PREFIX)) {
      return this.#attachExternal(o.resumeSessionId.slice(EXTERNAL_PREFIX.length), o);
    }
    const t = o.terminal ?? DEFAULT_SIZE;
    const tmux = (args: string[], input?: string) => tmuxRun(this.#socket, this.#conf, args, input);
    const name = `b_${randomBytes(6).toString('hex')}`;
    const exitFile = join(this.#exitDir, `${name}.exit`);
    // The agent's env (API keys...) goes through a 0600 file the wrapper sources and removes, not
    // `new-session -e K=V`: tmux's argv is world-readable (ps), the server's for its whole life.
    const envFile = join(this.#exitDir, `${name}.env`);
    const dir = hookDir(this.#exitDir, name);
    let hooked: OpenOptions & { hooks?: ProgramHooks; note?: string };
    try {
      hooked = await this.#withHooks(name, o);
    } catch (err) {
      removeHookDir(dir);
      throw err;
    }
    // An agent elsewhere: the terminal here runs the runner's client (ssh -tt, podman run -it),
    // which takes the agent's variables there its own way; none go to the client.
    const runner = o.agent.runner && !o.agent.runner.local ? o.agent.runner : undefined;
    let far: TerminalLaunch | undefined;
    try {
      if (runner) {
        if (!runner.terminal) {
          throw new BatonError('NOT_SUPPORTED', `terminal programs cannot run on a ${runner.type} runner`);
        }
        far = await runner.terminal({
          command: hooked.agent.command,
          args: hooked.agent.args,
          cwd: o.cwd,
          env: hooked.agent.env,
        });
      }
      writeEnvFile(envFile, far ? {} : hooked.agent.env);
      const program = far ? { command: far.command, args: far.args } : hooked.agent;
      // The pane's folder is here: the agent's (o.cwd) may exist only on the other side.
      await this.#newSession(tmux, name, t, far ? this.#exitDir : o.cwd, program, envFile, exitFile);
    } catch (err) {
      rmSync(envFile, { force: true });
      removeHookDir(dir);
      await far?.abandon();
      throw err;
    }
    const pid = Number(
      (await tmux(['display-message', '-p', '-t', name, '#{pane_pid}']).catch(() => '')).trim(),
    );
    if (!Number.isInteger(pid) || pid <= 0) {
      await tmux(['kill-session', '-t', name]).catch(() => undefined);
      rmSync(envFile, { force: true });
      removeHookDir(dir);
      await far?.abandon();
      throw new BatonError('AGENT_ERROR', `tmux started no program for ${o.agent.name}`);
    }
    const hooks = hooked.hooks ? { state: hooked.hooks, dir } : undefined;
    const session = new TerminalSession(name, pid, tmux, t, exitFile, undefined, undefined, hooks);
    if (hooked.note) session.notes.push(hooked.note);
    return session;
  }

  /**
   * For a program that reports through its own hooks (claude-tui, codex-tui, gemini-tui): its
   * per-run hook configuration and hook env, and the resume of the session it continues when that
   * one had said its id (`claude --resume <id>`, `codex resume <id>`, `gemini --resume <id>`). The person's own settings
   * are never written: Claude's `--settings` file, Codex's `-c` overrides, Gemini's per-run system
   * settings file. When a program's hooks cannot be set up, it runs without them (the screen
   * decides) and the run says why.
   */
  async #withHooks(
    name: string,
    o: OpenOptions,
  ): Promise<OpenOptions & { hooks?: ProgramHooks; note?: string }> {
    const dialect = o.terminal?.hooks;
    const cmd = this.#hookCommand;
    if (!dialect || !cmd) return o;
    const runner = o.agent.runner;
    if (runner && !runner.local) {
      // Its hooks run `baton hook` on this machine's socket, which a program elsewhere cannot reach.
      return this.#unhooked(o, `its hooks cannot reach baton from ${runner.where}`, undefined);
    }
    const prior = o.resumeSessionId?.includes('/')
      ? o.resumeSessionId.slice(o.resumeSessionId.indexOf('/') + 1)
      : undefined;
    const resume = prior && AGENT_SESSION_ID.test(prior) ? prior : undefined;
    const dir = hookDir(this.#exitDir, name);
    const env = o.agent.env;
    const root =
      dialect === 'claude'
        ? claudeConfigDir(env)
        : dialect === 'codex'
          ? join(codexHome(env, homedir()), 'sessions')
          : dir;
    const p = prepareHookDir(dir, name, dialect, root, o.cwd);
    let args = o.agent.args;
    let extraEnv: Record<string, string> = {};
    if (dialect === 'claude') {
      args = [...args, '--settings', writeClaudeSettings(dir, cmd), ...(resume ? ['--resume', resume] : [])];
    } else if (dialect === 'codex') {
      const trust = await codexHookTrust(o.agent.command, env, o.cwd, cmd);
      if (!trust) {
        removeHookDir(dir);
        return this.#unhooked(o, 'codex did not list its hooks (codex app-server hooks/list)', resume);
      }
      args = [...(resume ? ['resume', resume] : []), ...args, ...codexHookOverrides(cmd), ...trust];
    } else {
      const g = prepareGeminiHooks(dir, cmd, env, homedir());
      if ('refused' in g) {
        removeHookDir(dir);
        return this.#unhooked(o, g.refused, undefined);
      }
      extraEnv = g.env;
      if (resume) args = [...args, '--resume', resume];
    }
    return {
      ...o,
      agent: { ...o.agent, args, env: { ...env, ...extraEnv, ...p.env } },
      hooks: new ProgramHooks(name, p.token, { dialect, root, cwd: o.cwd }, resume),
    };
  }

  /** A hooked program started without its hooks (the screen decides), and why, for the run. */
  #unhooked(o: OpenOptions, why: string, resume: string | undefined): OpenOptions & { note: string } {
    const note = `${o.agent.name} runs without its own hooks (the screen decides when a turn ends): ${why}`;
    if (o.terminal?.hooks === 'codex' && resume) {
      return { ...o, agent: { ...o.agent, args: ['resume', resume, ...o.agent.args] }, note };
    }
    return { ...o, note };
  }

  /**
   * Takes over the tmux session a dead owner left: it must exist on baton's tmux server with the
   * recorded program (pane pid, and its start time while it runs). A program that has exited is
   * taken too (`remain-on-exit` keeps its pane and screen): the turn then ends at once with its
   * status. When the session is gone, the status the wrapper wrote (if any) is all there is.
   */
  async adopt(o: AdoptOptions): Promise<AgentSession | undefined> {
    // The user's own session (adopt_terminal): watched again while it lives, by its exact name.
    if (o.agentSessionId.startsWith(EXTERNAL_PREFIX)) {
      if (!this.#external) return undefined;
      return this.#attachExternal(o.agentSessionId.slice(EXTERNAL_PREFIX.length), o).catch(() => undefined);
    }
    const name = tmuxSessionOf(o.agentSessionId);
    if (!/^b_[0-9a-f]{12}$/.test(name)) return undefined;
    const dir = hookDir(this.#exitDir, name);
    const t = o.terminal ?? DEFAULT_SIZE;
    const tmux = (args: string[], input?: string) => tmuxRun(this.#socket, this.#conf, args, input);
    const exitFile = join(this.#exitDir, `${name}.exit`);
    // Every pane of the server, matched by name here (tmux's -t also takes a prefix).
    const panes = await tmux(['list-panes', '-a', '-F', '#{session_name} #{pane_pid} #{pane_dead}']).catch(
      () => '', // no tmux server: no session
    );
    const pane = panes
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[0] === name);
    if (!pane) {
      rmSync(join(this.#exitDir, `${name}.env`), { force: true });
      removeHookDir(dir);
      let status = '';
      try {
        status = readFileSync(exitFile, 'utf8');
      } catch {
        return undefined;
      }
      if (!/^\d+\n$/.test(status)) return undefined;
      return new EndedTerminalSession(name, o, Number(status.trim()), exitFile);
    }
    if (Number(pane[1]) !== o.pid) return undefined;
    const start = processStartTime(o.pid);
    const dead = pane[2] === '1';
    // A live program must be the one recorded; a dead pane's pid may be another process's by now.
    const other = Boolean(o.pidStart) && start !== undefined && start !== o.pidStart;
    if (!dead && other) return undefined;
    const pidReused = dead && other;
    // Its hooks go on reporting to the new owner (the token is in the run's private folder).
    const state = readHookState(dir);
    const prior = o.agentSessionId.includes('/')
      ? o.agentSessionId.slice(o.agentSessionId.indexOf('/') + 1)
      : undefined;
    const hooks = state ? { state: new ProgramHooks(name, state.token, state, prior), dir } : undefined;
    return new TerminalSession(
      name,
      o.pid,
      tmux,
      t,
      exitFile,
      { pidStart: o.pidStart, pidReused },
      undefined,
      hooks,
    );
  }

  async #newSession(
    tmux: (args: string[], input?: string) => Promise<string>,
    name: string,
    t: { width: number; height: number },
    cwd: string,
    program: { command: string; args: readonly string[] },
    envFile: string,
    exitFile: string,
  ): Promise<void> {
    await tmux([
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      String(t.width),
      '-y',
      String(t.height),
      '-c',
      cwd,
      '--',
      // tmux does not always report a dead pane's exit status (seen with 3.3a): a wrapper shell
      // writes it to a file. Not exec'd, so the status is known; C-c reaches both (one group).
      // Then it keeps the terminal open until baton has read the screen and removed the file (5 s
      // at most): a program that prints and exits at once lost its output when the terminal
      // closed before tmux had read it (seen under load).
      // It sources the env file first and removes it (a missing file stops it: fail closed).
      'sh',
      '-c',
      'e=$1; f=$2; shift 2; . "$e" || exit 126; rm -f -- "$e"; "$@"; c=$?; echo "$c" > "$f"; i=0; while [ -e "$f" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; exit "$c"',
      'baton-terminal',
      envFile,
      exitFile,
      program.command,
      ...program.args,
    ]);
  }
}
