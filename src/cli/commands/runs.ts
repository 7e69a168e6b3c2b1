import { Command, Option } from 'commander';
import {
  PERMISSION_POLICIES,
  RUN_STATUSES,
  isFinalStatus,
  type RunEvent,
  type RunStatus,
  type RunSummary,
} from '../../engine/types.js';
import { BatonError } from '../../errors.js';
import { runOnTerminal } from '../../process/exec.js';
import { verificationOf } from '../../engine/types.js';
import { follow } from '../../ops/follow.js';
import { bold, dim, err, formatEvent, formatRun, formatRunLine, out, statusWord } from '../print.js';
import { withBaton } from '../front.js';
import { answer, followNewRun, type VerifyResult } from '../follow-run.js';

/** Registers the commands on runs: run, ls, show, logs, approve, deny, cancel, diff, discard, verify, attach. */
export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('start a run and follow it until it ends (asks you when the agent needs a permission)')
    .argument('<agent>', 'agent name (baton agents lists them)')
    .argument('<prompt...>', 'what the agent should do')
    .option('--cwd <dir>', 'working directory (default: the current directory)')
    .option('--label <label>', 'unique name for the run')
    .option('--timeout <duration>', 'e.g. 90s, 5m, 1h')
    .addOption(
      new Option('--policy <policy>', 'how permission prompts are answered').choices([
        ...PERMISSION_POLICIES,
      ]),
    )
    .option('--model <model>', 'model, when the agent offers a choice')
    .option(
      '--resume <id>',
      "continue a session started outside baton, by the agent's own id (claude's session id, codex's thread id)",
    )
    .option('--json', 'print the final run summary as JSON')
    .action(async (agent: string, promptWords: string[], opts) => {
      const json = Boolean(opts.json);
      await withBaton(json, async (baton) => followNewRun(baton, agent, promptWords.join(' '), opts, json));
    });

  program
    .command('ls')
    .description('list runs, newest first')
    .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
    .option('--role <role>', 'only runs with this role (spawn_run role)')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'JSON output')
    .action(async (opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        if (!/^\d+$/.test(String(opts.limit)) || Number(opts.limit) < 1 || Number(opts.limit) > 200) {
          throw new BatonError(
            'INVALID_PARAMS',
            `limit must be a whole number from 1 to 200 (got ${String(opts.limit)})`,
          );
        }
        const page = await baton.call<{ runs: RunSummary[]; next_cursor?: string }>('list_runs', {
          ...(opts.status ? { status: opts.status as RunStatus } : {}),
          ...(opts.role ? { role: String(opts.role) } : {}),
          limit: Number(opts.limit),
        });
        const totals = await baton.call<{
          runs: number;
          usage: NonNullable<RunSummary['result']>['usage'] & object;
        }>('usage_totals');
        if (opts.json) out(JSON.stringify({ ...page, totals }));
        else if (page.runs.length === 0) out(dim('no runs yet: try  baton run demo "hello"'));
        else {
          for (const r of page.runs) out(formatRunLine(r));
          const u = totals.usage;
          const tokens = u.total_tokens ?? (u.input_tokens ?? 0) + (u.output_tokens ?? 0);
          out(
            dim(
              `all ${totals.runs} runs: ${tokens.toLocaleString()} tokens${u.cost_usd ? `, $${u.cost_usd.toFixed(4)}` : ''}`,
            ),
          );
        }
      });
    });

  program
    .command('show')
    .description("one run's summary")
    .argument('<run>', 'run id or label')
    .option('--json', 'JSON output')
    .action(async (ref: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await baton.call<RunSummary>('get_run', { run: ref });
        out(opts.json ? JSON.stringify(r) : formatRun(r));
      });
    });

  program
    .command('logs')
    .description("a run's events")
    .argument('<run>', 'run id or label')
    .option('-f, --follow', 'keep printing new events until the run ends')
    .option('--json', 'one JSON event per line')
    .action(async (ref: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const print = (e: RunEvent) => {
          const line = opts.json ? JSON.stringify(e) : formatEvent(e);
          if (line !== undefined) out(line);
        };
        if (!opts.follow) {
          const run = await baton.call<RunSummary>('get_run', { run: ref });
          let after = 0;
          for (;;) {
            const page = await baton.call<{ events: RunEvent[]; next_seq: number; has_more: boolean }>(
              'get_events',
              { run: run.run_id, after_seq: after, limit: 500 },
            );
            page.events.forEach(print);
            after = page.next_seq;
            if (!page.has_more) return;
          }
        }
        for await (const item of follow(baton, ref)) if (item.type === 'events') item.events.forEach(print);
      });
    });

  program
    .command('approve')
    .description('answer the pending permission request of a run (default: allow once)')
    .argument('<run>', 'run id or label')
    .argument('[option_id]', 'the option to choose (baton show lists them)')
    .option('--json', 'JSON output')
    .action(async (ref: string, optionId: string | undefined, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await answer(baton, ref, optionId, ['allow_once', 'allow_always']);
        out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
      });
    });

  program
    .command('deny')
    .description('reject the pending permission request of a run')
    .argument('<run>', 'run id or label')
    .option('--json', 'JSON output')
    .action(async (ref: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await answer(baton, ref, undefined, ['reject_once', 'reject_always']);
        out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
      });
    });

  program
    .command('cancel')
    .description('cancel a run')
    .argument('<run>', 'run id or label')
    .option('--force', 'kill at once instead of asking the agent to stop first')
    .option('--json', 'JSON output')
    .action(async (ref: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await baton.call<RunSummary>('cancel_run', { run: ref, force: Boolean(opts.force) });
        out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
      });
    });

  program
    .command('diff')
    .description('what a run changed in its git work tree (unified diff)')
    .argument('<run>', 'run id or label')
    .argument('[path]', 'one file, relative to the repository root')
    .action(async (ref: string, path: string | undefined) => {
      await withBaton(false, async (baton) => {
        let offset = 0;
        for (;;) {
          const page = await baton.call<{ diff: string; next_offset?: number }>('get_diff', {
            run: ref,
            ...(path ? { path } : {}),
            offset,
            limit: 1_048_576,
          });
          process.stdout.write(page.diff);
          if (page.next_offset === undefined) return;
          offset = page.next_offset;
        }
      });
    });

  program
    .command('discard')
    .description('remove the git work tree and branch of a finished worktree run')
    .argument('<run>', 'run id or label')
    .option('--json', 'JSON output')
    .action(async (ref: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await baton.call<{ path: string; branch: string }>('discard_run', { run: ref });
        out(opts.json ? JSON.stringify(r) : `removed ${r.path} and branch ${r.branch}`);
      });
    });

  program
    .command('verify')
    .description("review a run's changes read-only against its task (or --task) and print the verdict")
    .argument('<run>', 'run id or label')
    .option('--task <text>', "what the work must do (default: the run's prompt)")
    .option('--agent <name>', "the reviewer (default: the run's agent)")
    .option('--json', 'JSON output')
    .action(async (ref: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        let r = await baton.call<VerifyResult>('verify_run', {
          run: ref,
          ...(opts.task ? { task: opts.task } : {}),
          ...(opts.agent ? { agent: opts.agent } : {}),
        });
        while (!r.verdict) {
          await baton.call('wait_run', { runs: [r.run_id], until: 'finished' });
          const done = await baton.call<RunSummary>('get_run', { run: r.run_id });
          if (isFinalStatus(done.status)) {
            r = {
              ...r,
              status: done.status,
              ...(done.result?.verification ?? verificationOf(done.status, done.result, done.error)),
            };
          }
        }
        if (opts.json) out(JSON.stringify(r));
        else {
          out(`${bold(r.verdict)} (review run ${r.run_id})`);
          for (const f of r.findings ?? [])
            out(`  ${f.severity}: ${f.message}${f.path ? ` (${f.path})` : ''}`);
          if (r.evidence?.length) out(`  evidence: ${r.evidence.join(', ')}`);
        }
        return r.verdict === 'pass' || r.verdict === 'pass_with_restrictions' ? 0 : 1;
      });
    });

  program
    .command('attach')
    .description("attach this terminal to a terminal run's tmux session (read-only unless --write)")
    .argument('<run>', 'run id or label')
    .option('--write', 'take over: your keystrokes go to the program')
    .action(async (ref: string, opts) => {
      await withBaton(false, async (baton) => {
        const target = await baton.call<{ run_id: string; socket: string; session: string }>(
          'terminal_target',
          { run: ref },
        );
        if (!process.stdin.isTTY) {
          throw new BatonError('INVALID_PARAMS', 'baton attach needs a terminal (stdin is not a TTY)');
        }
        err(dim(`attaching ${opts.write ? '' : 'read-only '}to ${target.run_id}; detach with Ctrl-b d`));
        const args = ['-L', target.socket, 'attach-session', ...(opts.write ? [] : ['-r'])];
        const r = runOnTerminal('tmux', [...args, '-t', target.session]);
        if (r.error) throw new BatonError('AGENT_NOT_INSTALLED', `tmux: ${r.error.message}`);
        return r.status ?? 0;
      });
    });
}
