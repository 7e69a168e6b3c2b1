import type { McpServer, ServerContext } from '@modelcontextprotocol/server';
import type { Confirmation, ConfirmationResult } from '../engine/engine.js';
import { toBatonError } from '../errors.js';
import type { Baton } from '../ops/baton.js';

/** The form elicitation that asks a person `c` (one choice among its options, as `decision`). */
export function confirmationForm(c: Confirmation) {
  return {
    message: c.details ? `${c.question}\n\n${c.details}` : c.question,
    requestedSchema: {
      type: 'object' as const,
      properties: {
        decision: {
          type: 'string' as const,
          title: 'Answer',
          oneOf: c.options.map((o) => ({ const: o, title: o })),
        },
      },
      required: ['decision'],
    },
  };
}

/** True when the connected client declared form elicitation. */
function canElicit(server: McpServer): boolean {
  return Boolean(server.server.getClientCapabilities()?.elicitation?.form);
}

/**
 * `request_confirmation` with the person at the MCP host in the loop: when the client declared form
 * elicitation on the 2025 protocol (a request the server sends), the config counts elicitation as a
 * person (`approvals.elicitation_is_human`) and this front is not a sub-agent's, the question is also
 * asked through elicitation while the call waits; the first answer (the dashboard, `baton confirm`
 * or the elicitation) wins, and the others are withdrawn. Otherwise it is the plain blocking call.
 */
export async function confirmWithElicitation(
  baton: Baton,
  server: McpServer,
  ctx: ServerContext,
  args: Record<string, unknown>,
  waitMs: number,
): Promise<ConfirmationResult> {
  const signal = ctx.mcpReq.signal;
  if (!canElicit(server) || ctx.mcpReq.envelope !== undefined) {
    return baton.call<ConfirmationResult>('request_confirmation', args, { via: 'caller', signal });
  }
  const info = await baton.call<{ elicitation_is_human: boolean; front_is_agent?: boolean }>('owner_info');
  if (!info.elicitation_is_human || info.front_is_agent) {
    return baton.call<ConfirmationResult>('request_confirmation', args, { via: 'caller', signal });
  }
  const deadline = Date.now() + waitMs;
  // Ask (or look up) without blocking, to learn the id.
  const first = await baton.call<ConfirmationResult>(
    'request_confirmation',
    { ...args, wait: '1ms' },
    { via: 'caller', signal },
  );
  if (first.status !== 'pending') return first;
  const id = first.confirmation_id;
  const withdraw = new AbortController();
  const onGone = () => withdraw.abort();
  signal.addEventListener('abort', onGone);
  const asking = ask(baton, ctx, first, withdraw.signal);
  try {
    return await baton.call<ConfirmationResult>(
      'request_confirmation',
      { confirmation_id: id, wait: `${Math.max(1, deadline - Date.now())}ms` },
      { via: 'caller', signal },
    );
  } finally {
    withdraw.abort();
    signal.removeEventListener('abort', onGone);
    await asking;
  }
}

/** One elicitation of `c`; the person's choice is answered as `elicitation`. Never rejects. */
async function ask(baton: Baton, ctx: ServerContext, c: Confirmation, signal: AbortSignal): Promise<void> {
  try {
    const r = await ctx.mcpReq.elicitInput(confirmationForm(c), { signal, timeout: 24 * 3600_000 });
    let decision: string | undefined;
    if (r.action === 'accept' && typeof r.content?.decision === 'string') decision = r.content.decision;
    else if (r.action === 'decline' && c.options.includes('deny')) decision = 'deny';
    if (!decision) return;
    await baton.call(
      'answer_confirmation',
      { confirmation_id: c.confirmation_id, decision },
      { via: 'elicitation' },
    );
  } catch (err) {
    // Withdrawn (answered elsewhere, the wait ended), the client failed, or the answer lost the
    // race: the confirmation stays for the dashboard or the CLI.
    void toBatonError(err);
  }
}
