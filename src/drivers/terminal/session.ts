import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { BatonError } from '../../errors.js';
import { TERMINAL_KEYS } from '../../engine/types.js';
import type { ChildEnd } from '../../process/child.js';
import { processStartTime, signalGroup } from '../../process/identity.js';
import type {
  AdoptOptions,
  AgentSession,
  HookReceiver,
  PermissionAsk,
  TerminalControl,
  TerminalOptions,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from '../driver.js';

import { removeHookDir, type ProgramHooks } from './hooks.js';
import { sleep } from './tmux.js';
import {
  POLL_MS,
  DEFAULT_IDLE_MS,
  DEFAULT_ENTER_DELAY_MS,
  SNAPSHOT_MS,
  CONFIRM,
  LETTER_KINDS,
  detectLettered,
  PASSWORD_PROMPT,
  PROMPT,
  detectMenu,
  choiceKind,
  plain,
  tailLines,
  type Menu,
} from './screen.js';

/**
 * One program in a tmux session on baton's tmux server. The run's turn lasts until the program
 * exits; meanwhile the screen decides the status: `running` while it changes, `waiting` for input
 * when it is stable at a prompt, a permission request at a yes/no question.
 */
export class TerminalSession implements AgentSession {
  readonly agentSessionId: string;
  readonly pid: number;
  readonly pidStart: string | undefined;
  readonly capabilities = { load: false, resume: false };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly terminal: TerminalControl;
  readonly hooks?: HookReceiver;
  /** The program's own hooks (claude-tui): once one arrived, they decide the status, not the screen. */
  readonly #hooks: ProgramHooks | undefined;
  readonly #hookDir: string | undefined;
  readonly #tmux: (args: string[], input?: string) => Promise<string>;
  readonly #opts: TerminalOptions;
  #resolveExit!: (v: { end: ChildEnd; stderrTail: string }) => void;
  #closed = false;
  #dead: { code: number | null } | undefined;
  #lastScreen = '';
  #lastChange = Date.now();
  #typed: ((what: Record<string, unknown>) => void) | undefined;

  readonly #exitFile: string;
  /** What tmux's `-t` names: the session (baton's own), or the pane id of an external session. */
  readonly #target: string;
  /**
   * A session the user started on their own tmux server (adopt_terminal): never killed, never
   * signalled, no exit keys or C-c on cancel — baton only detaches from it.
   */
  readonly #external: boolean;
  /** Adopted after its program exited and another process took its pid: its group is not signalled. */
  readonly #pidReused: boolean;

  constructor(
    name: string,
    pid: number,
    tmux: (args: string[], input?: string) => Promise<string>,
    opts: TerminalOptions,
    exitFile: string,
    adopted?: { pidStart: string | undefined; pidReused: boolean },
    external?: { target: string },
    hooks?: { state: ProgramHooks; dir: string },
  ) {
    this.#exitFile = exitFile;
    this.#hooks = hooks?.state;
    this.#hookDir = hooks?.dir;
    if (hooks) this.hooks = hooks.state;
    this.#target = external?.target ?? name;
    this.#external = Boolean(external);
    this.agentSessionId = hooks?.state.agentSessionId ? `${name}/${hooks.state.agentSessionId}` : name;
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
      this.#target,
    ]);
    return tailLines(out, lines).join('\n');
  }

  /** Types text (a paste buffer, bracketed when the program asked for it) and named keys. */
  async #send(input: { text?: string; keys?: string[]; enter?: boolean }): Promise<{ delivered: string }> {
    if (this.#closed || this.#dead) throw new BatonError('RUN_FINISHED', 'the program has exited');
    const target = this.#target;
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
    if (input.enter && input.text) this.#hooks?.typed();
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
    return this.#tmux(['capture-pane', '-p', '-J', '-t', this.#target]);
  }

  /** Whether the program has exited (`remain-on-exit` keeps the pane to read its status). */
  async #probe(): Promise<{ dead: boolean; screen: string }> {
    const out = await this.#tmux([
      'display-message',
      '-p',
      '-t',
      this.#target,
      '#{pane_dead}',
      ';',
      'capture-pane',
      '-p',
      '-J',
      '-t',
      this.#target,
    ]);
    const nl = out.indexOf('\n');
    return { dead: out.slice(0, nl).trim() === '1', screen: out.slice(nl + 1) };
  }

  async prompt(text: string, sink: TurnSink, _options?: TurnOptions): Promise<TurnOutcome> {
    this.#typed = (what) => sink.emit({ type: 'terminal', data: { kind: 'input', ...what } });
    const hooks = this.#hooks;
    if (hooks) {
      hooks.sink = sink;
      hooks.promptLine = () => (tailLines(plain(this.#lastScreen), 1)[0] ?? '').trim();
      // The session id a hook reported before this turn's sink was there.
      if (hooks.agentSessionId) sink.setAgentSessionId?.(`${hooks.id}/${hooks.agentSessionId}`);
    }
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
          // An external session that is gone (its program exited: no remain-on-exit there).
          if (this.#closed || this.#external) return { dead: true, code: null, screen: this.#lastScreen };
          throw err;
        });
        const now = Date.now();
        // With hooks at work, a still screen ends no turn and a moving one starts none.
        const hooked = hooks?.active === true;
        if (p.screen !== this.#lastScreen) {
          this.#lastScreen = p.screen;
          this.#lastChange = now;
          if (waiting === 'input' && !hooked) sink.setInputWaiting?.(undefined);
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
              this.#target,
            ]).catch(() => this.#lastScreen);
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
          // The conversation is the transcript's when hooks said where it is, else the screen's end.
          hooks?.finish();
          const tail = tailLines(plain(kept), 20).join('\n').trim();
          if (tail && !hooked) sink.emit({ type: 'message_chunk', text: tail });
          return { stop_reason: code === null ? 'exited' : `exit ${code}` };
        }
        if (p.screen !== snapshotted && now - lastSnapshot >= SNAPSHOT_MS) {
          snapshotted = p.screen;
          lastSnapshot = now;
          sink.emit({ type: 'terminal', data: { kind: 'screen', screen: p.screen.replace(/\s+$/, '') } });
        }
        // A permission prompt the hooks announced is read as soon as it is drawn (one poll still).
        const stable =
          now - this.#lastChange >= idleMs ||
          (hooked && hooks.permission !== undefined && now - this.#lastChange >= POLL_MS);
        const screen = plain(p.screen);
        if (!delivered) {
          if ((ready ? ready.test(screen) : true) && stable) {
            delivered = true;
            await this.#send({ text, enter: true });
          } else if (stable && !waiting && asked !== screen) {
            // A question the program asks before its input box shows (Codex's "Hooks need
            // review", a folder trust dialog): a person answers it as a permission request.
            const menu = detectMenu(screen, { titled: true });
            if (menu) {
              asked = screen;
              waiting = 'confirm';
              void this.#choose(menu, sink, abort.signal);
            }
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
          } else if (!hooked && idle.test(this.#opts.idlePattern ? screen : last)) {
            waiting = 'input';
            sink.setInputWaiting?.({ prompt: last.trim() });
          }
        }
        await sleep(POLL_MS);
      }
    } finally {
      abort.abort();
      this.#typed = undefined;
      if (hooks) hooks.sink = undefined;
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

  /** The tool of the permission prompt, as the program's hooks told it (name, input, files). */
  #hookedTool(): PermissionAsk['tool_call'] | undefined {
    const tool = this.#hooks?.active ? this.#hooks.permission : undefined;
    if (!tool) return undefined;
    const info = (this.#hooks as ProgramHooks).describe(tool);
    return {
      kind: info.kind,
      title: info.title,
      raw_input: tool.input,
      ...(tool.id ? { tool_call_id: tool.id } : {}),
      ...(info.locations.length ? { locations: info.locations } : {}),
    };
  }

  /** A numbered menu becomes a permission request; the answer types the choice's number. */
  async #choose(menu: Menu, sink: TurnSink, signal: AbortSignal): Promise<void> {
    const ask: PermissionAsk = {
      title: menu.question,
      tool_call: this.#hookedTool() ?? { kind: 'terminal', title: menu.question },
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
    if (this.#closed || this.#dead || this.#external) return;
    for (const key of this.#opts.exitKeys ?? []) {
      if (TERMINAL_KEYS.includes(key as (typeof TERMINAL_KEYS)[number])) {
        await this.#tmux(['send-keys', '-t', this.#target, key]).catch(() => undefined);
      } else await this.#send({ text: key, enter: true }).catch(() => undefined);
    }
    if ((this.#opts.exitKeys ?? []).length > 0) await sleep(500);
    if (!this.#dead) await this.#tmux(['send-keys', '-t', this.#target, 'C-c']).catch(() => undefined);
  }

  /** Kills the tmux session and the program's process group. */
  async close(graceMs = 2000): Promise<ChildEnd> {
    if (!this.#closed && this.#external) {
      // Detach only: the user's session and its programs are theirs (baton did not start them).
      this.#closed = true;
      this.#resolveExit({ end: { code: null, signal: null }, stderrTail: '' });
    }
    if (!this.#closed) {
      this.#closed = true;
      await this.#tmux(['kill-session', '-t', this.#target]).catch(() => undefined);
      // tmux sends SIGHUP; a program that ignores it is stopped with its group.
      if (!this.#pidReused) {
        signalGroup(this.pid, 'SIGTERM');
        await sleep(Math.min(graceMs, 200));
        signalGroup(this.pid, 'SIGKILL');
      }
      rmSync(this.#exitFile, { force: true });
      if (this.#hookDir) removeHookDir(this.#hookDir);
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
export class EndedTerminalSession implements AgentSession {
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
