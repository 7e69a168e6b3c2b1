import {
  McpServer,
  ResourceTemplate,
  fromJsonSchema,
  type jsonSchemaValidator,
  type JsonSchemaValidator,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { waitTimeoutMs, type Engine, type WaitInput } from '../engine/engine.js';
import { toBatonError } from '../errors.js';
import { VERSION } from '../version.js';
import { askedStateCodec, waitWithElicitation } from './elicit.js';
import { TOOLS, parseArgs, type ToolDef } from './tools.js';

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

function registerTool(server: McpServer, engine: Engine, def: ToolDef, parentRun?: string): void {
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
          const args = parsed as Omit<WaitInput, 'signal' | 'onProgress'>;
          const value = await waitWithElicitation(engine, server, ctx, {
            ...args,
            timeout_ms: waitTimeoutMs(args.timeout),
            signal: ctx.mcpReq.signal,
            onProgress: progress,
          });
          return 'resultType' in value ? value : ok(value);
        }
        const value = await def.run(engine, parsed as never, {
          signal: ctx.mcpReq.signal,
          progress,
          ...(parentRun ? { parentRun } : {}),
        });
        return ok(value);
      } catch (err) {
        return fail(err);
      }
    },
  );
}

/**
 * Builds one MCP server over the engine: every tool of CONTRACT.md, the run resources, and
 * resource subscriptions fed by the engine's bus. Returns the server and a function that
 * detaches it from the bus.
 */
export function buildMcpServer(
  engine: Engine,
  opts: {
    subscriptions?: boolean;
    /** The run whose agent is this client (a daemon front's BATON_PARENT_RUN): new runs are its children. */
    parentRun?: string;
  } = {},
): { server: McpServer; dispose: () => void } {
  const server = new McpServer(
    { name: 'baton', version: VERSION },
    {
      capabilities: { resources: { subscribe: true, listChanged: true }, logging: {} },
      instructions: INSTRUCTIONS,
      requestState: { verify: askedStateCodec.verify },
    },
  );
  for (const def of TOOLS) registerTool(server, engine, def, opts.parentRun);

  const json = (uri: URL, value: unknown) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value) }],
  });
  server.registerResource(
    'runs',
    'baton://runs',
    { title: 'Runs', description: 'The 50 most recent runs', mimeType: 'application/json' },
    async (uri) => json(uri, engine.listRuns({ limit: 50 })),
  );
  server.registerResource(
    'run',
    new ResourceTemplate('baton://runs/{run_id}', {
      list: async () => ({
        resources: engine.listRuns({ limit: 50 }).runs.map((r) => ({
          uri: `baton://runs/${r.run_id}`,
          name: r.label ?? r.run_id,
          description: `${r.agent} · ${r.status}`,
          mimeType: 'application/json',
        })),
      }),
    }),
    { title: 'Run', description: "A run's summary", mimeType: 'application/json' },
    async (uri, vars) => json(uri, engine.getRun(String(vars.run_id))),
  );
  server.registerResource(
    'run-events',
    new ResourceTemplate('baton://runs/{run_id}/events', { list: undefined }),
    { title: 'Run events', description: "A run's most recent events", mimeType: 'application/json' },
    async (uri, vars) => json(uri, engine.getEvents(String(vars.run_id), { tail: true, limit: 50 })),
  );

  const text = (uri: URL, value: string) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: value }],
  });
  server.registerResource(
    'run-terminal',
    new ResourceTemplate('baton://runs/{run_id}/terminal', { list: undefined }),
    { title: 'Run terminal', description: "A terminal run's screen, plain text", mimeType: 'text/plain' },
    async (uri, vars) => text(uri, (await engine.readTerminal(String(vars.run_id), 200, false)).screen),
  );
  server.registerResource(
    'run-terminal-raw',
    new ResourceTemplate('baton://runs/{run_id}/terminal/raw', { list: undefined }),
    {
      title: 'Run terminal (ANSI)',
      description: "A terminal run's screen with ANSI escape sequences",
      mimeType: 'text/plain',
    },
    async (uri, vars) => text(uri, (await engine.readTerminal(String(vars.run_id), 200, true)).screen),
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
  // A run of another baton process: its row or its events may have changed.
  const onForeign = (runId: string) => {
    onRun(runId);
    onEvents(runId);
  };
  engine.bus.on('run', onRun);
  engine.bus.on('events', onEvents);
  engine.bus.on('foreign', onForeign);
  return {
    server,
    dispose: () => {
      engine.bus.off('run', onRun);
      engine.bus.off('events', onEvents);
      engine.bus.off('foreign', onForeign);
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}
