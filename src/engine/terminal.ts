import type { TerminalControl } from '../drivers/driver.js';
import { BatonError } from '../errors.js';
import { isInside, realpathLoose, tmuxSocketName } from '../paths.js';
import type { RunRow } from '../store/runs.js';
import type { EngineContext } from './context.js';
import type { Permissions } from './permissions.js';
import { EXTERNAL_PREFIX, tmuxSessionOf, type ExternalTerminal } from '../drivers/driver.js';
import { newId } from './ids.js';
import type { RunCtx, RunPlan } from './run.js';
import { isFinalStatus, type Approver, type RunStatus, type RunSummary } from './types.js';

/** The agent-side session id of a run on the user's own tmux session: `ext:<name>`. */

/** What `adopt_terminal` takes. */
export type AdoptTerminalInput = { target: string; label?: string; approver?: Approver };

/** What `read_terminal` returns. */
export type TerminalScreen = { run_id: string; status: RunStatus; lines: number; screen: string };

/**
 * The screen and keyboard of terminal runs (agents whose driver has the `terminal` trait): where
 * the program is (for `baton attach`), its screen (live, or the last one recorded), and typing into it.
 */
export class Terminals {
  readonly #ctx: EngineContext;
  readonly #permissions: Permissions;

  /** `permissions` settles a prompt's pending requests when typed input answers them. */
  constructor(ctx: EngineContext, permissions: Permissions) {
    this.#ctx = ctx;
    this.#permissions = permissions;
  }

  /** The live terminal of an active terminal run hosted here, or undefined when it is elsewhere. */
  #terminalOf(row: RunRow): { ctx: RunCtx; terminal: TerminalControl } | undefined {
    const ctx = this.#ctx.runs.get(row.id);
    if (!ctx) {
      if (isFinalStatus(row.status)) {
        throw new BatonError('RUN_FINISHED', `run ${row.id} is ${row.status}; its program is gone`);
      }
      return undefined;
    }
    if (!this.#ctx.agents.traitsOf(row.agent).terminal) {
      throw new BatonError('NOT_SUPPORTED', `run ${row.id} is not a terminal run (agent ${row.agent})`);
    }
    if (!ctx.session?.terminal) {
      throw new BatonError(
        'RUN_NOT_WAITING',
        `run ${row.id} is ${ctx.row.status}: its program has not started yet`,
      );
    }
    return { ctx, terminal: ctx.session.terminal };
  }

  /**
   * Where a live terminal run's program is: baton's tmux socket name (`tmux -L`) and the session,
   * for `baton attach`. Throws RUN_FINISHED when it has no live terminal, NOT_SUPPORTED when it is
   * not a terminal run.
   */
  target(row: RunRow): { run_id: string; socket: string; session: string } {
    if (!this.#ctx.agents.traitsOf(row.agent).terminal) {
      throw new BatonError('NOT_SUPPORTED', `run ${row.id} is not a terminal run (agent ${row.agent})`);
    }
    const session = this.#ctx.store.sessions.get(row.session_id);
    if (session?.agent_session_id?.startsWith(EXTERNAL_PREFIX)) {
      throw new BatonError(
        'NOT_SUPPORTED',
        `run ${row.id} is your own tmux session "${session.agent_session_id.slice(EXTERNAL_PREFIX.length)}": attach with tmux attach -t it`,
      );
    }
    if (isFinalStatus(row.status) || !session?.agent_session_id) {
      throw new BatonError(
        'RUN_FINISHED',
        `run ${row.id} is ${row.status}: it has no live terminal (read_terminal shows its last screen)`,
      );
    }
    return {
      run_id: row.id,
      socket: tmuxSocketName(this.#ctx.config.home),
      session: tmuxSessionOf(session.agent_session_id),
    };
  }

  /**
   * Delivers a hook event of a terminal program (`baton hook`) to the live session whose hook id
   * it names, when its token is that session's. Anything else is FORBIDDEN and changes nothing:
   * one message for an unknown id and a wrong token alike (an id is not confirmed to a guesser).
   */
  hook(id: string, token: string, event: string, payload: Record<string, unknown>): { ok: true } {
    for (const ctx of this.#ctx.runs.values()) {
      const hooks = ctx.session?.hooks;
      if (hooks?.id !== id || isFinalStatus(ctx.row.status)) continue;
      if (hooks.deliver(token, event, payload)) return { ok: true };
      break;
    }
    throw new BatonError('FORBIDDEN', 'no live terminal program with this hook id and token');
  }

  /** The screen of a terminal run: the last `lines` lines, plain or with ANSI (`raw`). */
  async read(row: RunRow, lines: number, raw: boolean): Promise<TerminalScreen> {
    if (!this.#ctx.agents.traitsOf(row.agent).terminal) {
      throw new BatonError('NOT_SUPPORTED', `run ${row.id} is not a terminal run (agent ${row.agent})`);
    }
    if (isFinalStatus(row.status) || !this.#ctx.runs.has(row.id)) {
      // Over (or not started here): the last recorded screen.
      this.#ctx.store.eventWriter.flush();
      const last = this.#ctx.store.events
        .page(row.id, { types: ['terminal'], limit: 200, tail: true })
        .events.reverse()
        .find((e) => e.data.kind === 'screen');
      const screen = String(last?.data.screen ?? '');
      return {
        run_id: row.id,
        status: row.status,
        lines,
        screen: screen.split('\n').slice(-lines).join('\n'),
      };
    }
    const live = this.#terminalOf(row);
    if (!live) throw new BatonError('RUN_NOT_WAITING', `run ${row.id} has no live terminal`);
    return {
      run_id: row.id,
      status: live.ctx.row.status,
      lines,
      screen: await live.terminal.read(lines, raw),
    };
  }

  /**
   * Types into a terminal run: text (pasted whole), named keys, then Enter when asked. `by` is the
   * channel: while the program waits on a permission prompt, typed input answers it, so the run's
   * approver must accept `by` (NOT_APPROVER otherwise), and the answer is recorded as `by`'s.
   */
  async send(
    row: RunRow,
    input: { text?: string; keys?: string[]; enter?: boolean },
    by: string,
  ): Promise<RunSummary> {
    if (!input.text && !input.keys?.length && !input.enter) {
      throw new BatonError('INVALID_PARAMS', 'send_keys needs text, keys or enter');
    }
    const live = this.#terminalOf(row);
    if (!live) throw new BatonError('RUN_NOT_WAITING', `run ${row.id} has no live terminal`);
    this.#permissions.answerByTyping(live.ctx, input.keys?.length ? undefined : input.text, by);
    await live.terminal.send(input);
    return this.#ctx.runs.summarize(live.ctx.row);
  }

  /** The user's live tmux sessions (config `terminal.external`; FORBIDDEN with the line to add otherwise). */
  async listExternal(): Promise<ExternalTerminal[]> {
    this.#requireExternal();
    return this.#externalDriver().listExternal?.() ?? [];
  }

  /**
   * The run that takes over the user's tmux session `target` (exact name): a terminal run of the
   * built-in agent `terminal` on a new baton session whose agent-side id is `ext:<target>`, which
   * the terminal driver attaches to instead of starting a program. Its pid is not recorded, so no
   * cancel or recovery ever signals it; cancel detaches.
   */
  async externalPlan(input: AdoptTerminalInput): Promise<RunPlan> {
    this.#requireExternal();
    const target = input.target;
    if (!/^[^\s:.=][^:]{0,199}$/.test(target) || target.includes('.')) {
      throw new BatonError(
        'INVALID_PARAMS',
        `"${target}" is not a tmux session name (no ':', '.', or leading '=')`,
      );
    }
    const driver = this.#externalDriver();
    if (!driver.describeExternal)
      throw new BatonError('NOT_SUPPORTED', 'this build has no external terminals');
    const cwd = realpathLoose((await driver.describeExternal(target)).cwd);
    // The run's folder is the pane's (where the shell is now): it must be inside the roots too.
    if (!this.#ctx.config.roots.some((root) => isInside(root, cwd))) {
      throw new BatonError(
        'CWD_NOT_ALLOWED',
        `tmux session "${target}" works in ${cwd}, outside the allowed roots (${this.#ctx.config.roots.join(', ')}); cd inside one, or add a root under "roots" in ${this.#ctx.config.configPath}`,
      );
    }
    const taken = this.#ctx.store.runs
      .listActive()
      .find(
        (r) => this.#ctx.store.sessions.get(r.session_id)?.agent_session_id === `${EXTERNAL_PREFIX}${target}`,
      );
    if (taken) throw new BatonError('INVALID_PARAMS', `tmux session "${target}" is already run ${taken.id}`);
    if (input.label !== undefined && this.#ctx.store.runs.getByLabel(input.label)) {
      throw new BatonError('LABEL_TAKEN', `label "${input.label}" is taken; choose another`);
    }
    const sessionId = newId('s');
    const now = new Date().toISOString();
    this.#ctx.store.sessions.insert({
      id: sessionId,
      agent: 'terminal',
      cwd,
      agent_session_id: `${EXTERNAL_PREFIX}${target}`,
      created_at: now,
      updated_at: now,
    });
    return {
      agent: 'terminal',
      cwd,
      prompt: '',
      label: input.label,
      model: undefined,
      timeoutMs: this.#ctx.config.defaultTimeoutMs,
      policy: 'ask',
      approver: input.approver ?? 'any',
      command: ['tmux', 'attach', '-t', target],
      outputSchema: undefined,
      sessionId,
      metadata: { external_tmux: target },
      parentRunId: undefined,
    };
  }

  #externalDriver() {
    const agent = this.#ctx.agents.find('terminal');
    if (agent?.driver !== 'terminal') {
      throw new BatonError('NOT_SUPPORTED', 'agent "terminal" is not the built-in terminal driver here');
    }
    return this.#ctx.agents.driverOf(agent.name);
  }

  #requireExternal(): void {
    if (!this.#ctx.config.terminal.external) {
      throw new BatonError(
        'FORBIDDEN',
        `your own tmux sessions are off; to allow list_terminals and adopt_terminal (a caller can then type into them), set "terminal": { "external": true } in ${this.#ctx.config.configPath}`,
      );
    }
  }
}
