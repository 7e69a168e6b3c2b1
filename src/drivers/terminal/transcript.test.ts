import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../driver.js';
import { CodexRollout } from './codex-rollout.js';
import { ClaudeTranscript } from './transcript.js';

const assistant = (id: string, content: unknown[], output = 5) =>
  `${JSON.stringify({ type: 'assistant', message: { id, role: 'assistant', content, usage: { input_tokens: 10, output_tokens: output } } })}\n`;

describe('ClaudeTranscript: a terminal run reads claude’s JSONL transcript, confined to its config dir', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const setup = () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-transcript-'));
    const config = join(dir, '.claude');
    mkdirSync(join(config, 'projects', 'p'), { recursive: true });
    const outside = join(dir, 'outside.jsonl');
    writeFileSync(outside, assistant('m0', [{ type: 'text', text: 'secret' }]));
    return { config, outside, file: join(config, 'projects', 'p', 's.jsonl') };
  };
  const drain = (t: ClaudeTranscript) => {
    const out: DriverEvent[] = [];
    t.drain((e) => out.push(e));
    return out;
  };

  it('maps text, tool calls, tool results and usage, as the file grows (a partial line waits)', () => {
    const { config, file } = setup();
    const t = new ClaudeTranscript(config, '/w');
    expect(t.setPath(file)).toBe(true);
    writeFileSync(
      file,
      assistant('m1', [{ type: 'tool_use', id: 'tu1', name: 'Bash', input: { command: 'ls' } }]),
    );
    const line = JSON.stringify({
      type: 'user',
      message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'a.txt' }] },
    });
    appendFileSync(file, line.slice(0, 20));
    expect(drain(t)).toEqual([
      {
        type: 'tool_call',
        data: {
          tool_call_id: 'tu1',
          title: 'Bash: ls',
          kind: 'execute',
          status: 'pending',
          raw_input: { command: 'ls' },
        },
      },
      { type: 'usage', usage: { input_tokens: 10, output_tokens: 5 } },
    ]);
    appendFileSync(file, `${line.slice(20)}\n${assistant('m2', [{ type: 'text', text: 'done' }], 7)}`);
    expect(drain(t)).toEqual([
      {
        type: 'tool_update',
        data: {
          tool_call_id: 'tu1',
          status: 'completed',
          kind: 'execute',
          title: 'Bash: ls',
          content: [{ type: 'text', text: 'a.txt' }],
        },
      },
      { type: 'message_chunk', text: 'done' },
      { type: 'usage', usage: { input_tokens: 20, output_tokens: 12 } },
    ]);
  });

  it('ignores a path outside the config dir, a symlink out of it, and what is not a regular file', () => {
    const { config, outside, file } = setup();
    expect(new ClaudeTranscript(config, '/w').setPath(outside)).toBe(false);
    expect(new ClaudeTranscript(config, '/w').setPath(join(config, '..', 'outside.jsonl'))).toBe(false);
    expect(new ClaudeTranscript(config, '/w').setPath('relative.jsonl')).toBe(false);
    // A symlink inside the config dir to a file outside: refused by realpath.
    const link = join(config, 'projects', 'p', 'link.jsonl');
    symlinkSync(outside, link);
    const t = new ClaudeTranscript(config, '/w');
    expect(t.setPath(link)).toBe(false);
    expect(drain(t)).toEqual([]);
    // A path taken, then swapped for a symlink out: nothing is read through it.
    const t2 = new ClaudeTranscript(config, '/w');
    expect(t2.setPath(file)).toBe(true);
    symlinkSync(outside, file);
    expect(drain(t2)).toEqual([]);
    // A directory named like a transcript is not read.
    const d = join(config, 'projects', 'p', 'dir.jsonl');
    mkdirSync(d);
    const t3 = new ClaudeTranscript(config, '/w');
    expect(t3.setPath(d)).toBe(true);
    expect(drain(t3)).toEqual([]);
    // Only the first path a hook names is taken.
    expect(t3.setPath(file)).toBe(false);
  });

  it('skips an oversized line and what is not JSON, and starts after what was there (a resumed session)', () => {
    const { config, file } = setup();
    writeFileSync(file, assistant('old', [{ type: 'text', text: 'earlier turn' }]));
    const t = new ClaudeTranscript(config, '/w');
    expect(t.setPath(file)).toBe(true);
    appendFileSync(file, `not json\n${'x'.repeat(3 * 1024 * 1024)}`);
    expect(drain(t)).toEqual([]);
    appendFileSync(file, `\n${assistant('m3', [{ type: 'text', text: 'after' }])}`);
    expect(drain(t)).toEqual([
      { type: 'message_chunk', text: 'after' },
      { type: 'usage', usage: { input_tokens: 10, output_tokens: 5 } },
    ]);
  });
});

describe('CodexRollout: a terminal run reads codex’s rollout file', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const item = (payload: Record<string, unknown>) =>
    `${JSON.stringify({ type: 'response_item', payload })}\n`;

  it('a command that runs past exec_command’s yield stays one tool call: in progress, then completed with write_stdin’s output', () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-rollout-'));
    const file = join(dir, 'sessions', '2026', '12', '03', 'rollout-x-t1.jsonl');
    mkdirSync(join(dir, 'sessions', '2026', '12', '03'), { recursive: true });
    writeFileSync(file, '');
    const r = new CodexRollout(join(dir, 'sessions'), '/w');
    expect(r.setPath(file)).toBe(true);
    const out: DriverEvent[] = [];
    appendFileSync(
      file,
      item({
        type: 'function_call',
        call_id: 'c1',
        name: 'exec_command',
        arguments: '{"cmd":"sleep 30 && echo slept"}',
      }) +
        item({
          type: 'function_call_output',
          call_id: 'c1',
          output: 'Wall time: 10 seconds\nProcess running with session ID 7\nOutput:\n',
        }) +
        // Another session's write_stdin is a tool call of its own.
        item({
          type: 'function_call',
          call_id: 'c2',
          name: 'write_stdin',
          arguments: '{"session_id":8,"chars":""}',
        }) +
        item({
          type: 'function_call',
          call_id: 'c3',
          name: 'write_stdin',
          arguments: '{"session_id":7,"chars":""}',
        }) +
        item({
          type: 'function_call_output',
          call_id: 'c3',
          output: 'Process exited with code 0\nOutput:\nslept\n',
        }),
    );
    r.drain((e) => out.push(e));
    const updates = out.filter((e) => e.type === 'tool_update').map((e) => e.data);
    expect(out.filter((e) => e.type === 'tool_call').map((e) => e.data.tool_call_id)).toEqual(['c1', 'c2']);
    expect(updates.map((u) => [u.tool_call_id, u.status])).toEqual([
      ['c1', 'in_progress'],
      ['c1', 'completed'],
    ]);
    expect(JSON.stringify(updates[1]?.content)).toContain('session ID 7');
    expect(JSON.stringify(updates[1]?.content)).toContain('slept');
    // The session is over: a later write_stdin to it is a call of its own.
    appendFileSync(
      file,
      item({
        type: 'function_call',
        call_id: 'c4',
        name: 'write_stdin',
        arguments: '{"session_id":7,"chars":""}',
      }),
    );
    out.length = 0;
    r.drain((e) => out.push(e));
    expect(out.filter((e) => e.type === 'tool_call').map((e) => e.data.tool_call_id)).toEqual(['c4']);
  });
});
