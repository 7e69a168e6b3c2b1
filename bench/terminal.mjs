// Terminal runs (tmux) through `baton mcp`, as an MCP host sees them:
// - keystroke → screen: send_keys of a short word to `cat`, until read_terminal shows its echo;
// - status detection: a program prints its prompt (and the time) after a random pause; from that
//   moment to wait_run returning the run as `waiting` for input (the stable-screen time is 800 ms);
// - hooks: the real Claude Code, Codex and Gemini CLI TUIs (offline against the scripted model
//   server): from the turn-end hook (Stop, AfterAgent) reaching the owner to the run's `waiting` status
//   (both events' times).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startModelServer } from '../test/fixtures/model-server.mjs';
import { tuiEntry } from '../test/fixtures/real-agents.mjs';
import { ROOT, fmt, makeEnv, median, percentile, report, runBench, sleep, startServer } from './lib.mjs';

const KEYSTROKES = Number(process.env.BENCH_KEYSTROKES ?? 40);
const PROMPTS = Number(process.env.BENCH_PROMPTS ?? 15);
/** The hook that ends a turn, per agent. */
const TURN_END = { 'claude-tui': 'Stop', 'codex-tui': 'Stop', 'gemini-tui': 'AfterAgent' };
const HOOK_TURNS = Number(process.env.BENCH_HOOK_TURNS ?? 5);
const CLAUDE = join(ROOT, 'node_modules', '.bin', 'claude');
const CODEX = join(ROOT, 'node_modules', '.bin', 'codex');
const GEMINI = join(ROOT, 'node_modules', '.bin', 'gemini');

const t = makeEnv({ terminal: { width: 100, height: 30 } });
let s;
let model;

async function main() {
  const stamps = join(t.dir, 'prompt-times');
  // Reads a line, pauses 100–400 ms, records the time (ms) and prints its prompt.
  const prompter = [
    'import random, sys, time',
    `f = open(${JSON.stringify(stamps)}, 'a')`,
    'while True:',
    '    time.sleep(0.1 + random.random() * 0.3)',
    "    f.write(f'{time.time() * 1000:.1f}\\n'); f.flush()",
    "    sys.stdout.write('ready> '); sys.stdout.flush()",
    '    if not sys.stdin.readline(): break',
  ].join('\n');
  const config = JSON.parse(readFileSync(join(t.home, 'config.json'), 'utf8'));
  // The TUIs as a person who has used each once has them (set up, the folder trusted).
  model = await startModelServer({});
  const hookedAgents = {};
  for (const [agent, bin] of [
    ['claude-tui', CLAUDE],
    ['codex-tui', CODEX],
    ['gemini-tui', GEMINI],
  ]) {
    if (!existsSync(bin)) continue;
    const home = join(t.dir, `${agent}-home`);
    mkdirSync(home, { recursive: true });
    hookedAgents[agent] = tuiEntry(agent, home, t.work, model.url);
  }
  writeFileSync(
    join(t.home, 'config.json'),
    JSON.stringify({
      ...config,
      agents: {
        ...config.agents,
        cat: { driver: 'terminal', command: 'cat', args: [], exit_keys: ['C-d'] },
        prompter: {
          driver: 'terminal',
          command: 'python3',
          args: ['-c', prompter],
          idle_pattern: 'ready> $',
        },
        ...hookedAgents,
      },
    }),
  );
  s = await startServer(t);

  // Keystroke → screen.
  const cat = await s.call('spawn_run', { agent: 'cat', cwd: t.work });
  for (;;) {
    const r = await s.call('get_run', { run: cat.run_id });
    if (r.status === 'running' || r.status === 'waiting') break;
    await sleep(50);
  }
  await sleep(500);
  const keystroke = [];
  for (let i = 0; i < KEYSTROKES; i++) {
    const word = `k${i}x${Math.random().toString(36).slice(2, 7)}`;
    const t0 = performance.now();
    await s.call('send_keys', { run: cat.run_id, text: word });
    for (;;) {
      const screen = await s.call('read_terminal', { run: cat.run_id, lines: 5 });
      if (screen.screen.includes(word)) break;
    }
    keystroke.push(performance.now() - t0);
    await s.call('send_keys', { run: cat.run_id, keys: ['C-u'] });
  }
  await s.call('cancel_run', { run: cat.run_id });

  // Status detection.
  const run = await s.call('spawn_run', { agent: 'prompter', cwd: t.work });
  const detection = [];
  for (let i = 0; i < PROMPTS; i++) {
    const waited = await s.call('wait_run', { runs: [run.run_id], timeout: 30 });
    const seen = Date.now();
    if (waited.runs[0].status !== 'waiting') throw new Error(`prompter is ${waited.runs[0].status}`);
    const printed = readFileSync(stamps, 'utf8').trim().split('\n').map(Number);
    detection.push(seen - (printed.at(-1) ?? seen));
    await s.call('send_keys', { run: run.run_id, enter: true });
    // Wait until the program took the line (the run leaves `waiting`).
    for (;;) {
      const r = await s.call('get_run', { run: run.run_id });
      if (r.status !== 'waiting') break;
      await sleep(20);
    }
  }
  await s.call('cancel_run', { run: run.run_id, force: true });

  // Hooks: turn-end hook received → waiting (claude-tui, codex-tui, gemini-tui), one figure per turn.
  const hooked = {};
  for (const agent of Object.keys(hookedAgents)) {
    hooked[agent] = [];
    const c = await s.call('spawn_run', { agent, cwd: t.work, prompt: 'turn 0' });
    for (let i = 0; i < HOOK_TURNS; i++) {
      if (i > 0) await s.call('follow_up', { run: c.run_id, message: `turn ${i}` });
      for (;;) {
        const events = await allEvents(c.run_id);
        const stops = events.filter((e) => e.type === 'raw' && e.data.hook === TURN_END[agent]);
        const stop = stops[i];
        const waiting =
          stop && events.find((e) => e.seq > stop.seq && e.type === 'status' && e.data.status === 'waiting');
        if (waiting) {
          hooked[agent].push(Date.parse(waiting.ts) - Date.parse(stop.ts));
          break;
        }
        await sleep(50);
      }
    }
    await s.call('cancel_run', { run: c.run_id });
  }

  report(
    'Terminal runs (tmux) through baton mcp',
    ['figure', 'median ms', 'p99 ms', 'samples'],
    [
      [
        'send_keys → text on read_terminal',
        fmt(median(keystroke), 1),
        fmt(percentile(keystroke, 99), 1),
        keystroke.length,
      ],
      [
        'prompt printed → wait_run reports waiting',
        fmt(median(detection)),
        fmt(percentile(detection, 99)),
        detection.length,
      ],
      ...Object.entries(hooked).map(([agent, ms]) => [
        `${agent} ${TURN_END[agent]} hook received → waiting`,
        fmt(median(ms)),
        fmt(percentile(ms, 99)),
        ms.length,
      ]),
    ],
    [
      'Status detection includes the stable-screen time (800 ms by default, `idle_time` per agent) and the 150 ms screen poll.',
      'Keystroke latency is what a host sees: one send_keys call, then read_terminal calls until the text is there.',
      "claude-tui's and codex-tui's status comes from the program's own hooks (`baton hook`): no stable-screen wait; the figure is the owner's, from the hook's arrival to the status (event times, ms resolution). gemini-tui's turn ends with its AfterAgent hook.",
    ],
  );
}

/** Every event of a run (get_events pages: screens make them short). */
async function allEvents(run) {
  const all = [];
  for (let after = 0; ;) {
    const page = await s.call('get_events', { run, after_seq: after, limit: 1000 });
    all.push(...page.events);
    if (!page.has_more) return all;
    after = page.next_seq;
  }
}

runBench(main, async () => {
  await s?.close();
  await model?.close();
  t.cleanup();
});
