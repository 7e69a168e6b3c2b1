import {
  McpServer,
  ResourceTemplate,
  fromJsonSchema,
  type jsonSchemaValidator,
  type JsonSchemaValidator,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { waitTimeoutMs } from '../duration.js';
import type { RunSummary } from '../engine/types.js';
import { toBatonError } from '../errors.js';
import type { Baton } from '../ops/baton.js';
import { OPERATIONS, parseArgs, type Operation } from '../ops/operations.js';
import { VERSION } from '../version.js';
import { confirmWithElicitation } from './confirm-elicit.js';
import { askedStateCodec, waitWithElicitation } from './elicit.js';
import {
  confirmationTaskResult,
  declaresTasks,
  registerTaskMethods,
  spawnRunTask,
  TASKS_EXTENSION,
} from './tasks.js';

const INSTRUCTIONS = `baton runs coding agents (sub-agents) for you.
1. list_agents to see which agents are ready.
2. spawn_run {agent, cwd, prompt} returns at once with a run_id.
3. wait_run blocks (up to ~50s) until a run finishes or waits for a permission answer; call it again when it times out.
4. A waiting run shows waiting_for.options: answer with answer_permission {run, option_id}.
5. The summary carries result.text; get_events pages through the whole transcript.
6. follow_up {run, message} continues the same conversation; cancel_run stops a run.
7. approver "human" on spawn_run: a person answers permission prompts (dashboard, baton approve/deny on a terminal, or this client's elicitation prompt during wait_run when the config allows it); answer_permission, send_keys and follow_up at a terminal run's prompt are refused.`;

// A validator that accepts everything: tools/list still publishes the real schema, and baton
// validates itself so bad input gets {error: {code: "INVALID_PARAMS", message}} as the contract says.
const passThrough: jsonSchemaValidator = {
  getValidator<T>(): JsonSchemaValidator<T> {
    return (input: unknown) => ({ valid: true, data: input as T, errorMessage: undefined });
  },
};

function ok(value: Record<string, unknown>) {
  return { content: [{ type: 'text' as const, text: JSON.stringify(value) }], structuredContent: value };
}

function fail(err: unknown) {
  const e = toBatonError(err);
  const body = { error: { code: e.code, message: e.message } };
  return {
    isError: true,
    content: [{ type: 'text' as const, text: JSON.stringify(body) }],
    structuredContent: body,
  };
}

function registerTool(server: McpServer, baton: Baton, def: Operation): void {
  const jsonSchema = z.toJSONSchema(def.input, { io: 'input' }) as Record<string, unknown>;
  delete jsonSchema.$schema;
  server.registerTool(
    def.name,
    {
      title: def.title,
      description: def.description,
      inputSchema: fromJsonSchema(jsonSchema, passThrough),
      annotations: { title: def.title, ...def.annotations },
    },
    async (args: unknown, ctx) => {
      try {
        const parsed = parseArgs(def, args);
        const token = ctx.mcpReq._meta?.progressToken;
        const progress =
          token === undefined
            ? undefined
            : (elapsedMs: number, message: string) => {
                void ctx.mcpReq
                  .notify({
                    method: 'notifications/progress',
                    params: { progressToken: token, progress: Math.round(elapsedMs / 1000), message },
                  })
                  .catch(() => undefined);
              };
        if (def.name === 'wait_run') {
          // People in the loop: runs with approver "human" are asked about through elicitation.
          const args = parsed as {
            runs?: string[];
            until?: 'attention' | 'finished';
            timeout?: string | number;
          };
          const value = await waitWithElicitation(baton, server, ctx, {
            ...args,
            timeout_ms: waitTimeoutMs(args.timeout),
            signal: ctx.mcpReq.signal,
            onProgress: progress,
          });
          return 'resultType' in value ? value : ok(value);
        }
        // A client that declared the tasks extension on this call gets a task for the long ones.
        // (The SDK passes a tools/call result's resultType through; its types know only theirs.)
        if (def.name === 'spawn_run' && declaresTasks(ctx)) {
          return (await spawnRunTask(baton, parsed)) as unknown as ReturnType<typeof ok>;
        }
        if (def.name === 'request_confirmation' && declaresTasks(ctx)) {
          const r = await confirmationTaskResult(baton, parsed as Record<string, unknown>);
          return 'task' in r ? (r.task as unknown as ReturnType<typeof ok>) : ok(r.settled);
        }
        if (def.name === 'request_confirmation') {
          const args = parsed as Record<string, unknown> & { wait?: string | number };
          return ok(await confirmWithElicitation(baton, server, ctx, args, waitTimeoutMs(args.wait)));
        }
        const value = await baton.call(def.name, parsed, {
          via: 'caller',
          signal: ctx.mcpReq.signal,
          ...(progress ? { progress } : {}),
        });
        return ok(value);
      } catch (err) {
        return fail(err);
      }
    },
  );
}

/**
 * Builds one MCP server over a {@link Baton} (the owner in this process, or the owner over its
 * socket): every operation as a tool, the run resources, and resource subscriptions fed by the
 * owner's changes. Returns the server and a function that stops its subscriptions.
 */
export function buildMcpServer(
  baton: Baton,
  opts: {
    subscriptions?: boolean;
  } = {},
): { server: McpServer; dispose: () => void } {
  const server = new McpServer(
    { name: 'baton', version: VERSION },
    {
      capabilities: {
        resources: { subscribe: true, listChanged: true },
        logging: {},
        extensions: { [TASKS_EXTENSION]: {} },
      },
      instructions: INSTRUCTIONS,
      requestState: { verify: askedStateCodec.verify },
    },
  );
  for (const def of OPERATIONS) if (!def.internal) registerTool(server, baton, def);
  registerTaskMethods(server, baton);
  const listRuns = () => baton.call<{ runs: RunSummary[] }>('list_runs', { limit: 50 });

  const json = (uri: URL, value: unknown) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value) }],
  });
  server.registerResource(
    'runs',
    'baton://runs',
    { title: 'Runs', description: 'The 50 most recent runs', mimeType: 'application/json' },
    async (uri) => json(uri, await listRuns()),
  );
  server.registerResource(
    'run',
    new ResourceTemplate('baton://runs/{run_id}', {
      list: async () => ({
        resources: (await listRuns()).runs.map((r) => ({
          uri: `baton://runs/${r.run_id}`,
          name: r.label ?? r.run_id,
          description: `${r.agent} · ${r.status}`,
          mimeType: 'application/json',
        })),
      }),
    }),
    { title: 'Run', description: "A run's summary", mimeType: 'application/json' },
    async (uri, vars) => json(uri, await baton.call('get_run', { run: String(vars.run_id) })),
  );
  server.registerResource(
    'run-events',
    new ResourceTemplate('baton://runs/{run_id}/events', { list: undefined }),
    { title: 'Run events', description: "A run's most recent events", mimeType: 'application/json' },
    async (uri, vars) =>
      json(uri, await baton.call('get_events', { run: String(vars.run_id), tail: true, limit: 50 })),
  );

  const screenOf = async (run: string, raw: boolean) =>
    (await baton.call<{ screen: string }>('read_terminal', { run, lines: 200, raw })).screen;
  const text = (uri: URL, value: string) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: value }],
  });
  server.registerResource(
    'run-terminal',
    new ResourceTemplate('baton://runs/{run_id}/terminal', { list: undefined }),
    { title: 'Run terminal', description: "A terminal run's screen, plain text", mimeType: 'text/plain' },
    async (uri, vars) => text(uri, await screenOf(String(vars.run_id), false)),
  );
  server.registerResource(
    'run-terminal-raw',
    new ResourceTemplate('baton://runs/{run_id}/terminal/raw', { list: undefined }),
    {
      title: 'Run terminal (ANSI)',
      description: "A terminal run's screen with ANSI escape sequences",
      mimeType: 'text/plain',
    },
    async (uri, vars) => text(uri, await screenOf(String(vars.run_id), true)),
  );

  // A per-request server (HTTP) keeps no subscriptions: the handler's bus serves those.
  if (opts.subscriptions === false) return { server, dispose: () => undefined };
  // Subscriptions (2025 protocol: resources/subscribe; 2026-07-28 clients use subscriptions/listen,
  // which the SDK filters itself).
  const subs = new Set<string>();
  try {
    server.server.setRequestHandler('resources/subscribe', async (req) => {
      subs.add(req.params.uri);
      return {};
    });
    server.server.setRequestHandler('resources/unsubscribe', async (req) => {
      subs.delete(req.params.uri);
      return {};
    });
  } catch {
    // Protocol era without resources/subscribe.
  }
  const lastSent = new Map<string, number>();
  const timers = new Map<string, NodeJS.Timeout>();
  const notify = (uri: string) => {
    if (!subs.has(uri) || timers.has(uri)) return;
    const wait = Math.max(0, 200 - (Date.now() - (lastSent.get(uri) ?? 0)));
    timers.set(
      uri,
      setTimeout(() => {
        timers.delete(uri);
        lastSent.set(uri, Date.now());
        void server.server.sendResourceUpdated({ uri }).catch(() => undefined);
      }, wait),
    );
  };
  const onRun = (runId: string) => {
    notify(`baton://runs/${runId}`);
    notify('baton://runs');
  };
  const onEvents = (runId: string) => {
    notify(`baton://runs/${runId}/events`);
    notify(`baton://runs/${runId}/terminal`);
    notify(`baton://runs/${runId}/terminal/raw`);
  };
  const stopWatching = baton.watch(
    (change) => {
      if (change.type === 'run') onRun(change.run_id);
      else if (change.type === 'events') onEvents(change.run_id);
      else if (change.type === 'reset') for (const uri of subs) notify(uri);
    },
    { events: false },
  );
  return {
    server,
    dispose: () => {
      stopWatching();
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}
