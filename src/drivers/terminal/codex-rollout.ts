import { readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Usage } from '../../engine/types.js';
import { describeTool } from '../claude-code/tools.js';
import { toolCallEvent, type DriverEvent } from '../driver.js';
import { JsonlTranscript } from './transcript.js';

/** The most of a tool's output kept in one event. */
const OUTPUT_MAX = 100_000;

/** The text of a rollout content value (a string, or a list of `{text}` parts). */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    return v
      .map((b: unknown) =>
        b && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string'
          ? (b as { text: string }).text
          : '',
      )
      .join('');
  }
  return v === undefined || v === null ? '' : JSON.stringify(v);
}

/**
 * A Codex tool as baton shows it: `apply_patch` is an edit of the files its patch names, `exec_command`
 * a command; Codex's hooks already name its shell `Bash` (Claude Code's name).
 */
export function describeCodexTool(
  name: string,
  input: unknown,
  cwd: string,
): { kind: string; title: string; locations: string[] } {
  const i = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  if (name === 'apply_patch') {
    const patch = typeof input === 'string' ? input : typeof i.command === 'string' ? i.command : '';
    const named = [...patch.matchAll(/^\*\*\* (?:Add|Update|Delete) File: (.+)$/gm)].map((m) =>
      (m[1] ?? '').trim(),
    );
    const locations = named.slice(0, 50).map((f) => (isAbsolute(f) ? f : resolve(cwd, f)));
    return { kind: 'edit', title: `apply_patch ${named.join(', ')}`.trim().slice(0, 200), locations };
  }
  if (name === 'exec_command' || name === 'shell' || name === 'shell_command') {
    const cmd = typeof i.cmd === 'string' ? i.cmd : typeof i.command === 'string' ? i.command : undefined;
    return { kind: 'execute', title: cmd ? `${name}: ${cmd}`.slice(0, 200) : name, locations: [] };
  }
  const d = describeTool(name, input, cwd);
  return { kind: d.kind, title: d.title, locations: d.locations };
}

/**
 * Codex's rollout file of a thread (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`)
 * read as it grows: the assistant's messages, tool calls (`exec_command`, `apply_patch`...) and
 * their output, and each turn's token usage become the run's events.
 */
export class CodexRollout extends JsonlTranscript {
  readonly #cwd: string;
  readonly #usage: Usage = {};
  #lastUsage = '';
  readonly #seen = new Set<string>();
  /** The command still running under each of codex's process sessions (its exec_command yielded). */
  readonly #running = new Map<number, string>();
  /** A `write_stdin` call to a running command → that command's call. */
  readonly #polls = new Map<string, string>();
  /** The output so far of a command still running. */
  readonly #partial = new Map<string, string>();

  constructor(sessions: string, cwd: string) {
    super(sessions);
    this.#cwd = cwd;
  }

  protected override record(rec: Record<string, unknown>, emit: (e: DriverEvent) => void): void {
    const p = (rec.payload && typeof rec.payload === 'object' ? rec.payload : {}) as Record<string, unknown>;
    if (rec.type === 'event_msg' && p.type === 'token_count') {
      const info = (p.info && typeof p.info === 'object' ? p.info : {}) as Record<string, unknown>;
      const last = (
        info.last_token_usage && typeof info.last_token_usage === 'object' ? info.last_token_usage : {}
      ) as Record<string, unknown>;
      const add = (from: string, to: keyof Usage) => {
        if (typeof last[from] === 'number') this.#usage[to] = (this.#usage[to] ?? 0) + (last[from] as number);
      };
      add('input_tokens', 'input_tokens');
      add('output_tokens', 'output_tokens');
      add('cached_input_tokens', 'cached_read_tokens');
      return;
    }
    if (rec.type !== 'response_item') return;
    const once = (key: string) => (this.#seen.has(key) ? false : (this.#seen.add(key), true));
    switch (p.type) {
      case 'message':
        if (p.role === 'assistant' && text(p.content)) emit({ type: 'message_chunk', text: text(p.content) });
        return;
      case 'function_call':
      case 'custom_tool_call': {
        if (typeof p.call_id !== 'string' || !once(`call:${p.call_id}`)) return;
        let input: unknown = p.type === 'function_call' ? p.arguments : p.input;
        if (typeof input === 'string' && p.type === 'function_call') {
          try {
            input = JSON.parse(input);
          } catch {
            // kept as text
          }
        }
        const name = typeof p.name === 'string' ? p.name : 'tool';
        // Waiting on (or typing into) a command that is still running: more of that command, not
        // a tool call of its own.
        const session = (input as { session_id?: unknown } | undefined)?.session_id;
        const command =
          name === 'write_stdin' && typeof session === 'number' ? this.#running.get(session) : undefined;
        if (command) {
          this.#polls.set(p.call_id, command);
          return;
        }
        const info = describeCodexTool(name, input, this.#cwd);
        emit(toolCallEvent(p.call_id, info, input));
        return;
      }
      case 'function_call_output':
      case 'custom_tool_call_output': {
        if (typeof p.call_id !== 'string' || !once(`out:${p.call_id}`)) return;
        const call = this.#polls.get(p.call_id) ?? p.call_id;
        this.#polls.delete(p.call_id);
        const out = `${this.#partial.get(call) ?? ''}${text(p.output)}`.slice(0, OUTPUT_MAX);
        // Codex's exec_command yields after a while and says the process runs on under a session.
        const running = /Process running with session ID (\d+)/.exec(text(p.output));
        if (running) {
          this.#running.set(Number(running[1]), call);
          this.#partial.set(call, `${out}\n`);
        } else {
          for (const [k, v] of this.#running) if (v === call) this.#running.delete(k);
          this.#partial.delete(call);
        }
        emit({
          type: 'tool_update',
          data: {
            tool_call_id: call,
            status: running ? 'in_progress' : 'completed',
            content: [{ type: 'text', text: out }],
          },
        });
        return;
      }
      default:
        return;
    }
  }

  protected override drained(emit: (e: DriverEvent) => void): void {
    const key = JSON.stringify(this.#usage);
    if (Object.keys(this.#usage).length > 0 && key !== this.#lastUsage) {
      this.#lastUsage = key;
      emit({ type: 'usage', usage: { ...this.#usage } });
    }
  }
}

/**
 * The rollout file of thread `id` under `sessions` (`$CODEX_HOME/sessions`), looked for in the
 * three latest day folders; undefined when there is none (a thread codex keeps no file for, such as
 * its title helper's).
 */
export function findCodexRollout(sessions: string, id: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id)) return undefined;
  const dirs = (d: string) => {
    try {
      return readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory() && /^\d+$/.test(e.name))
        .map((e) => e.name)
        .sort()
        .reverse();
    } catch {
      return [];
    }
  };
  const days: string[] = [];
  for (const y of dirs(sessions).slice(0, 2))
    for (const m of dirs(join(sessions, y)).slice(0, 2))
      for (const d of dirs(join(sessions, y, m)).slice(0, 3)) days.push(join(sessions, y, m, d));
  for (const day of days.slice(0, 3)) {
    let names: string[];
    try {
      names = readdirSync(day);
    } catch {
      continue;
    }
    const hit = names.find((n) => n.startsWith('rollout-') && n.endsWith(`-${id}.jsonl`));
    if (hit) return join(day, hit);
  }
  return undefined;
}
