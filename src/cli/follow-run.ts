import { createInterface } from 'node:readline/promises';
import { PERMISSION_POLICIES, isFinalStatus, type RunEvent, type RunSummary } from '../engine/types.js';
import { BatonError, toBatonError } from '../errors.js';
import { formatDuration } from '../duration.js';
import type { Baton } from '../ops/baton.js';
import { follow } from '../ops/follow.js';
import { OwnerClient } from '../owner/client.js';
import { cyan, dim, err, formatEvent, out, statusWord } from './print.js';
import { cliChannel } from './front.js';

export type VerifyResult = {
  run_id: string;
  status?: string;
  verdict?: string;
  findings?: { severity: string; message: string; path?: string }[];
  evidence?: string[];
};

/** Answers a run's pending request with `optionId`, or the first option of `kinds`. */
export async function answer(
  baton: Baton,
  ref: string,
  optionId: string | undefined,
  kinds: string[],
): Promise<RunSummary> {
  const run = await baton.call<RunSummary>('get_run', { run: ref });
  if (!run.waiting_for) {
    throw new BatonError('RUN_NOT_WAITING', `run ${run.run_id} is ${run.status}, not waiting for an answer`);
  }
  let choice = optionId;
  if (!choice) {
    const opt = kinds.map((k) => run.waiting_for?.options.find((o) => o.kind === k)).find(Boolean);
    if (!opt) {
      throw new BatonError(
        'OPTION_NOT_FOUND',
        `the request offers no ${kinds.join('/')} option; pass one of: ${run.waiting_for.options.map((o) => o.option_id).join(', ')}`,
      );
    }
    choice = opt.option_id;
  }
  return baton.call<RunSummary>(
    'answer_permission',
    { run: run.run_id, option_id: choice, request_id: run.waiting_for.request_id },
    { via: cliChannel() },
  );
}

/**
 * Starts a run on the owner and follows it: prints events as they are stored, asks the person at
 * the terminal when a permission request arrives (stdin a TTY), and resolves with the exit code.
 * The run is the owner's: it goes on if this command is killed; Ctrl-C cancels it.
 */
export async function followNewRun(
  baton: Baton,
  agent: string,
  prompt: string,
  opts: { cwd?: string; label?: string; timeout?: string; policy?: string; model?: string; resume?: string },
  json: boolean,
): Promise<number> {
  const input = {
    agent,
    cwd: opts.cwd ?? process.cwd(),
    prompt,
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.timeout ? { timeout: opts.timeout } : {}),
    ...(opts.policy ? { policy: opts.policy as (typeof PERMISSION_POLICIES)[number] } : {}),
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
  };
  const run = await baton.call<RunSummary>('spawn_run', input, { via: cliChannel() });
  const runId = run.run_id;
  const interactive = process.stdin.isTTY === true && !json;
  if (!json) {
    const pid = baton instanceof OwnerClient ? baton.welcome?.pid : process.pid;
    err(dim(`run ${runId} started (${agent}) in the baton daemon (pid ${pid}); Ctrl-C cancels`));
  }
  // A status line on the terminal (stderr), redrawn every 250 ms and cleared before each printed event.
  const live = process.stderr.isTTY === true && !json;
  const startedAt = Date.now();
  let frame = 0;
  let paused = false;
  let status: string = run.status;
  const clearStatus = () => {
    if (live) process.stderr.write('\r\x1b[2K');
  };
  const drawStatus = () => {
    if (!live || paused) return;
    const spin = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[frame++ % 10];
    process.stderr.write(
      `\r\x1b[2K${dim(`${spin} ${runId} ${status} ${formatDuration(Date.now() - startedAt)}`)}`,
    );
  };
  const statusTimer = live ? setInterval(drawStatus, 250) : undefined;
  const printEvents = (events: RunEvent[]) => {
    if (json) return;
    clearStatus();
    for (const e of events) {
      if (e.type === 'message' && e.data.role === 'user') continue;
      const line = formatEvent(e);
      if (line !== undefined) out(line);
    }
  };
  let asking: string | undefined;
  const ask = async (summary: RunSummary) => {
    const w = summary.waiting_for;
    if (!w || asking === w.request_id) return;
    asking = w.request_id;
    if (!interactive) {
      if (!json) err(cyan(`waiting for an answer: baton approve ${runId}  |  baton deny ${runId}`));
      return;
    }
    paused = true;
    clearStatus();
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      w.options.forEach((o, i) => err(`  ${i + 1}) ${o.name} ${dim(`[${o.option_id}]`)}`));
      const reply = (await rl.question(cyan(`Answer for "${w.title}" [1-${w.options.length}]: `))).trim();
      const picked = w.options[Number(reply) - 1] ?? w.options.find((o) => o.option_id === reply);
      const chosen = picked ?? w.options.find((o) => o.kind === 'reject_once') ?? w.options[0];
      const now = await baton.call<RunSummary>('get_run', { run: runId });
      if (chosen && now.waiting_for?.request_id === w.request_id) {
        await baton.call(
          'answer_permission',
          { run: runId, option_id: chosen.option_id, request_id: w.request_id },
          { via: cliChannel() },
        );
      }
    } finally {
      rl.close();
      paused = false;
    }
  };
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    err(dim(interrupts > 1 ? 'killing the run…' : 'cancelling the run… (Ctrl-C again to kill it)'));
    void baton.call('cancel_run', { run: runId, force: interrupts > 1 }).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  try {
    let final: RunSummary | undefined;
    for await (const item of follow(baton, runId)) {
      if (item.type === 'events') printEvents(item.events);
      else if (item.type === 'run') {
        status = item.run.status;
        if (isFinalStatus(item.run.status)) final = item.run;
        else if (item.run.status === 'waiting') {
          // A lost race (answered elsewhere) or a gone owner: one line, not a crash.
          void ask(item.run).catch((e: unknown) => err(dim(toBatonError(e).message)));
        }
      }
    }
    final ??= await baton.call<RunSummary>('get_run', { run: runId });
    if (json) out(JSON.stringify(final));
    else {
      const usage = final.result?.usage;
      const tokens =
        usage?.input_tokens !== undefined
          ? ` · ${usage.input_tokens} in / ${usage.output_tokens ?? 0} out tokens`
          : '';
      err(`${statusWord(final.status)} ${dim(`${runId}${tokens}`)}`);
      if (final.error) err(`${final.error.code}: ${final.error.message}`);
    }
    return final.status === 'completed' ? 0 : 1;
  } finally {
    if (statusTimer) clearInterval(statusTimer);
    clearStatus();
    process.off('SIGINT', onSigint);
  }
}
