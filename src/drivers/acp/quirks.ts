import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type * as acp from '@agentclientprotocol/sdk/unstable';
import type { Usage } from '../../engine/types.js';

/** Longest stdout line the usage salvage looks into (longer ones pass through untouched). */
const SALVAGE_MAX_LINE = 64 * 1024;

/**
 * HACK: claude-agent-acp (0.23.1) sends `usage_update` with `used: null` (it knows the cost and the
 * context size, not the tokens used). The ACP SDK rejects the whole notification as invalid params,
 * and the run would lose its cost. This pass-through takes such lines out of the stream and hands
 * them to `onUpdate` with `used` left out. Everything else passes unchanged (as UTF-8 text). Remove when the
 * adapter sends a number.
 */
export function salvageUsage(onUpdate: (update: acp.SessionUpdate) => void): Transform {
  // Decoded across chunks: a character split between two pipe reads stays whole.
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = partial + decoder.write(chunk);
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      let tail = '';
      if (partial.length > SALVAGE_MAX_LINE) {
        // Too long to hold back: pass its start on now (the rest follows as it comes).
        tail = partial;
        partial = '';
      }
      const kept = lines.filter((line) => {
        if (line.length > SALVAGE_MAX_LINE || !line.includes('"usage_update"')) return true;
        try {
          const msg = JSON.parse(line) as { method?: string; params?: { update?: Record<string, unknown> } };
          const update = msg.params?.update;
          if (msg.method !== 'session/update' || update?.sessionUpdate !== 'usage_update') return true;
          if (typeof update.used === 'number') return true;
          onUpdate(update as unknown as acp.SessionUpdate);
          return false;
        } catch {
          return true;
        }
      });
      done(null, (kept.length > 0 ? `${kept.join('\n')}\n` : '') + tail);
    },
    flush(done) {
      done(null, partial + decoder.end());
    },
  });
}

/**
 * HACK: gemini-cli (0.61.0) reports a turn's tokens not in the prompt response's `usage` but in
 * `_meta.quota.token_count` ({input_tokens, output_tokens}). Read it when `usage` is absent; remove
 * once gemini-cli fills the standard field.
 */
export function quotaUsage(meta: Record<string, unknown> | null | undefined): Usage | undefined {
  const quota = meta?.quota as
    { token_count?: { input_tokens?: unknown; output_tokens?: unknown } } | undefined;
  const input = quota?.token_count?.input_tokens;
  const output = quota?.token_count?.output_tokens;
  if (typeof input !== 'number' || typeof output !== 'number') return undefined;
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}

/**
 * HACK: gemini-cli (0.61.0 and earlier) does not recognise the resource-not-found error: its ACP
 * connection rejects with the raw JSON-RPC error object, and its check (`err instanceof Error`)
 * never maps it to ENOENT (google-gemini/gemini-cli#17588). Every write_file of a NEW file then
 * fails with "Error checking existing file" before it even asks permission. For gemini-cli only
 * (by its `agentInfo.name`), a missing file reads as empty, which it treats as "new file". Remove
 * when gemini-cli maps the error.
 */
export function missingFileReadsEmpty(agentName: string | undefined): boolean {
  return agentName === 'gemini-cli';
}
