import { afterEach, describe, expect, it } from 'vitest';
import { RunRecorder } from './recorder.js';
import type { EventType } from './types.js';

type Written = { type: EventType; data: Record<string, unknown> };

const recorders: RunRecorder[] = [];

function makeRecorder(): { rec: RunRecorder; out: Written[] } {
  const out: Written[] = [];
  const rec = new RunRecorder((type, data) => out.push({ type, data }));
  recorders.push(rec);
  return { rec, out };
}

afterEach(() => {
  // Clears pending idle timers.
  for (const r of recorders.splice(0)) r.flush();
});

describe('RunRecorder', () => {
  it('coalesces consecutive message chunks into one message event', () => {
    const { rec, out } = makeRecorder();
    for (const text of ['Hel', 'lo, ', 'wor', 'ld']) rec.handle({ type: 'message_chunk', text });
    expect(out).toEqual([]);
    rec.flush();
    expect(out).toEqual([{ type: 'message', data: { role: 'assistant', text: 'Hello, world' } }]);
    expect(rec.lastMessage).toBe('Hello, world');
    expect(rec.turnText).toBe('Hello, world');
    rec.flush();
    expect(out).toHaveLength(1);
  });

  it('writes a streamed message after it goes idle', async () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'a' });
    rec.handle({ type: 'message_chunk', text: 'b' });
    await new Promise((r) => setTimeout(r, 400));
    expect(out).toEqual([{ type: 'message', data: { role: 'assistant', text: 'ab' } }]);
  });

  it('splits long text at 8000 characters and marks the following pieces continued', () => {
    const { rec, out } = makeRecorder();
    const chunk = 'x'.repeat(100);
    for (let i = 0; i < 200; i++) rec.handle({ type: 'message_chunk', text: chunk });
    rec.flush();
    expect(out.map((e) => e.type)).toEqual(['message', 'message', 'message']);
    expect(out.map((e) => (e.data.text as string).length)).toEqual([8000, 8000, 4000]);
    expect(out.map((e) => e.data.continued)).toEqual([undefined, true, true]);
    expect('continued' in (out[0]?.data ?? {})).toBe(false);
    expect(out.map((e) => e.data.text).join('')).toBe(chunk.repeat(200));
    expect(rec.lastMessage).toBe(chunk.repeat(200));
  });

  it('writes no empty continued piece when text ends exactly at the split', () => {
    const { rec, out } = makeRecorder();
    for (let i = 0; i < 80; i++) rec.handle({ type: 'message_chunk', text: 'y'.repeat(100) });
    rec.flush();
    rec.handle({ type: 'tool_call', data: { id: 't1' } });
    expect(out).toEqual([
      { type: 'message', data: { role: 'assistant', text: 'y'.repeat(8000) } },
      { type: 'tool_call', data: { id: 't1' } },
    ]);
  });

  it('keeps thoughts and messages in separate events, in order', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'thought_chunk', text: 'let me ' });
    rec.handle({ type: 'thought_chunk', text: 'think' });
    rec.handle({ type: 'message_chunk', text: 'Answer' });
    rec.handle({ type: 'message_chunk', text: ': 42' });
    rec.handle({ type: 'thought_chunk', text: 'done' });
    rec.flush();
    expect(out).toEqual([
      { type: 'thought', data: { role: 'assistant', text: 'let me think' } },
      { type: 'message', data: { role: 'assistant', text: 'Answer: 42' } },
      { type: 'thought', data: { role: 'assistant', text: 'done' } },
    ]);
    // Thoughts are not part of the answer.
    expect(rec.lastMessage).toBe('Answer: 42');
    expect(rec.turnText).toBe('Answer: 42');
  });

  it('writes buffered text before a tool call and starts lastMessage over after it', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'I will edit the file.' });
    rec.handle({ type: 'tool_call', data: { tool_call_id: 't1', kind: 'edit' } });
    rec.handle({ type: 'tool_update', data: { tool_call_id: 't1', status: 'completed' } });
    rec.handle({ type: 'message_chunk', text: 'Done: ' });
    rec.handle({ type: 'message_chunk', text: 'fixed.' });
    rec.flush();
    expect(out).toEqual([
      { type: 'message', data: { role: 'assistant', text: 'I will edit the file.' } },
      { type: 'tool_call', data: { tool_call_id: 't1', kind: 'edit' } },
      { type: 'tool_update', data: { tool_call_id: 't1', status: 'completed' } },
      { type: 'message', data: { role: 'assistant', text: 'Done: fixed.' } },
    ]);
    expect(rec.lastMessage).toBe('Done: fixed.');
    expect(rec.turnText).toBe('I will edit the file.Done: fixed.');
  });

  it('a thought or usage between message chunks does not reset lastMessage', () => {
    const { rec } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'part one, ' });
    rec.handle({ type: 'thought_chunk', text: 'hmm' });
    rec.handle({ type: 'usage', usage: { input_tokens: 1 } });
    rec.handle({ type: 'message_chunk', text: 'part two' });
    expect(rec.lastMessage).toBe('part one, part two');
  });

  it('plan and raw events also end the message segment', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'first' });
    rec.handle({ type: 'plan', data: { entries: [] } });
    rec.handle({ type: 'message_chunk', text: 'second' });
    expect(rec.lastMessage).toBe('second');
    rec.handle({ type: 'raw', data: { method: 'x' } });
    rec.handle({ type: 'message_chunk', text: 'third' });
    rec.flush();
    expect(rec.lastMessage).toBe('third');
    expect(out.map((e) => e.type)).toEqual(['message', 'plan', 'message', 'raw', 'message']);
  });

  it('session metadata (info) is kept as raw but does not split the answer', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'echo: what was ' });
    rec.handle({ type: 'info', data: { session_update: 'available_commands_update' } });
    rec.handle({ type: 'message_chunk', text: 'the code word?' });
    rec.flush();
    expect(rec.lastMessage).toBe('echo: what was the code word?');
    expect(out.map((e) => e.type)).toEqual(['message', 'raw', 'message']);
  });

  it('ignores user chunks', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'user_chunk', text: 'the prompt' });
    rec.flush();
    expect(out).toEqual([]);
    expect(rec.turnText).toBe('');
  });

  it('merges usage reports and records each one', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'usage', usage: { input_tokens: 10, output_tokens: 5 } });
    rec.handle({ type: 'usage', usage: { output_tokens: 7, cost_usd: 0.01 } });
    expect(rec.usage).toEqual({ input_tokens: 10, output_tokens: 7, cost_usd: 0.01 });
    expect(out).toEqual([
      { type: 'usage', data: { input_tokens: 10, output_tokens: 5 } },
      { type: 'usage', data: { output_tokens: 7, cost_usd: 0.01 } },
    ]);
  });

  it('record() writes after any buffered text', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'bye' });
    rec.record('status', { status: 'completed' });
    expect(out).toEqual([
      { type: 'message', data: { role: 'assistant', text: 'bye' } },
      { type: 'status', data: { status: 'completed' } },
    ]);
  });

  it('caps stderr events per run and marks the one that reaches the cap', () => {
    const { rec, out } = makeRecorder();
    const line = 'e'.repeat(1000);
    for (let i = 0; i < 100; i++) rec.stderr(line);
    expect(out).toHaveLength(66);
    expect(
      out.slice(0, 65).every((e) => e.type === 'stderr' && e.data.text === line && !('truncated' in e.data)),
    ).toBe(true);
    // 64 KiB = 65 whole lines + 536 characters of the 66th, which is cut and marked.
    expect(out[65]).toEqual({
      type: 'stderr',
      data: { text: 'e'.repeat(64 * 1024 - 65 * 1000), truncated: true },
    });
    rec.stderr('more');
    expect(out).toHaveLength(66);
  });

  it('writes buffered text before stderr', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'working' });
    rec.stderr('warning: x\n');
    expect(out).toEqual([
      { type: 'message', data: { role: 'assistant', text: 'working' } },
      { type: 'stderr', data: { text: 'warning: x\n' } },
    ]);
  });
});

describe('RunRecorder piece size', () => {
  it('cuts one huge chunk into pieces of 8000 characters, the later ones marked continued', () => {
    const { rec, out } = makeRecorder();
    rec.handle({ type: 'message_chunk', text: 'x'.repeat(20_000) });
    rec.flush();
    expect(out.map((e) => [String(e.data.text).length, e.data.continued ?? false])).toEqual([
      [8000, false],
      [8000, true],
      [4000, true],
    ]);
  });
});
