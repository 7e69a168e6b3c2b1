import type { DriverEvent } from '../drivers/driver.js';
import type { EventType, Usage } from './types.js';

/** Coalesced text events are cut at this many characters (the next piece says `continued`). */
const MESSAGE_PIECE_CHARS = 8000;
/** A message still being streamed is written after this long without a new chunk. */
const IDLE_FLUSH_MS = 200;
/** The turn text kept in memory for the result is capped (the events keep all of it). */
const MAX_TURN_TEXT = 4 * 1024 * 1024;
/** Stderr recorded as events per run; the tail beyond is still kept for errors. */
const MAX_STDERR_EVENT_BYTES = 64 * 1024;

type Write = (type: EventType, data: Record<string, unknown>) => void;

/**
 * Turns a driver's stream into stored events: coalesces message and thought chunks into readable
 * events, keeps the turn's text and usage for the result.
 */
export class RunRecorder {
  readonly #write: Write;
  #buf: { type: 'message' | 'thought'; text: string; continued: boolean } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #segmentOpen = false;
  #stderrBytes = 0;
  lastMessage = '';
  turnText = '';
  usage: Usage = {};

  constructor(write: Write) {
    this.#write = write;
  }

  /** A new turn of the same run (a corrective follow-up): the result comes from it alone. */
  startTurn(): void {
    this.flush();
    this.lastMessage = '';
    this.turnText = '';
    this.#segmentOpen = false;
  }

  /** Records one driver event. */
  handle(event: DriverEvent): void {
    switch (event.type) {
      case 'message_chunk':
        if (!this.#segmentOpen) this.lastMessage = '';
        this.#segmentOpen = true;
        if (this.lastMessage.length < MAX_TURN_TEXT) this.lastMessage += event.text;
        if (this.turnText.length < MAX_TURN_TEXT) this.turnText += event.text;
        this.#chunk('message', event.text);
        return;
      case 'thought_chunk':
        this.#chunk('thought', event.text);
        return;
      case 'user_chunk':
        return; // the prompt is recorded when the run starts
      case 'usage':
        this.usage = { ...this.usage, ...event.usage };
        this.#other('usage', { ...event.usage });
        return;
      case 'tool_call':
      case 'tool_update':
      case 'plan':
      case 'raw':
        this.#segmentOpen = false;
        this.#other(event.type, event.data);
        return;
      case 'info':
        // Metadata an agent may send at any moment (mid-message too): it does not split the answer.
        this.#other('raw', event.data);
        return;
      case 'terminal':
        this.#other('terminal', event.data);
        return;
      default: {
        const never: never = event;
        this.#other('raw', { unknown: never as unknown });
      }
    }
  }

  /** Records stderr of the agent, bounded per run. */
  stderr(text: string): void {
    const room = MAX_STDERR_EVENT_BYTES - this.#stderrBytes;
    if (room <= 0) return;
    const kept = text.length > room ? text.slice(0, room) : text;
    this.#stderrBytes += kept.length;
    const note = this.#stderrBytes >= MAX_STDERR_EVENT_BYTES ? { truncated: true } : {};
    this.#other('stderr', { text: kept, ...note });
  }

  /** Writes any text still buffered. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const buf = this.#buf;
    if (!buf || buf.text.length === 0) {
      this.#buf = undefined;
      return;
    }
    this.#buf = undefined;
    this.#write(buf.type, {
      role: 'assistant',
      text: buf.text,
      ...(buf.continued ? { continued: true } : {}),
    });
  }

  /** Records a non-chunk event, after any buffered text. */
  record(type: EventType, data: Record<string, unknown>): void {
    this.#other(type, data);
  }

  #other(type: EventType, data: Record<string, unknown>): void {
    this.flush();
    this.#write(type, data);
  }

  #chunk(type: 'message' | 'thought', text: string): void {
    if (this.#buf && this.#buf.type !== type) this.flush();
    if (!this.#buf) this.#buf = { type, text: '', continued: false };
    this.#buf.text += text;
    while (this.#buf.text.length >= MESSAGE_PIECE_CHARS) {
      const all: string = this.#buf.text;
      // Never cut between the two halves of a surrogate pair.
      const cut = /[\uD800-\uDBFF]/.test(all.charAt(MESSAGE_PIECE_CHARS - 1))
        ? MESSAGE_PIECE_CHARS - 1
        : MESSAGE_PIECE_CHARS;
      this.#buf.text = all.slice(0, cut);
      this.flush();
      this.#buf = { type, text: all.slice(cut), continued: true };
    }
    if (this.#buf.text.length === 0) return;
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.flush(), IDLE_FLUSH_MS);
  }
}
