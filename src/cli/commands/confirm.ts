import type { Command } from 'commander';
import type { Confirmation } from '../../engine/engine.js';
import { bold, dim, out } from '../print.js';
import { cliChannel, withBaton } from '../front.js';

function line(c: Confirmation): string {
  const decided = c.decision ? ` ${c.decision} by ${c.decided_by ?? '?'} at ${c.decided_at ?? '?'}` : '';
  const run = c.run_id ? dim(` (run ${c.run_id})`) : '';
  return `${c.confirmation_id} ${bold(c.status)}${decided} ${c.question}${run} ${dim(`[${c.options.join('|')}]`)}`;
}

/** Registers `baton confirm <id> <decision>` and `baton confirmations`. */
export function registerConfirmCommands(program: Command): void {
  program
    .command('confirm')
    .description(
      'answer a confirmation asked with request_confirmation: approve, deny or one of its options (a person: stdin must be a terminal)',
    )
    .argument('<confirmation>', 'the confirmation id (c_...)')
    .argument('<decision>', 'approve, deny, or one of the options it offers')
    .option('--json', 'JSON output')
    .action(async (id: string, decision: string, opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const c = await baton.call<Confirmation>(
          'answer_confirmation',
          { confirmation_id: id, decision },
          { via: cliChannel() },
        );
        out(opts.json ? JSON.stringify(c) : line(c));
      });
    });

  program
    .command('confirmations')
    .description('questions asked of a person (request_confirmation), newest first')
    .option('--status <status>', 'pending, answered or expired')
    .option('--json', 'JSON output')
    .action(async (opts) => {
      await withBaton(Boolean(opts.json), async (baton) => {
        const r = await baton.call<{ confirmations: Confirmation[] }>(
          'list_confirmations',
          opts.status ? { status: opts.status } : {},
        );
        if (opts.json) out(JSON.stringify(r));
        else if (r.confirmations.length === 0) out(dim('no confirmations'));
        else for (const c of r.confirmations) out(line(c));
      });
    });
}
