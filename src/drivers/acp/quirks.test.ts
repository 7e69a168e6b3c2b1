import { describe, expect, it } from 'vitest';
import { salvageUsage } from './quirks.js';

async function through(chunks: Buffer[]): Promise<{ out: string; salvaged: unknown[] }> {
  const salvaged: unknown[] = [];
  const t = salvageUsage((u) => salvaged.push(u));
  const parts: Buffer[] = [];
  t.on('data', (d: Buffer) => parts.push(Buffer.from(d)));
  const ended = new Promise((r) => t.on('end', r));
  for (const c of chunks) t.write(c);
  t.end();
  await ended;
  return { out: Buffer.concat(parts).toString('utf8'), salvaged };
}

describe('salvageUsage (claude-agent-acp usage_update with used:null)', () => {
  it('takes out only the invalid usage_update and hands it over; everything else passes unchanged', async () => {
    const bad = JSON.stringify({
      jsonrpc: '2.0',
      method: 'session/update',
      params: { sessionId: 's', update: { sessionUpdate: 'usage_update', used: null, size: 9, cost: null } },
    });
    const good = JSON.stringify({
      jsonrpc: '2.0',
      method: 'session/update',
      params: { sessionId: 's', update: { sessionUpdate: 'usage_update', used: 3, size: 9 } },
    });
    const text = `{"a":"héllo wörld €"}\n${bad}\n${good}\n{"tail":1}`;
    const bytes = Buffer.from(text);
    // Cut inside multi-byte characters and inside lines.
    const cuts = [3, 8, 9, 20, 60, bytes.length - 5];
    const chunks: Buffer[] = [];
    let from = 0;
    for (const c of cuts) {
      chunks.push(bytes.subarray(from, c));
      from = c;
    }
    chunks.push(bytes.subarray(from));
    const { out, salvaged } = await through(chunks);
    expect(out).toBe(`{"a":"héllo wörld €"}\n${good}\n{"tail":1}`);
    expect(salvaged).toEqual([{ sessionUpdate: 'usage_update', used: null, size: 9, cost: null }]);
  });
});
