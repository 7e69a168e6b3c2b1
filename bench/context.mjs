// Context economy: what an MCP caller receives for a whole spawn → wait → answer → result cycle
// (bytes of every tool result, ~tokens at 4 bytes each, number of tool calls), against the total
// size of the run's events (what a log-streaming tool would hand it). The run: 30 tool calls with
// output, 20 messages, a plan, a permission request, a file write.
import { fmt, makeEnv, report, runBench, startServer, steps } from './lib.mjs';

const t = makeEnv();
let server;

async function main() {
  server = await startServer(t);
  let bytes = 0;
  let calls = 0;
  const call = async (name, args) => {
    calls++;
    const res = await server.client.callTool({ name, arguments: args }, { timeout: 120_000 });
    bytes += Buffer.byteLength(JSON.stringify(res));
    return res.structuredContent;
  };
  const work = [];
  for (let i = 0; i < 30; i++) {
    work.push({
      tool_call: { id: `c${i}`, title: `read src/file${i}.ts`, kind: 'read', locations: [`file${i}.ts`] },
    });
    work.push({
      tool_update: { id: `c${i}`, status: 'completed', text: `contents of file ${i}\n`.repeat(40) },
    });
    if (i % 3 === 0) work.push({ message: `Looking at file ${i}; ${'reasoning '.repeat(30)}` });
  }
  const prompt = steps(
    {
      plan: [
        { content: 'read', status: 'in_progress' },
        { content: 'fix', status: 'pending' },
      ],
    },
    ...work,
    {
      permission: {
        title: 'Write fix.txt',
        kind: 'edit',
        locations: ['fix.txt'],
        allowed: [
          { write_file: { path: 'fix.txt', content: 'fixed\n' } },
          { message: 'Fixed the bug in fix.txt.' },
        ],
      },
    },
  );
  const run = await call('spawn_run', { agent: 'fixture', cwd: t.work, prompt });
  let w = await call('wait_run', { runs: [run.run_id], timeout: 60 });
  const waiting = w.runs[0];
  await call('answer_permission', {
    run: run.run_id,
    option_id: 'allow_once',
    request_id: waiting.waiting_for.request_id,
  });
  w = await call('wait_run', { runs: [run.run_id], until: 'finished', timeout: 60 });
  const callerBytes = bytes;
  const callerCalls = calls;
  // Everything the run recorded, paged (not counted as the caller's).
  let total = 0;
  let events = 0;
  for (let after = 0; ;) {
    const page = await server.call('get_events', { run: run.run_id, after_seq: after, limit: 1000 });
    for (const e of page.events) {
      events++;
      total += Buffer.byteLength(JSON.stringify(e));
      for (const a of e.artifacts ?? []) total += a.total_bytes;
    }
    after = page.next_seq;
    if (!page.has_more) break;
  }
  report(
    'context economy — one spawn → wait → answer → result cycle',
    ['figure', 'value'],
    [
      [
        'tool calls the caller made',
        `${callerCalls} (spawn_run, wait_run, answer_permission, wait_run; no polling)`,
      ],
      ['bytes the caller received', `${fmt(callerBytes)} (~${fmt(callerBytes / 4)} tokens)`],
      ['the run’s events in full', `${fmt(events)} events, ${fmt(total)} bytes (~${fmt(total / 4)} tokens)`],
      ['ratio received / full log', `${fmt((callerBytes / total) * 100, 1)} %`],
      ['final status', w.runs[0].status],
    ],
  );
}

await runBench(main, async () => {
  await server?.close();
  t.cleanup();
});
