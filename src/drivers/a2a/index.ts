import { randomUUID } from 'node:crypto';
import { Message, TaskState, type Part, type StreamResponse, type TaskStatus } from '@a2a-js/sdk';
import {
  ClientFactory,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  RestTransportFactory,
  type Client,
} from '@a2a-js/sdk/client';
import { BATON_EVENT, BATON_PERMISSION, BATON_ROLE, dataField, partsJson, textOf } from '../../a2a/parts.js';
import type { ChildEnd } from '../../process/child.js';
import { BatonError, toBatonError } from '../../errors.js';
import type {
  AgentSession,
  Driver,
  DriverEvent,
  OpenOptions,
  PermissionAsk,
  TurnOptions,
  TurnOutcome,
  TurnSink,
} from '../driver.js';
import { z } from 'zod';
import { PERMISSION_OPTION_KINDS, type PermissionOption } from '../../engine/types.js';

/** A 401/403 from the remote side, thrown by the fetch wrapper so every call reports it alike. */
class RefusedToken extends Error {}

/** Largest body a remote agent may answer (a card, a JSON-RPC result), and longest line of a stream. */
export const MAX_REMOTE_BODY = 16 * 1024 * 1024;

/**
 * `res` with its body bounded: past {@link MAX_REMOTE_BODY} bytes (for an event stream, in one
 * line) the body fails, so a remote that sends a huge card or answer cannot fill baton's memory.
 */
function bounded(res: Response, origin: string): Response {
  if (!res.body) return res;
  const stream = (res.headers.get('content-type') ?? '').includes('text/event-stream');
  let size = 0;
  const limit = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      const nl = stream ? chunk.lastIndexOf(10) : -1;
      size = nl < 0 ? size + chunk.length : chunk.length - nl - 1;
      if (size > MAX_REMOTE_BODY) {
        out.error(
          new BatonError(
            'AGENT_ERROR',
            `${origin} sent ${stream ? 'an event longer' : 'an answer larger'} than ${MAX_REMOTE_BODY} bytes; baton stopped reading it`,
          ),
        );
        return;
      }
      out.enqueue(chunk);
    },
  });
  return new Response(res.body.pipeThrough(limit), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

function authFetch(headers: Record<string, string>): typeof fetch {
  return async (input, init) => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    const res = await fetch(input, { ...init, headers: h });
    const url = input instanceof Request ? input.url : String(input);
    if (res.status === 401 || res.status === 403) {
      throw new RefusedToken(`${new URL(url).origin} refused the token (HTTP ${res.status})`);
    }
    return bounded(res, new URL(url).origin);
  };
}

/** The object under `key` in a data part (a nested baton's event or permission request). */
function dataOf(parts: Part[] | undefined, key: string): Record<string, unknown> | undefined {
  const v = dataField(parts, key);
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
}

const stateName = (s: TaskState) => (TaskState[s] ?? String(s)).replace(/^TASK_STATE_/, '').toLowerCase();

/** One normalized event of a nested baton run, as the calling run records it (undefined: skipped). */
function nestedEvent(e: Record<string, unknown>): DriverEvent | undefined {
  const data = (e.data ?? {}) as Record<string, unknown>;
  switch (e.type) {
    case 'message':
      return data.role === 'user' || typeof data.text !== 'string'
        ? undefined
        : { type: 'message_chunk', text: data.text };
    case 'thought':
      return typeof data.text === 'string' ? { type: 'thought_chunk', text: data.text } : undefined;
    case 'tool_call':
    case 'tool_update': {
      // Paths are the remote machine's: not files of this run.
      const { locations, ...rest } = data;
      return { type: e.type, data: locations ? { ...rest, remote_locations: locations } : rest };
    }
    case 'plan':
      return { type: 'plan', data };
    case 'usage':
      return { type: 'usage', usage: data };
    default:
      return undefined;
  }
}

type Step =
  | { kind: 'done'; outcome: TurnOutcome }
  | { kind: 'input'; prompt: string; ask?: PermissionAsk }
  | { kind: 'ended' };

type TurnState = { nested: boolean; answered: boolean };

/** Turns a failure of the remote side into a BatonError that says what to fix. */
function remoteError(err: unknown, agent: string, url: string): BatonError {
  if (err instanceof BatonError) return err;
  if (err instanceof RefusedToken) {
    return new BatonError(
      'AGENT_NOT_READY',
      `remote agent ${agent}: ${err.message}. Fix: set agents.${agent}.token (or token_env) to the token of the baton at ${url}`,
    );
  }
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.cause?.code === 'ECONNREFUSED' || e?.message === 'fetch failed') {
    return new BatonError(
      'AGENT_ERROR',
      `remote agent ${agent}: cannot reach ${url} (${e.cause?.message ?? e.message}). Fix: start the remote baton (baton serve --a2a) or correct agents.${agent}.url`,
    );
  }
  if (e?.name === 'AbortError') return new BatonError('INTERRUPTED', `remote agent ${agent}: stopped`);
  return new BatonError('AGENT_ERROR', `remote agent ${agent}: ${toBatonError(err).message}`);
}

/** One conversation (A2A context) with a remote agent; each prompt is one remote task. */
class A2aSession implements AgentSession {
  readonly agentSessionId: string;
  readonly pid = 0;
  readonly pidStart = undefined;
  readonly capabilities = { load: false, resume: true };
  readonly notes: string[] = [];
  readonly exited: Promise<{ end: ChildEnd; stderrTail: string }>;
  readonly #client: Client;
  readonly #agent: string;
  readonly #url: string;
  #resolveExit!: (v: { end: ChildEnd; stderrTail: string }) => void;
  #taskId: string | undefined;
  #abort = new AbortController();
  #waiter: { resolve: (text: string) => void; reject: (err: Error) => void } | undefined;
  #closed = false;

  constructor(client: Client, contextId: string, agent: string, url: string) {
    this.#client = client;
    this.agentSessionId = contextId;
    this.#agent = agent;
    this.#url = url;
    this.exited = new Promise((r) => (this.#resolveExit = r));
  }

  prompt(text: string, sink: TurnSink, options: TurnOptions = {}): Promise<TurnOutcome> {
    this.#taskId = undefined;
    return this.#turn(sink, this.#send(text, undefined, options), false);
  }

  followTask(taskId: string, sink: TurnSink): Promise<TurnOutcome> {
    this.#taskId = taskId;
    return this.#turn(sink, this.#resubscribe(taskId), true);
  }

  async reply(text: string): Promise<void> {
    const w = this.#waiter;
    if (!w) throw new BatonError('RUN_NOT_WAITING', `remote agent ${this.#agent} is not waiting for input`);
    this.#waiter = undefined;
    w.resolve(text);
  }

  async cancel(): Promise<void> {
    this.#waiter?.reject(new BatonError('INTERRUPTED', 'cancelled while waiting for input'));
    this.#waiter = undefined;
    const id = this.#taskId;
    if (!id) return;
    await this.#client
      .cancelTask({ tenant: '', id, metadata: {} }, { signal: AbortSignal.timeout(10_000) })
      .catch(() => undefined);
  }

  async close(): Promise<ChildEnd> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort();
      this.#waiter?.reject(new BatonError('INTERRUPTED', 'the session was closed'));
      this.#waiter = undefined;
      this.#resolveExit({ end: { code: 0, signal: null }, stderrTail: '' });
    }
    return { code: 0, signal: null };
  }

  /** Sends a message: `text` (or the turn's parts), `data` as a data part, the role as metadata. */
  #send(
    text: string,
    data?: Record<string, unknown>,
    options: TurnOptions = {},
  ): AsyncGenerator<StreamResponse> {
    const message = Message.fromJSON({
      messageId: randomUUID(),
      role: 'ROLE_USER',
      parts: [...(options.parts ? partsJson(options.parts) : [{ text }]), ...(data ? [{ data }] : [])],
      ...(options.role ? { metadata: { [BATON_ROLE]: options.role } } : {}),
      contextId: this.agentSessionId,
      ...(this.#taskId ? { taskId: this.#taskId } : {}),
    });
    return this.#client.sendMessageStream(
      { tenant: '', message, configuration: undefined, metadata: undefined },
      { signal: this.#abort.signal },
    );
  }

  #resubscribe(taskId: string): AsyncGenerator<StreamResponse> {
    return this.#client.resubscribeTask({ tenant: '', id: taskId }, { signal: this.#abort.signal });
  }

  /** One baton turn: the remote task from start (or from now, when followed again) to its end. */
  async #turn(
    sink: TurnSink,
    first: AsyncGenerator<StreamResponse>,
    following: boolean,
  ): Promise<TurnOutcome> {
    const st: TurnState = { nested: false, answered: false };
    let stream = first;
    let snapshotCounts = following;
    let reconnects = 0;
    try {
      for (;;) {
        const step = await this.#consume(stream, sink, st, snapshotCounts);
        snapshotCounts = false;
        if (step.kind === 'done') return step.outcome;
        if (step.kind === 'ended') {
          // The stream dropped before the task ended: follow the task again (a few times).
          const id = this.#taskId;
          if (!id || this.#closed || reconnects >= 3) {
            throw new BatonError(
              'AGENT_ERROR',
              `remote agent ${this.#agent}: the task stream ended before the task did`,
            );
          }
          await new Promise((r) => setTimeout(r, 500 * 2 ** reconnects++));
          stream = this.#resubscribe(id);
          snapshotCounts = true;
          continue;
        }
        reconnects = 0;
        if (step.ask) {
          const answer = await sink.requestPermission(step.ask, this.#abort.signal);
          if (answer.outcome !== 'selected') return { stop_reason: 'cancelled' };
          const option = step.ask.options.find((o) => o.option_id === answer.option_id);
          stream = this.#send(option?.name ?? answer.option_id, { option_id: answer.option_id });
        } else {
          sink.setInputWaiting?.({ prompt: step.prompt });
          const text = await new Promise<string>((resolve, reject) => (this.#waiter = { resolve, reject }));
          sink.setInputWaiting?.(undefined);
          stream = this.#send(text);
        }
      }
    } catch (err) {
      throw remoteError(err, this.#agent, this.#url);
    }
  }

  async #consume(
    stream: AsyncGenerator<StreamResponse>,
    sink: TurnSink,
    st: TurnState,
    snapshotCounts: boolean,
  ): Promise<Step> {
    for await (const ev of stream) {
      const p = ev.payload;
      if (!p) continue;
      if (p.$case === 'task') {
        this.#noteTask(p.value.id, sink);
        // A task snapshot repeats the state the task was in; only a followed-again task acts on it.
        if (snapshotCounts && p.value.status) {
          const step = this.#onStatus(p.value.status, sink, st);
          if (step) return step;
        }
        snapshotCounts = false;
      } else if (p.$case === 'statusUpdate') {
        this.#noteTask(p.value.taskId, sink);
        if (!p.value.status) continue;
        const step = this.#onStatus(p.value.status, sink, st);
        if (step) return step;
      } else if (p.$case === 'artifactUpdate') {
        if (st.nested) continue;
        const text = textOf(p.value.artifact?.parts);
        if (text) {
          st.answered = true;
          sink.emit({ type: 'message_chunk', text });
        }
      } else if (p.$case === 'message') {
        const text = textOf(p.value.parts);
        if (text) sink.emit({ type: 'message_chunk', text });
        return { kind: 'done', outcome: { stop_reason: 'end_turn' } };
      }
    }
    return { kind: 'ended' };
  }

  #noteTask(id: string, sink: TurnSink): void {
    if (!id || id === this.#taskId) return;
    this.#taskId = id;
    sink.setRemoteTask?.(id);
  }

  #onStatus(status: TaskStatus, sink: TurnSink, st: TurnState): Step | undefined {
    const parts = status.message?.parts;
    const nested = dataOf(parts, BATON_EVENT);
    if (nested) {
      st.nested = true;
      const e = nestedEvent(nested);
      if (e) sink.emit(e);
    }
    const text = textOf(parts);
    switch (status.state) {
      case TaskState.TASK_STATE_SUBMITTED:
      case TaskState.TASK_STATE_WORKING:
        if (text && !nested) sink.emit({ type: 'thought_chunk', text });
        return undefined;
      case TaskState.TASK_STATE_INPUT_REQUIRED: {
        const perm = dataOf(parts, BATON_PERMISSION);
        const options = remoteOptions(perm?.options);
        if (perm && options.length > 0) {
          const title = typeof perm.title === 'string' ? perm.title : text;
          const { locations, ...toolCall } = remoteToolCall(perm.tool_call);
          return {
            kind: 'input',
            prompt: text,
            ask: {
              title: `${this.#agent}: ${title}`,
              tool_call: {
                ...toolCall,
                ...(locations ? { remote_locations: locations } : {}),
              },
              options,
            },
          };
        }
        return { kind: 'input', prompt: text || 'the remote agent asks for input' };
      }
      case TaskState.TASK_STATE_AUTH_REQUIRED:
        return { kind: 'input', prompt: `the remote agent needs authentication${text ? `: ${text}` : ''}` };
      case TaskState.TASK_STATE_COMPLETED:
        if (text && !st.nested && !st.answered) sink.emit({ type: 'message_chunk', text });
        return { kind: 'done', outcome: { stop_reason: 'end_turn' } };
      case TaskState.TASK_STATE_CANCELED:
        return { kind: 'done', outcome: { stop_reason: 'cancelled' } };
      case TaskState.TASK_STATE_FAILED:
      case TaskState.TASK_STATE_REJECTED:
        throw new BatonError(
          'AGENT_ERROR',
          `remote agent ${this.#agent}: task ${stateName(status.state)}${text ? `: ${text}` : ''}`,
        );
      default:
        return undefined;
    }
  }
}

/** Agents on other machines over the Agent2Agent protocol (v1.0, JSON-RPC or HTTP+JSON). */
export class A2aDriver implements Driver {
  readonly name = 'a2a';
  readonly nativeStructuredOutput = false;
  readonly policyInProcess = false;
  readonly followsRemoteTasks = true;

  async open(options: OpenOptions): Promise<AgentSession> {
    const remote = options.agent.remote;
    if (!remote) {
      throw new BatonError('INVALID_CONFIG', `agent ${options.agent.name}: an a2a agent needs a url`);
    }
    // The card is at <url>/.well-known/agent-card.json: the base URL must end with a slash.
    const base = remote.url.endsWith('/') ? remote.url : `${remote.url}/`;
    const fetchImpl = authFetch(remote.headers);
    const factory = new ClientFactory({
      transports: [new JsonRpcTransportFactory({ fetchImpl }), new RestTransportFactory({ fetchImpl })],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl }),
    });
    let client: Client;
    try {
      client = await factory.createFromUrl(base);
    } catch (err) {
      throw remoteError(err, options.agent.name, base);
    }
    return new A2aSession(client, options.resumeSessionId ?? randomUUID(), options.agent.name, base);
  }
}

/** One permission option as a remote baton sends it; anything else is dropped. */
const remoteOption = z.object({
  option_id: z.string().min(1).max(200),
  name: z.string().max(500).optional(),
  kind: z.enum(PERMISSION_OPTION_KINDS),
});

/**
 * A remote agent's permission options, validated: an option without a string id or with an
 * unknown kind is dropped (its kind decides what a policy picks, and the dashboard shows it).
 */
function remoteOptions(value: unknown): PermissionOption[] {
  if (!Array.isArray(value)) return [];
  const out: PermissionOption[] = [];
  for (const item of value.slice(0, 20)) {
    const o = remoteOption.safeParse(item);
    if (o.success)
      out.push({ option_id: o.data.option_id, name: o.data.name ?? o.data.option_id, kind: o.data.kind });
  }
  return out;
}

/** The string fields of a remote tool call (others dropped); `locations` kept as the remote's. */
function remoteToolCall(value: unknown): PermissionAsk['tool_call'] & { locations?: unknown } {
  const t = value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const out: PermissionAsk['tool_call'] & { locations?: unknown } = {};
  for (const key of ['tool_call_id', 'kind', 'title'] as const) {
    const v = t[key];
    if (typeof v === 'string') out[key] = v;
  }
  if ('raw_input' in t) out.raw_input = t.raw_input;
  if (Array.isArray(t.locations)) out.locations = t.locations.filter((l) => typeof l === 'string');
  return out;
}
