import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmuxSocketName } from '../paths.js';
import { BatonError } from '../errors.js';
import { TERMINAL_KEYS } from '../engine/types.js';
import type { ChildEnd } from '../process/child.js';
import { processStartTime, signalGroup } from '../process/identity.js';
import type {
  AdoptOptions,
  AgentSession,
  Driver,
  OpenOptions,
  PermissionAsk,
  TerminalControl,
  TerminalOptions,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from './driver.js';

/** How often the screen is read. */
const POLL_MS = 150;
/** A screen unchanged this long is "stable": a prompt on it means the program waits for input. */
const DEFAULT_IDLE_MS = 800;
/** How long after a paste Enter is pressed (a TUI may take an Enter right after a paste as a newline). */
const DEFAULT_ENTER_DELAY_MS = 60;
/** Screen snapshots are recorded at most this often. */
const SNAPSHOT_MS = 1000;

/** A yes/no question on the last line: `Continue? [y/N]`, `(y/n)`, `[yes/no]`. */
const CONFIRM = /(\[|\()\s*(y(?:es)?\s*\/\s*n(?:o)?)\s*(\]|\))\s*[:?]?\s*$/i;
/** Aider-style lettered choices on the last line: `Create new file? (Y)es/(N)o/(D)on't ask again [Yes]: `. */
const LETTERED = /^(.*?)\s*\(Y\)es\/\(N\)o((?:\/\([A-Z]\)[^/[]+)*)\s*\[[^\]]*\]:\s*$/;
const LETTER_KINDS: Record<string, 'allow_once' | 'allow_always' | 'reject_once' | 'reject_always'> = {
  y: 'allow_once',
  n: 'reject_once',
  a: 'allow_always',
  s: 'reject_always',
  d: 'reject_always',
};

/**
 * A question with lettered choices (as aider asks): the question and the choices, answered by
 * typing the letter; undefined when the line is not one.
 */
export function detectLettered(line: string): Menu | undefined {
  const m = LETTERED.exec(line.trim());
  if (!m) return undefined;
  const options = [...`(Y)es/(N)o${m[2] ?? ''}`.matchAll(/\(([A-Z])\)([^/[]*)/g)].map((c) => ({
    key: (c[1] ?? '').toLowerCase(),
    name: `${c[1]}${(c[2] ?? '').trim()}`,
  }));
  return { question: (m[1] ?? '').trim() || line.trim(), options };
}

/** A password prompt on the last line: `Password:`, `[sudo] password for me:`, `Enter passphrase for key …:`. */
const PASSWORD_PROMPT = /(password|passphrase|passcode|\bpin\b)[^\n]*[:?]\s*$/i;

/** Shell-like prompts at the end of the cursor line: `>>> `, `$ `, `# `, `> `, `❯ `, `% `, `In [3]: `. */
const PROMPT = /(^|\s)(>>>|\.\.\.|\$|#|>|❯|›|%|In \[\d+\]:)\s*$/;

/** Runs a tmux command on baton's own server; resolves with its stdout, rejects on failure. */
function tmuxRun(socket: string, conf: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'tmux',
      ['-L', socket, '-f', conf, ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          reject(
            new BatonError(
              missing ? 'AGENT_NOT_INSTALLED' : 'AGENT_ERROR',
              missing
                ? 'tmux is not installed; install it (apt-get install tmux, brew install tmux)'
                : `tmux ${args[0]}: ${stderr.trim() || err.message}`,
            ),
          );
        } else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The tmux socket name of a baton home: one tmux server per `$BATON_HOME`, never the user's. */
export function tmuxSocket(home: string): string {
  return tmuxSocketName(home);
}

/** One line of a numbered choice menu: `❯ 1. Yes`, `  2) No`, `● 1. Allow once`. */
const MENU_LINE = /^\s*(?:[❯›>▸●]\s*)?([1-9])[.)]\s+(\S.*?)\s*$/;

/** A line without the box drawn around it (`│ … │`, as Gemini CLI frames its dialogs). */
function unboxed(line: string): string {
  return line.replace(/^\s*(?:[│┃]\s?)+/, '').replace(/(?:\s*[│┃])+\s*$/, '');
}

/** A question with numbered choices, as agent TUIs show their permission prompts. */
export type Menu = { question: string; options: { key: string; name: string }[] };

/**
 * The last numbered menu on a screen with a question (a line ending in `?`) at most 12 lines above
 * it: `Do you want to create hello.txt?` / `❯ 1. Yes` / `2. Yes, and …` / `3. No`.
 */
export function detectMenu(screen: string): Menu | undefined {
  const lines = screen.split('\n').map(unboxed);
  for (let end = lines.length - 1; end >= 0; end--) {
    if (!MENU_LINE.test(lines[end] ?? '')) continue;
    let start = end;
    while (start > 0 && MENU_LINE.test(lines[start - 1] ?? '')) start--;
    const block = lines.slice(start, end + 1).map((l) => MENU_LINE.exec(l) as RegExpExecArray);
    // Choices numbered 1, 2, 3... in order.
    if (block.length < 2 || block.some((m, i) => m[1] !== String(i + 1))) {
      end = start;
      continue;
    }
    for (let q = start - 1; q >= Math.max(0, start - 12); q--) {
      const line = (lines[q] ?? '').trim();
      if (line.endsWith('?')) {
        return {
          question: line,
          options: block.map((m) => ({ key: m[1] ?? '', name: (m[2] ?? '').slice(0, 120) })),
        };
      }
    }
    return undefined;
  }
  return undefined;
}

/**
 * The permission kind of a menu choice, from its words; undefined for a choice that is neither
 * (Gemini CLI's "Modify with external editor" opens a dialog): it is not offered.
 */
export function choiceKind(name: string): 'allow_once' | 'allow_always' | 'reject_once' | undefined {
  if (/^(no|deny|reject|cancel|abort|don't)\b/i.test(name)) return 'reject_once';
  if (/external editor|^modify\b|^edit\b/i.test(name)) return undefined;
  if (/^(yes|allow|approve|accept|proceed|ok|continue|run)\b/i.test(name)) {
    return /always|don't ask|do not ask|for this session|auto-approve|all\b/i.test(name)
      ? 'allow_always'
      : 'allow_once';
  }
  return 'reject_once';
}

/** Strips ANSI escape sequences (for patterns on the raw screen). */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]/g, '');
}

/** The last non-empty lines of a screen. */
function tailLines(screen: string, n: number): string[] {
  const lines = screen.replace(/\s+$/, '').split('\n');
  return lines.slice(-n);
}

/**
 * One program in a tmux session on baton's tmux server. The run's turn lasts until the program
 * exits; meanwhile the screen decides the status: `running` while it changes, `waiting` for input
 * when it is stable at a prompt, a permission request at a yes/no question.
 */
class TerminalSession implements AgentSession {
  readonly agentSessionId: string;
  readonly pid: number;
  readonly pidStart: string | undefined;
  readonly capabilities = { load: false, resume: false };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly terminal: TerminalControl;
  readonly #tmux: (args: string[], input?: string) => Promise<string>;
  readonly #opts: TerminalOptions;
  #resolveExit!: (v: { end: ChildEnd; stderrTail: string }) => void;
  #closed = false;
  #dead: { code: number | null } | undefined;
  #lastScreen = '';
  #lastChange = Date.now();
  #typed: ((what: Record<string, unknown>) => void) | undefined;

  readonly #exitFile: string;
  /** Adopted after its program exited and another process took its pid: its group is not signalled. */
  readonly #pidReused: boolean;

  constructor(
    name: string,
    pid: number,
    tmux: (args: string[], input?: string) => Promise<string>,
    opts: TerminalOptions,
    exitFile: string,
    adopted?: { pidStart: string | undefined; pidReused: boolean },
  ) {
    this.#exitFile = exitFile;
    this.agentSessionId = name;
    this.pid = pid;
    this.pidStart = adopted ? adopted.pidStart : processStartTime(pid);
    this.#pidReused = adopted?.pidReused ?? false;
    this.#tmux = tmux;
    this.#opts = opts;
    this.exited = new Promise((r) => (this.#resolveExit = r));
    this.terminal = {
      read: (lines, raw) => this.#read(lines, raw),
      send: (input) => this.#send(input),
    };
  }

  /**
   * The program's exit status, written by the wrapper it runs under: a number once the program
   * has exited (the wrapper then holds the terminal open until the file is removed), null when
   * it was killed by a signal, undefined while it runs.
   */
  #exitStatus(): number | null | undefined {
    let text: string;
    try {
      text = readFileSync(this.#exitFile, 'utf8');
    } catch {
      return undefined;
    }
    // Written but not yet flushed: next poll.
    if (!text.endsWith('\n')) return undefined;
    return /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
  }

  /** The screen (visible part plus `lines` of history when asked), plain or with ANSI kept. */
  async #read(lines: number, raw: boolean): Promise<string> {
    const out = await this.#tmux([
      'capture-pane',
      '-p',
      '-J',
      ...(raw ? ['-e'] : []),
      '-S',
      `-${Math.max(0, lines - this.#opts.height)}`,
      '-t',
      this.agentSessionId,
    ]);
    return tailLines(out, lines).join('\n');
  }

  /** Types text (a paste buffer, bracketed when the program asked for it) and named keys. */
  async #send(input: { text?: string; keys?: string[]; enter?: boolean }): Promise<{ delivered: string }> {
    if (this.#closed || this.#dead) throw new BatonError('RUN_FINISHED', 'the program has exited');
    const target = this.agentSessionId;
    const before = await this.#screen();
    if (input.text) {
      const buf = `baton-${randomBytes(4).toString('hex')}`;
      await this.#tmux(['load-buffer', '-b', buf, '-'], input.text);
      // tmux 3.3a's server crashes on a paste into a dead pane (every session on it is lost):
      // look right before pasting, not only at the last poll.
      if ((await this.#probe()).dead) {
        await this.#tmux(['delete-buffer', '-b', buf]).catch(() => undefined);
        throw new BatonError('RUN_FINISHED', 'the program has exited');
      }
      await this.#tmux(['paste-buffer', '-p', '-d', '-b', buf, '-t', target]);
    }
    for (const key of input.keys ?? []) await this.#tmux(['send-keys', '-t', target, key]);
    if (input.enter) {
      // Give the program a moment to take the paste, then Enter; if the screen did not move,
      // Enter again once (a TUI that was still redrawing may have dropped it).
      await sleep(input.text ? (this.#opts.enterDelayMs ?? DEFAULT_ENTER_DELAY_MS) : 0);
      await this.#tmux(['send-keys', '-t', target, 'Enter']);
      const changed = await this.#waitChange(before, 1500);
      if (!changed && !this.#dead) await this.#tmux(['send-keys', '-t', target, 'Enter']);
    }
    // What is typed at a password prompt (not echoed, so not on any screen) is not recorded.
    const secret = input.text && PASSWORD_PROMPT.test(tailLines(before, 1)[0] ?? '');
    const delivered = [
      secret
        ? `<${input.text?.length} characters typed at a password prompt, not recorded>`
        : (input.text ?? ''),
      ...(input.keys ?? []).map((k) => `<${k}>`),
      input.enter ? '<Enter>' : '',
    ]
      .filter(Boolean)
      .join('');
    this.#typed?.({ input: delivered });
    return { delivered };
  }

  async #waitChange(before: string, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await sleep(50);
      const now = await this.#screen().catch(() => before);
      if (now !== before) return true;
    }
    return false;
  }

  /** The visible screen, plain text. */
  async #screen(): Promise<string> {
    return this.#tmux(['capture-pane', '-p', '-J', '-t', this.agentSessionId]);
  }

  /** Whether the program has exited (`remain-on-exit` keeps the pane to read its status). */
  async #probe(): Promise<{ dead: boolean; screen: string }> {
    const out = await this.#tmux([
      'display-message',
      '-p',
      '-t',
      this.agentSessionId,
      '#{pane_dead}',
      ';',
      'capture-pane',
      '-p',
      '-J',
      '-t',
      this.agentSessionId,
    ]);
    const nl = out.indexOf('\n');
    return { dead: out.slice(0, nl).trim() === '1', screen: out.slice(nl + 1) };
  }

  async prompt(text: string, sink: TurnSink, _options?: TurnOptions): Promise<TurnOutcome> {
    this.#typed = (what) => sink.emit({ type: 'terminal', data: { kind: 'input', ...what } });
    const idleMs = this.#opts.idleMs ?? DEFAULT_IDLE_MS;
    const ready = this.#opts.readyPattern ? new RegExp(this.#opts.readyPattern, 'm') : undefined;
    const idle = this.#opts.idlePattern ? new RegExp(this.#opts.idlePattern, 'm') : PROMPT;
    let delivered = !text.trim();
    let lastSnapshot = 0;
    let snapshotted = '';
    let waiting: 'input' | 'confirm' | undefined;
    let asked: string | undefined;
    const abort = new AbortController();
    try {
      for (;;) {
        if (this.#closed) throw new BatonError('AGENT_EXITED', 'the terminal session was closed');
        const p = await this.#probe().catch((err: unknown) => {
          if (this.#closed) return { dead: true, code: null, screen: this.#lastScreen };
          throw err;
        });
        const now = Date.now();
        if (p.screen !== this.#lastScreen) {
          this.#lastScreen = p.screen;
          this.#lastChange = now;
          if (waiting === 'input') sink.setInputWaiting?.(undefined);
          if (waiting) waiting = undefined;
        }
        const status = this.#exitStatus();
        if (p.dead || status !== undefined) {
          const code = status ?? null;
          this.#dead = { code };
          // The end of the output (history included: tmux may scroll it off the visible screen
          // when the pane dies), without tmux's "Pane is dead" line.
          // A program that prints and exits at once may be seen dead a moment before tmux has drawn
          // its last output (seen in the suite, more often on a loaded machine): read again for up
          // to a second while the screen is empty.
          let kept = '';
          for (let i = 0; i < 20 && !kept; i++) {
            if (i > 0) await sleep(50);
            const all = await this.#tmux([
              'capture-pane',
              '-p',
              '-J',
              '-S',
              '-200',
              '-t',
              this.agentSessionId,
            ]);
            kept = all
              .split('\n')
              .filter((l) => !/^Pane is dead \(/.test(l))
              .join('\n')
              .replace(/\s+$/, '');
          }
          // Read: the wrapper may let the terminal close now.
          rmSync(this.#exitFile, { force: true });
          sink.emit({
            type: 'terminal',
            data: { kind: 'screen', screen: tailLines(kept, this.#opts.height).join('\n'), final: true },
          });
          const tail = tailLines(plain(kept), 20).join('\n').trim();
          if (tail) sink.emit({ type: 'message_chunk', text: tail });
          return { stop_reason: code === null ? 'exited' : `exit ${code}` };
        }
        if (p.screen !== snapshotted && now - lastSnapshot >= SNAPSHOT_MS) {
          snapshotted = p.screen;
          lastSnapshot = now;
          sink.emit({ type: 'terminal', data: { kind: 'screen', screen: p.screen.replace(/\s+$/, '') } });
        }
        const stable = now - this.#lastChange >= idleMs;
        const screen = plain(p.screen);
        if (!delivered) {
          if ((ready ? ready.test(screen) : true) && stable) {
            delivered = true;
            await this.#send({ text, enter: true });
          }
        } else if (stable && !waiting) {
          const last = tailLines(screen, 1)[0] ?? '';
          const menu = detectMenu(screen);
          const lettered = menu ? undefined : detectLettered(last);
          if (menu && asked !== screen) {
            asked = screen;
            waiting = 'confirm';
            void this.#choose(menu, sink, abort.signal);
          } else if (lettered && asked !== screen) {
            asked = screen;
            waiting = 'confirm';
            void this.#confirmLettered(lettered, sink, abort.signal);
          } else if (CONFIRM.test(last) && asked !== screen) {
            asked = screen;
            waiting = 'confirm';
            const yesNo = [
              { key: 'y', name: 'Yes' },
              { key: 'n', name: 'No' },
            ];
            void this.#confirmLettered({ question: last.trim(), options: yesNo }, sink, abort.signal);
          } else if (idle.test(this.#opts.idlePattern ? screen : last)) {
            waiting = 'input';
            sink.setInputWaiting?.({ prompt: last.trim() });
          }
        }
        await sleep(POLL_MS);
      }
    } finally {
      abort.abort();
      this.#typed = undefined;
    }
  }

  /**
   * Lettered choices (aider's, or a `[y/N]` question as y and n) become a permission request;
   * the answer types the letter and Enter.
   */
  async #confirmLettered(menu: Menu, sink: TurnSink, signal: AbortSignal): Promise<void> {
    const ask: PermissionAsk = {
      title: menu.question,
      tool_call: { kind: 'terminal', title: menu.question },
      options: menu.options.flatMap((o) => {
        const kind = LETTER_KINDS[o.key];
        return kind ? [{ option_id: o.key, name: `${o.name} (types ${o.key})`, kind }] : [];
      }),
    };
    const answer = await sink.requestPermission(ask, signal);
    if (answer.outcome !== 'selected' || this.#closed || this.#dead) return;
    await this.#send({ text: answer.option_id, enter: true }).catch(() => undefined);
  }

  /** A numbered menu becomes a permission request; the answer types the choice's number. */
  async #choose(menu: Menu, sink: TurnSink, signal: AbortSignal): Promise<void> {
    const ask: PermissionAsk = {
      title: menu.question,
      tool_call: { kind: 'terminal', title: menu.question },
      options: menu.options.flatMap((o) => {
        const kind = choiceKind(o.name);
        return kind ? [{ option_id: o.key, name: o.name, kind }] : [];
      }),
    };
    const answer = await sink.requestPermission(ask, signal);
    if (answer.outcome !== 'selected' || this.#closed || this.#dead) return;
    // Menus take the number at once; one that wants Enter too gets it when the screen stays put.
    const before = await this.#screen().catch(() => '');
    await this.#send({ keys: [answer.option_id] }).catch(() => undefined);
    if (!(await this.#waitChange(before, 1000)) && !this.#dead) {
      await this.#send({ enter: true }).catch(() => undefined);
    }
  }

  /** The turn of a session adopted from a dead owner: the screen is watched again, nothing typed. */
  continueTurn(sink: TurnSink): Promise<TurnOutcome> {
    return this.prompt('', sink);
  }

  /** The exit keys (then C-c) — the gentle rung of the cancel ladder. */
  async cancel(): Promise<void> {
    if (this.#closed || this.#dead) return;
    for (const key of this.#opts.exitKeys ?? []) {
      if (TERMINAL_KEYS.includes(key as (typeof TERMINAL_KEYS)[number])) {
        await this.#tmux(['send-keys', '-t', this.agentSessionId, key]).catch(() => undefined);
      } else await this.#send({ text: key, enter: true }).catch(() => undefined);
    }
    if ((this.#opts.exitKeys ?? []).length > 0) await sleep(500);
    if (!this.#dead) await this.#tmux(['send-keys', '-t', this.agentSessionId, 'C-c']).catch(() => undefined);
  }

  /** Kills the tmux session and the program's process group. */
  async close(graceMs = 2000): Promise<ChildEnd> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#tmux(['kill-session', '-t', this.agentSessionId]).catch(() => undefined);
      // tmux sends SIGHUP; a program that ignores it is stopped with its group.
      if (!this.#pidReused) {
        signalGroup(this.pid, 'SIGTERM');
        await sleep(Math.min(graceMs, 200));
        signalGroup(this.pid, 'SIGKILL');
      }
      rmSync(this.#exitFile, { force: true });
      // The env file, if the wrapper never got to read it.
      rmSync(this.#exitFile.replace(/\.exit$/, '.env'), { force: true });
      this.#resolveExit({ end: { code: this.#dead?.code ?? null, signal: null }, stderrTail: '' });
    }
    return (await this.exited).end;
  }
}

/**
 * A terminal program that exited while no baton owner ran, whose tmux session is gone as well (its
 * server was stopped): only the exit status its wrapper wrote is known, not its last screen.
 */
class EndedTerminalSession implements AgentSession {
  readonly agentSessionId: string;
  readonly pid: number;
  readonly pidStart: string | undefined;
  readonly capabilities = { load: false, resume: false };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly terminal: TerminalControl = {
    read: () => Promise.resolve(''),
    send: () => Promise.reject(new BatonError('RUN_FINISHED', 'the program has exited')),
  };
  readonly #code: number;
  readonly #exitFile: string;

  constructor(name: string, o: AdoptOptions, code: number, exitFile: string) {
    this.agentSessionId = name;
    this.pid = o.pid;
    this.pidStart = o.pidStart;
    this.#code = code;
    this.#exitFile = exitFile;
    this.exited = Promise.resolve({ end: { code, signal: null }, stderrTail: '' });
  }

  prompt(_text: string, sink: TurnSink): Promise<TurnOutcome> {
    return this.continueTurn(sink);
  }

  continueTurn(sink: TurnSink): Promise<TurnOutcome> {
    rmSync(this.#exitFile, { force: true });
    sink.emit({
      type: 'message_chunk',
      text: `The program exited with status ${this.#code} while no baton owner was running, and its terminal is gone: its last screen is unknown.`,
    });
    return Promise.resolve({ stop_reason: `exit ${this.#code}` });
  }

  cancel(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<ChildEnd> {
    rmSync(this.#exitFile, { force: true });
    return Promise.resolve({ code: this.#code, signal: null });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Writes `env` as `export NAME='value'` lines to a new file only its owner can read (never an
 * existing file or a symlink). Throws INVALID_CONFIG for a name a shell cannot export.
 */
function writeEnvFile(file: string, env: Record<string, string>): void {
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

/** The terminal driver: any interactive program as a run, inside tmux. */
export class TerminalDriver implements Driver {
  readonly name = 'terminal';
  readonly nativeStructuredOutput = false;
  readonly policyInProcess = false;
  readonly #socket: string;
  readonly #conf: string;
  readonly #exitDir: string;

  constructor(home: string) {
    this.#socket = tmuxSocket(home);
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

  /** The socket name (`tmux -L <name>`) of baton's tmux server. */
  get socket(): string {
    return this.#socket;
  }

  async open(o: OpenOptions): Promise<AgentSession> {
    const t = o.terminal ?? { width: 200, height: 50 };
    const tmux = (args: string[], input?: string) => tmuxRun(this.#socket, this.#conf, args, input);
    const name = `b_${randomBytes(6).toString('hex')}`;
    const exitFile = join(this.#exitDir, `${name}.exit`);
    // The agent's env (API keys...) goes through a 0600 file the wrapper sources and removes, not
    // `new-session -e K=V`: tmux's argv is world-readable (ps), the server's for its whole life.
    const envFile = join(this.#exitDir, `${name}.env`);
    writeEnvFile(envFile, o.agent.env);
    try {
      await this.#newSession(tmux, name, t, o, envFile, exitFile);
    } catch (err) {
      rmSync(envFile, { force: true });
      throw err;
    }
    const pid = Number((await tmux(['display-message', '-p', '-t', name, '#{pane_pid}'])).trim());
    if (!Number.isInteger(pid) || pid <= 0) {
      await tmux(['kill-session', '-t', name]).catch(() => undefined);
      rmSync(envFile, { force: true });
      throw new BatonError('AGENT_ERROR', `tmux started no program for ${o.agent.name}`);
    }
    return new TerminalSession(name, pid, tmux, t, exitFile);
  }

  /**
   * Takes over the tmux session a dead owner left: it must exist on baton's tmux server with the
   * recorded program (pane pid, and its start time while it runs). A program that has exited is
   * taken too (`remain-on-exit` keeps its pane and screen): the turn then ends at once with its
   * status. When the session is gone, the status the wrapper wrote (if any) is all there is.
   */
  async adopt(o: AdoptOptions): Promise<AgentSession | undefined> {
    const name = o.agentSessionId;
    if (!/^b_[0-9a-f]{12}$/.test(name)) return undefined;
    const t = o.terminal ?? { width: 200, height: 50 };
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
    return new TerminalSession(name, o.pid, tmux, t, exitFile, { pidStart: o.pidStart, pidReused });
  }

  async #newSession(
    tmux: (args: string[], input?: string) => Promise<string>,
    name: string,
    t: { width: number; height: number },
    o: OpenOptions,
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
      o.cwd,
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
      o.agent.command,
      ...o.agent.args,
    ]);
  }
}
