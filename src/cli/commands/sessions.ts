import type { Command } from 'commander';
import type { ExternalTerminal } from '../../drivers/driver.js';
import type { WakeResult } from '../../engine/wake.js';
import type { RunSummary } from '../../engine/types.js';
import { BatonError } from '../../errors.js';
import { bold, dim, err, out, statusWord } from '../print.js';
import { cliChannel, withBaton } from '../front.js';

function wakeLine(r: WakeResult): string {
  if (!r.ok) return `${r.run_id} ${bold('failed')} ${r.error?.code ?? ''}: ${r.error?.message ?? ''}`;
  return r.how === 'follow_up' ? `${r.run_id} follow-up → ${r.new_run_id ?? '?'}` : `${r.run_id} typed`;
}

/** Registers `baton wake`, `baton terminals` and `baton adopt`: idle sessions and the user's own tmux sessions. */
export function registerSessionCommands(program: Command): void {
  program
    .command('wake')
    .description(
      'nudge idle sessions: a terminal run waiting at its prompt gets the text typed, a finished (completed or interrupted) run a follow-up; exits 1 when a target failed',
    )
    .argument('[runs...]', 'run ids or labels')
    .option('--all', 'every idle run instead of the runs named')
    .option('--text <text>', 'what to send (default: config wake.text, "continue")')
    .option('--json', 'JSON output')
    .action(async (runs: string[], opts) => {
      const json = Boolean(opts.json);
      await withBaton(json, async (baton) => {
        if (Boolean(opts.all) === runs.length > 0) {
          throw new BatonError('INVALID_PARAMS', 'name the runs to wake, or pass --all (not both)');
        }
        const r = await baton.call<{ results: WakeResult[] }>(
          'wake',
          {
            ...(opts.all ? { all: true } : { runs }),
            ...(opts.text !== undefined ? { text: opts.text } : {}),
          },
          { via: cliChannel() },
        );
        if (json) out(JSON.stringify(r));
        else if (r.results.length === 0) out(dim('no idle sessions'));
        else for (const x of r.results) (x.ok ? out : err)(wakeLine(x));
        return r.results.some((x) => !x.ok) ? 1 : 0;
      });
    });

  program
    .command('terminals')
    .description('your own live tmux sessions, which adopt can take (needs config terminal.external)')
    .option('--json', 'JSON output')
    .action(async (opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await baton.call<{ terminals: ExternalTerminal[] }>('list_terminals', {});
        if (opts.json) out(JSON.stringify(r));
        else if (r.terminals.length === 0) out(dim('no tmux sessions'));
        else {
          for (const t of r.terminals) {
            out(
              `${t.name} ${dim(`${t.windows} window${t.windows === 1 ? '' : 's'}`)}${t.attached ? ' attached' : ''}`,
            );
          }
        }
      });
    });

  program
    .command('adopt')
    .description(
      'make one of your tmux sessions a terminal run (read, typed into, waited on); cancel only detaches, baton never kills it',
    )
    .argument('<target>', 'the tmux session name (baton terminals lists them)')
    .option('--label <label>', 'unique name for the run')
    .option('--approver <approver>', 'who may answer prompts seen on its screen (as in spawn_run)')
    .option('--json', 'JSON output')
    .action(async (target: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await baton.call<RunSummary>('adopt_terminal', {
          target,
          ...(opts.label !== undefined ? { label: opts.label } : {}),
          ...(opts.approver !== undefined ? { approver: opts.approver } : {}),
        });
        out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)} ${dim(target)}`);
      });
    });
}
