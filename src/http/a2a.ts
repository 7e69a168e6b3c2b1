import { randomUUID } from 'node:crypto';
import {
  A2A_VERSION_HEADER,
  AgentCard,
  Extensions,
  HTTP_EXTENSION_HEADER,
  Message,
  Role,
  Task,
  TaskState,
  formatSSEErrorEvent,
  formatSSEEvent,
  type Part,
} from '@a2a-js/sdk';
import {
  AgentEvent,
  DefaultRequestHandler,
  JsonRpcTransportHandler,
  defaultServerCallContextBuilder,
  validateVersion,
  type AgentExecutor,
  type ExecutionEventBus,
  type RequestContext,
  type User,
} from '@a2a-js/sdk/server';
import type { Context, Hono } from 'hono';
import {
  BATON_EVENT,
  BATON_PERMISSION,
  BATON_ROLE,
  dataField,
  dataPart,
  inputMessageOf,
  textOf,
  textPart,
} from '../a2a/parts.js';
import type { AgentInfo } from '../agents/catalog.js';
import type { Baton } from '../ops/baton.js';
import { follow } from '../ops/follow.js';
import { isFinalStatus, type PermissionOption, type RunSummary } from '../engine/types.js';
import { BatonError, toBatonError } from '../errors.js';
import { VERSION } from '../version.js';
import { BoundedTaskStore } from './a2a-task-store.js';

const KEEP_ALIVE_MS = 15_000;

/** Every holder of the bearer token is the same A2A user: tasks are stored per user. */
class TokenUser implements User {
  get isAuthenticated() {
    return true;
  }
  get userName() {
    return 'baton';
  }
}
const USER = new TokenUser();

function optionIdOf(parts: Part[] | undefined): string | undefined {
  const id = dataField(parts, 'option_id');
  return typeof id === 'string' ? id : undefined;
}

/** The option a caller means: its id (data part or text), its name, or yes/no words. */
function pickOption(
  options: PermissionOption[],
  id: string | undefined,
  text: string,
): PermissionOption | undefined {
  const t = text.trim().toLowerCase();
  return (
    options.find((o) => o.option_id === id) ??
    options.find((o) => o.option_id.toLowerCase() === t || o.name.toLowerCase() === t) ??
    (/^(y|yes|allow|ok|approve)$/.test(t) ? options.find((o) => o.kind === 'allow_once') : undefined) ??
    (/^(n|no|deny|reject)$/.test(t) ? options.find((o) => o.kind === 'reject_once') : undefined)
  );
}

type TaskEntry = { runId: string; contextId: string; seq: number; running: boolean };

/** Contexts one served agent remembers (a context id per caller conversation; bounded memory). */
const MAX_CONTEXTS = 10_000;

/**
 * Serves one baton agent as an A2A agent: each A2A task is one baton run (a message in a known
 * context continues that context's session with follow_up). The run's events stream as
 * status updates (a data part `baton_event` each, text for messages); a permission request
 * makes the task `input-required` with the options (data part `baton_permission`), and the next
 * message of the task answers it; an input wait takes the next message as the answer; the end
 * of the run completes the task with the result text as artifact.
 */
class RunExecutor implements AgentExecutor {
  readonly #baton: Baton;
  readonly #agent: string;
  readonly #cwd: string;
  readonly #tasks = new Map<string, TaskEntry>();
  /** context id → the newest run of its baton session */
  readonly #contexts = new Map<string, string>();

  constructor(baton: Baton, agent: string, cwd: string) {
    this.#baton = baton;
    this.#agent = agent;
    this.#cwd = cwd;
  }

  async execute(ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId } = ctx;
    const now = () => new Date().toISOString();
    // Every execution starts with the task (the SDK requires it), shown as working.
    bus.publish(
      AgentEvent.task(
        ctx.task
          ? {
              ...ctx.task,
              status: { state: TaskState.TASK_STATE_WORKING, message: undefined, timestamp: now() },
            }
          : Task.fromJSON({
              id: taskId,
              contextId,
              status: { state: 'TASK_STATE_SUBMITTED', timestamp: now() },
              history: [Message.toJSON(ctx.userMessage)],
            }),
      ),
    );
    const text = textOf(ctx.userMessage.parts);
    let entry = this.#tasks.get(taskId);
    /** The request just answered: the run may show it a moment longer (a terminal takes the input). */
    let answered: string | undefined;
    try {
      if (!entry) {
        const previous = this.#contexts.get(contextId);
        // A multipart message becomes the run's input_message; the caller's role its role.
        const parts = inputMessageOf(ctx.userMessage.parts);
        const role: unknown = ctx.userMessage.metadata?.[BATON_ROLE];
        const run = previous
          ? await this.#baton.call<RunSummary>('follow_up', { run: previous, message: text }, { via: 'a2a' })
          : await this.#baton.call<RunSummary>(
              'spawn_run',
              {
                agent: this.#agent,
                cwd: this.#cwd,
                ...(parts ? { input_message: parts } : { prompt: text }),
                ...(typeof role === 'string' && role ? { role } : {}),
                policy: 'ask',
                metadata: { a2a_task_id: taskId, a2a_context_id: contextId },
              },
              { via: 'a2a' },
            );
        entry = { runId: run.run_id, contextId, seq: 0, running: false };
        this.#tasks.set(taskId, entry);
        // Newest last; the oldest context is forgotten past the bound (its next message starts
        // a new session).
        this.#contexts.delete(contextId);
        this.#contexts.set(contextId, run.run_id);
        if (this.#contexts.size > MAX_CONTEXTS) {
          const oldest = this.#contexts.keys().next().value;
          if (oldest !== undefined) this.#contexts.delete(oldest);
        }
      } else {
        const run = await this.#run(entry.runId);
        const w = run.waiting_for;
        if (w?.kind === 'permission') {
          const option = pickOption(w.options, optionIdOf(ctx.userMessage.parts), text);
          if (!option) {
            this.#status(bus, taskId, contextId, TaskState.TASK_STATE_INPUT_REQUIRED, [
              textPart(`"${text}" is not one of the options. ${permissionText(w.title, w.options)}`),
              dataPart({ [BATON_PERMISSION]: permissionData(run) }),
            ]);
            return;
          }
          await this.#baton.call(
            'answer_permission',
            { run: entry.runId, option_id: option.option_id, request_id: w.request_id },
            { via: 'a2a' },
          );
          answered = w.request_id;
        } else if (w?.kind === 'input') {
          await this.#baton.call('follow_up', { run: entry.runId, message: text }, { via: 'a2a' });
          answered = w.request_id;
        }
      }
      entry.running = true;
      this.#status(bus, taskId, contextId, TaskState.TASK_STATE_WORKING);
      await this.#follow(entry, taskId, contextId, bus, answered);
    } catch (err) {
      const e = toBatonError(err);
      this.#status(bus, taskId, contextId, TaskState.TASK_STATE_FAILED, [
        textPart(`${e.code}: ${e.message}`),
      ]);
    } finally {
      if (entry) entry.running = false;
    }
  }

  async cancelTask(taskId: string, bus: ExecutionEventBus): Promise<void> {
    const entry = this.#tasks.get(taskId);
    if (entry)
      await this.#baton.call('cancel_run', { run: entry.runId }, { via: 'a2a' }).catch(() => undefined);
    // A task parked at input-required has no execution to report the end: do it here.
    if (!entry?.running) {
      this.#status(bus, taskId, entry?.contextId ?? '', TaskState.TASK_STATE_CANCELED, [
        textPart('cancelled'),
      ]);
    }
  }

  #status(bus: ExecutionEventBus, taskId: string, contextId: string, state: TaskState, parts?: Part[]): void {
    bus.publish(
      AgentEvent.statusUpdate({
        taskId,
        contextId,
        metadata: undefined,
        status: {
          state,
          timestamp: new Date().toISOString(),
          message: parts
            ? {
                messageId: randomUUID(),
                taskId,
                contextId,
                role: Role.ROLE_AGENT,
                parts,
                metadata: undefined,
                extensions: [],
                referenceTaskIds: [],
              }
            : undefined,
        },
      }),
    );
  }

  /** Streams the run's events until it waits for an answer (other than `answered`) or ends. */
  async #follow(
    entry: TaskEntry,
    taskId: string,
    contextId: string,
    bus: ExecutionEventBus,
    answered?: string,
  ): Promise<void> {
    for await (const item of follow(this.#baton, entry.runId, { afterSeq: entry.seq })) {
      if (item.type === 'events') {
        for (const e of item.events) {
          const data = e.data as Record<string, unknown>;
          const parts: Part[] = [];
          if ((e.type === 'message' && data.role !== 'user') || e.type === 'thought') {
            if (typeof data.text === 'string' && data.text) parts.push(textPart(data.text));
          }
          parts.push(dataPart({ [BATON_EVENT]: { seq: e.seq, type: e.type, data } }));
          this.#status(bus, taskId, contextId, TaskState.TASK_STATE_WORKING, parts);
          entry.seq = e.seq;
        }
        continue;
      }
      if (item.type !== 'run') continue;
      const run = item.run;
      if (isFinalStatus(run.status)) {
        this.#finish(run, taskId, contextId, bus);
        return;
      }
      const w = run.waiting_for;
      // The request just answered may show a moment longer (a terminal takes the input): go on.
      if (run.status === 'waiting' && w && w.request_id !== answered) {
        this.#status(
          bus,
          taskId,
          contextId,
          TaskState.TASK_STATE_INPUT_REQUIRED,
          w.kind === 'permission'
            ? [
                textPart(permissionText(w.title, w.options)),
                dataPart({ [BATON_PERMISSION]: permissionData(run) }),
              ]
            : [textPart(w.prompt ?? w.title)],
        );
        return;
      }
    }
  }

  /** The end of the task: the result text as artifact, and the final state. */
  #finish(run: RunSummary, taskId: string, contextId: string, bus: ExecutionEventBus): void {
    const text = run.result?.text ?? '';
    if (text) {
      bus.publish(
        AgentEvent.artifactUpdate({
          taskId,
          contextId,
          append: false,
          lastChunk: true,
          metadata: undefined,
          artifact: {
            artifactId: 'result',
            name: 'result',
            description: `the result of baton run ${run.run_id}`,
            parts: [textPart(text)],
            metadata: undefined,
            extensions: [],
          },
        }),
      );
    }
    const state =
      run.status === 'completed'
        ? TaskState.TASK_STATE_COMPLETED
        : run.status === 'cancelled'
          ? TaskState.TASK_STATE_CANCELED
          : TaskState.TASK_STATE_FAILED;
    const why = run.error ? `${run.error.code}: ${run.error.message}` : text || run.status;
    this.#status(bus, taskId, contextId, state, [textPart(why)]);
    this.#tasks.delete(taskId);
  }

  #run(runId: string): Promise<RunSummary> {
    return this.#baton.call<RunSummary>('get_run', { run: runId });
  }
}

function permissionText(title: string, options: PermissionOption[]): string {
  return `Permission needed: ${title}. Reply with one of: ${options.map((o) => `${o.option_id} (${o.name})`).join(', ')}`;
}

function permissionData(run: RunSummary): Record<string, unknown> {
  const w = run.waiting_for;
  return {
    request_id: w?.request_id,
    title: w?.title,
    options: w?.options ?? [],
    ...(w?.tool_call ? { tool_call: w.tool_call } : {}),
    run_id: run.run_id,
  };
}

function agentCard(origin: string, name: string, description: string): AgentCard {
  return AgentCard.fromJSON({
    name,
    description,
    version: VERSION,
    supportedInterfaces: [
      { url: `${origin}/a2a/${name}/jsonrpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
    ],
    capabilities: { streaming: true, pushNotifications: false },
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain', 'application/json'],
    skills: [{ id: name, name, description, tags: ['coding', 'baton'] }],
    provider: { organization: 'baton', url: origin },
    securitySchemes: {
      bearer: {
        httpAuthSecurityScheme: {
          scheme: 'Bearer',
          description: 'the token of this baton (BATON_TOKEN or $BATON_HOME/token)',
        },
      },
    },
    securityRequirements: [{ schemes: { bearer: { list: [] } } }],
  });
}

/** An SSE response of JSON-RPC items; a SendStreamingMessage stream is drained even when the caller leaves (the SDK stores the task's progress while it is read). */
function sse(
  first: IteratorResult<unknown>,
  it: AsyncIterator<unknown>,
  id: unknown,
  drain: boolean,
  headers: Record<string, string>,
): Response {
  const enc = new TextEncoder();
  let timer: NodeJS.Timeout | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(ctl) {
      if (first.done) ctl.close();
      else ctl.enqueue(enc.encode(formatSSEEvent(first.value)));
      timer = setInterval(() => {
        try {
          ctl.enqueue(enc.encode(': keep-alive\n\n'));
        } catch {
          clearInterval(timer);
        }
      }, KEEP_ALIVE_MS);
      timer.unref();
    },
    async pull(ctl) {
      try {
        const r = await it.next();
        if (r.done) {
          clearInterval(timer);
          ctl.close();
        } else ctl.enqueue(enc.encode(formatSSEEvent(r.value)));
      } catch (e) {
        clearInterval(timer);
        ctl.enqueue(
          enc.encode(
            formatSSEErrorEvent({ jsonrpc: '2.0', id, error: JsonRpcTransportHandler.mapToJSONRPCError(e) }),
          ),
        );
        ctl.close();
      }
    },
    cancel() {
      clearInterval(timer);
      if (!drain) {
        void it.return?.(undefined);
        return;
      }
      void (async () => {
        try {
          for (;;) if ((await it.next()).done) break;
        } catch {
          // the SDK marks the task failed
        }
      })();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      ...headers,
    },
  });
}

/**
 * `baton serve --a2a`: every agent of this baton as an A2A agent (one agent card each), behind
 * the bearer token. `GET /a2a` lists them; `/a2a/<agent>/.well-known/agent-card.json` is a card;
 * `POST /a2a/<agent>/jsonrpc` takes A2A v1.0 JSON-RPC (SendMessage, SendStreamingMessage,
 * GetTask, ListTasks, CancelTask, SubscribeToTask). Runs start in `cwd`.
 */
export function mountA2a<E extends { Variables: { by: string } }>(
  app: Hono<E>,
  baton: Baton,
  opts: { cwd: string; requireToken: (c: Context<E>, next: () => Promise<void>) => Promise<void> },
): void {
  const served = new Map<string, { handler: DefaultRequestHandler; rpc: JsonRpcTransportHandler }>();
  const listAgents = async () => (await baton.call<{ agents: AgentInfo[] }>('list_agents')).agents;
  const agentOf = async (c: Context<E>) => {
    const name = c.req.param('agent') ?? '';
    const existing = served.get(name);
    if (existing) return existing;
    // Only this agent is inspected (a card is fetched often; inspecting every agent took seconds).
    const info = await baton
      .call<{ agents: AgentInfo[] }>('list_agents', { name })
      .then((r) => r.agents[0])
      .catch((err: unknown) => {
        if (err instanceof BatonError && err.code === 'AGENT_NOT_FOUND') return undefined;
        throw err;
      });
    if (!info)
      throw new BatonError('AGENT_NOT_FOUND', `this baton has no agent "${name}"; GET /a2a lists them`);
    if (!info.ready) {
      throw new BatonError(
        'AGENT_NOT_READY',
        `agent ${name} is not ready here: ${info.problem ?? ''} ${info.fix ?? ''}`.trim(),
      );
    }
    const card = agentCard(new URL(c.req.url).origin, name, info.description);
    const handler = new DefaultRequestHandler(
      card,
      new BoundedTaskStore(),
      new RunExecutor(baton, name, opts.cwd),
    );
    const entry = { handler, rpc: new JsonRpcTransportHandler(handler) };
    served.set(name, entry);
    return entry;
  };

  app.use('/a2a', opts.requireToken);
  app.use('/a2a/*', opts.requireToken);
  app.get('/a2a', async (c) => {
    const origin = new URL(c.req.url).origin;
    const agents = (await listAgents()).filter((a) => a.ready);
    return c.json({
      agents: agents.map((a) => ({
        name: a.name,
        description: a.description,
        url: `${origin}/a2a/${a.name}/`,
        card: `${origin}/a2a/${a.name}/.well-known/agent-card.json`,
      })),
    });
  });
  app.get('/a2a/:agent/.well-known/agent-card.json', async (c) => {
    const { handler } = await agentOf(c);
    return c.json(AgentCard.toJSON(await handler.getAgentCard()) as Record<string, unknown>, 200, {
      'Cache-Control': 'no-cache',
    });
  });
  app.post('/a2a/:agent/jsonrpc', async (c) => {
    const { handler, rpc } = await agentOf(c);
    const rpcError = (id: unknown, e: unknown) =>
      c.json({ jsonrpc: '2.0', id: id ?? null, error: JsonRpcTransportHandler.mapToJSONRPCError(e) });
    const type = c.req.header('content-type');
    if (type && type.split(';', 1)[0]?.trim().toLowerCase() !== 'application/json') {
      return c.json({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32005, message: `Unsupported Content-Type "${type}"` },
      });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await c.req.text()) as Record<string, unknown>;
    } catch {
      return c.json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Invalid JSON payload.' } });
    }
    const id = body?.id ?? null;
    const ctx = defaultServerCallContextBuilder({
      extensions: Extensions.parseServiceParameter(c.req.header(HTTP_EXTENSION_HEADER)),
      user: USER,
      headers: c.req.header(),
      // Callers that send no version header speak 1.0 (curl, scripts).
      requestedVersion: c.req.header(A2A_VERSION_HEADER) || '1.0',
    });
    try {
      validateVersion(ctx.requestedVersion, await handler.getAgentCard(), 'JSONRPC');
    } catch (e) {
      return rpcError(id, e);
    }
    const out = await rpc.handle(body, ctx);
    const ext: Record<string, string> = ctx.activatedExtensions
      ? { [HTTP_EXTENSION_HEADER]: ctx.activatedExtensions.join(',') }
      : {};
    if (typeof (out as AsyncGenerator)[Symbol.asyncIterator] !== 'function') {
      return c.json(out as Record<string, unknown>, 200, ext);
    }
    const it = (out as AsyncGenerator<unknown>)[Symbol.asyncIterator]();
    let first: IteratorResult<unknown>;
    try {
      first = await it.next();
    } catch (e) {
      return rpcError(id, e);
    }
    return sse(first, it, id, body.method === 'SendStreamingMessage', ext);
  });
}
