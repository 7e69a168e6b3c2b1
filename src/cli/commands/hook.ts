import type { Command } from 'commander';
import { resolveHome } from '../../config.js';
import { OwnerClient } from '../../owner/client.js';

/** The most of a hook's JSON read from stdin; more (a huge tool input) is sent without a payload. */
const STDIN_MAX = 1024 * 1024;
/** The hook gives up after this long: the agent is never held up by baton. */
const HOOK_TIMEOUT_MS = 2000;

/** Reads stdin up to `max` bytes; undefined when there is more (the rest is drained, not kept). */
function readStdin(max: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    process.stdin.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) over = true;
      else chunks.push(c);
    });
    process.stdin.on('end', () => resolve(over ? undefined : Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', () => resolve(undefined));
  });
}

async function deliver(event: string): Promise<void> {
  const id = process.env.BATON_HOOK_ID;
  const token = process.env.BATON_HOOK_TOKEN;
  if (!id || !token) return;
  const text = await readStdin(STDIN_MAX);
  let payload: Record<string, unknown> = {};
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      payload = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the event alone
  }
  // Only an owner that runs: a hook never starts a daemon.
  const client = new OwnerClient(resolveHome(), { kind: 'cli' }, { start: false });
  try {
    if (!(await client.connect())) return;
    await client.call('terminal_hook', { id, token, event, payload });
  } finally {
    client.close();
  }
}

/**
 * `baton hook <event>`: run by a terminal program's own hooks (claude-tui's per-run settings):
 * reads the hook's JSON on stdin and hands it to the owner for the program's run (its
 * BATON_HOOK_ID and BATON_HOOK_TOKEN). Prints nothing (claude would add it to the conversation)
 * and always exits 0 within 2 s, so the agent is never disturbed, whatever happens.
 */
export function registerHookCommand(program: Command): void {
  program
    .command('hook', { hidden: true })
    .description("Report a terminal program's hook event to baton (run by the program's hooks)")
    .argument('<event>', 'the hook event (Stop, PermissionRequest, SessionStart...)')
    .action(async (event: string) => {
      const timer = setTimeout(() => process.exit(0), HOOK_TIMEOUT_MS);
      try {
        await deliver(event);
      } catch {
        // never disturb the agent
      }
      clearTimeout(timer);
      process.exit(0);
    });
}
