// Terminal runs (tmux) through `baton mcp`, as an MCP host sees them:
// - keystroke → screen: send_keys of a short word to `cat`, until read_terminal shows its echo;
// - status detection: a program prints its prompt (and the time) after a random pause; from that
//   moment to wait_run returning the run as `waiting` for input (the stable-screen time is 800 ms).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, makeEnv, median, percentile, report, runBench, sleep, startServer } from './lib.mjs';

const KEYSTROKES = Number(process.env.BENCH_KEYSTROKES ?? 40);
const PROMPTS = Number(process.env.BENCH_PROMPTS ?? 15);

const t = makeEnv({ terminal: { width: 100, height: 30 } });
let s;

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
  const { writeFileSync } = await import('node:fs');
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
    ],
    [
      'Status detection includes the stable-screen time (800 ms by default, `idle_time` per agent) and the 150 ms screen poll.',
      'Keystroke latency is what a host sees: one send_keys call, then read_terminal calls until the text is there.',
    ],
  );
}

runBench(main, async () => {
  await s?.close();
  t.cleanup();
});
