import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Usage } from '../../engine/types.js';
import { isInside, realpathLoose } from '../../paths.js';
import { describeTool, diffOf, resultText } from '../claude-code/tools.js';
import type { ContentBlock } from '../claude-code/wire.js';
import { toolCallEvent, type DriverEvent } from '../driver.js';

/** The most bytes of the transcript read at one time (the rest on the next hook). */
const READ_MAX = 4 * 1024 * 1024;
/** A line longer than this is skipped (a huge tool result), not kept in memory. */
const LINE_MAX = 2 * 1024 * 1024;

/** One line of Claude Code's session transcript (`<config dir>/projects/<cwd>/<session>.jsonl`). */
type TranscriptLine = {
  type?: string;
  isSidechain?: boolean;
  message?: {
    id?: string;
    role?: string;
    content?: string | ContentBlock[];
    usage?: { input_tokens?: number; output_tokens?: number; cache_read_input_tokens?: number };
  };
  toolUseResult?: unknown;
};

/**
 * A program's JSONL transcript, read as it grows: only a regular file inside the agent's folder
 * (realpath) is read, never through a symlink, in bounded pieces; a path outside is ignored. What
 * each record means is the subclass's ({@link ClaudeTranscript}, the Codex rollout).
 */
export abstract class JsonlTranscript {
  readonly #root: string;
  #path: string | undefined;
  #offset = 0;
  #rest = '';
  #skipping = false;

  constructor(root: string) {
    this.#root = root;
  }

  /** The file being read, once a hook named it. */
  get path(): string | undefined {
    return this.#path;
  }

  /** The transcript path a hook named; true when it is taken (the first one inside the root). */
  setPath(path: string): boolean {
    if (this.#path !== undefined) return this.#path === path;
    if (!isAbsolute(path) || !path.endsWith('.jsonl') || path.length > 4096) return false;
    if (!this.#inside(path)) return false;
    this.#path = path;
    // What is there already (a resumed session's earlier turns) was another run's.
    this.#offset = this.#open((fd) => fstatSync(fd).size) ?? 0;
    return true;
  }

  #inside(path: string): boolean {
    let root: string;
    try {
      root = realpathSync(this.#root);
    } catch {
      return false;
    }
    return isInside(root, realpathLoose(path));
  }

  /** Runs `fn` on the transcript opened read-only (no symlink, a regular file inside the root). */
  #open<T>(fn: (fd: number) => T): T | undefined {
    const path = this.#path;
    if (!path || !this.#inside(path)) return undefined;
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      return fstatSync(fd).isFile() ? fn(fd) : undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Reads what was appended since the last call and emits it as events. */
  drain(emit: (e: DriverEvent) => void): void {
    const chunk = this.#open((fd) => {
      const size = fstatSync(fd).size;
      if (size < this.#offset) this.#offset = size; // rewritten: go on from its end
      const n = Math.min(size - this.#offset, READ_MAX);
      if (n <= 0) return '';
      const buf = Buffer.alloc(n);
      const got = readSync(fd, buf, 0, n, this.#offset);
      this.#offset += got;
      return buf.subarray(0, got).toString('utf8');
    });
    if (!chunk) return;
    const lines = (this.#rest + chunk).split('\n');
    this.#rest = lines.pop() ?? '';
    if (this.#rest.length > LINE_MAX) {
      this.#rest = '';
      this.#skipping = true;
    }
    for (const line of lines) {
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      if (!line.trim()) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        this.record(parsed as Record<string, unknown>, emit);
    }
    this.drained(emit);
  }

  /** One record of the file. */
  protected abstract record(rec: Record<string, unknown>, emit: (e: DriverEvent) => void): void;

  /** After the new records of one drain (the run's usage so far). */
  protected drained(_emit: (e: DriverEvent) => void): void {}
}

/**
 * Claude Code's JSONL transcript of a terminal run (`<config dir>/projects/<cwd>/<session>.jsonl`):
 * its messages, tool calls, tool results and usage become the run's events (the mapping of the
 * claude-code driver).
 */
export class ClaudeTranscript extends JsonlTranscript {
  readonly #cwd: string;
  /** Usage per assistant message (its lines repeat it): the run's usage is their sum. */
  readonly #usage = new Map<string, Usage>();
  #lastUsage = '';
  readonly #tools = new Map<string, { kind: string; title: string }>();

  constructor(configDir: string, cwd: string) {
    super(configDir);
    this.#cwd = cwd;
  }

  protected override record(rec: Record<string, unknown>, emit: (e: DriverEvent) => void): void {
    this.#line(rec as TranscriptLine, emit);
  }

  protected override drained(emit: (e: DriverEvent) => void): void {
    const total = this.#total();
    const key = JSON.stringify(total);
    if (Object.keys(total).length > 0 && key !== this.#lastUsage) {
      this.#lastUsage = key;
      emit({ type: 'usage', usage: total });
    }
  }

  #total(): Usage {
    const sum: Usage = {};
    for (const u of this.#usage.values()) {
      for (const [k, v] of Object.entries(u) as [keyof Usage, number][]) sum[k] = (sum[k] ?? 0) + v;
    }
    return sum;
  }

  #line(line: TranscriptLine, emit: (e: DriverEvent) => void): void {
    // A sub-agent's (Task) conversation is its own, not the run's.
    if (line.isSidechain) return;
    const content = line.message?.content;
    if (line.type === 'assistant' && Array.isArray(content)) {
      const u = line.message?.usage;
      if (u && line.message?.id) {
        const usage: Usage = {};
        if (typeof u.input_tokens === 'number') usage.input_tokens = u.input_tokens;
        if (typeof u.output_tokens === 'number') usage.output_tokens = u.output_tokens;
        if (typeof u.cache_read_input_tokens === 'number')
          usage.cached_read_tokens = u.cache_read_input_tokens;
        this.#usage.set(line.message.id, usage);
      }
      for (const block of content) this.#assistantBlock(block, emit);
    } else if (line.type === 'user' && Array.isArray(content)) {
      for (const block of content) {
        if (block?.type !== 'tool_result') continue;
        const known = this.#tools.get(block.tool_use_id);
        const data: Record<string, unknown> = {
          tool_call_id: block.tool_use_id,
          status: block.is_error ? 'failed' : 'completed',
          ...(known ? { kind: known.kind, title: known.title } : {}),
          content: [{ type: 'text', text: resultText(block.content) }],
        };
        const diff = diffOf(line.toolUseResult, this.#cwd);
        if (diff) (data.content as unknown[]).push(diff);
        emit({ type: 'tool_update', data });
      }
    }
  }

  #assistantBlock(block: ContentBlock, emit: (e: DriverEvent) => void): void {
    if (block?.type === 'text' && typeof block.text === 'string') {
      emit({ type: 'message_chunk', text: block.text });
    } else if (block?.type === 'thinking' && typeof block.thinking === 'string') {
      emit({ type: 'thought_chunk', text: block.thinking });
    } else if (block?.type === 'tool_use' && typeof block.id === 'string') {
      const info = describeTool(String(block.name), block.input, this.#cwd);
      this.#tools.set(block.id, { kind: info.kind, title: info.title });
      emit(toolCallEvent(block.id, info, block.input));
    }
  }
}
