#!/usr/bin/env node
/**
 * A deterministic ACP agent that follows a JSON scenario. It is baton's test fixture and the
 * built-in `demo` agent. Run: `node scripted-agent.js [--scenario FILE] [--state DIR] [--no-load | --resume-only]`.
 *
 * The steps of a turn come from, in order: a prompt that is itself JSON `{"steps": [...]}`; the
 * first scenario turn whose `match` regex matches the prompt; the scenario's `default` steps.
 * Sessions (the prompts and replies) are kept in `--state` (default `$BATON_SCRIPTED_STATE` or the
 * temp folder) so `session/load` works after the process is gone.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import * as acp from '@agentclientprotocol/sdk/unstable';

/** One scripted step. */
export type Step =
  | { message: string; chunks?: number }
  | { thought: string }
  | { plan: { content: string; status?: 'pending' | 'in_progress' | 'completed' }[] }
  | {
      tool_call: {
        id: string;
        title: string;
        kind?: acp.ToolKind;
        locations?: string[];
        status?: acp.ToolCallStatus;
      };
    }
  | { tool_update: { id: string; status: acp.ToolCallStatus; text?: string } }
  | {
      permission: {
        title: string;
        kind?: acp.ToolKind;
        locations?: string[];
        id?: string;
        allowed?: Step[];
        rejected?: Step[];
      };
    }
  | { write_file: { path: string; content: string } }
  | { read_file: { path: string } }
  | { sleep: number }
  | { crash: { code?: number; stderr?: string } }
  | { hang: true }
  | { ignore_cancel: true }
  | { flood: { chunks: number; text?: string } }
  | { usage: { used: number; size: number; cost?: number } }
  | { prompt_usage: { input: number; output: number } }
  | { stderr: string }
  | { recall: true }
  | { mcp_servers: true }
  /**
   * Calls `tool` on the MCP server `server` it was offered in session/new (or load/resume), with
   * the MCP client SDK (a dev dependency: a test step), and says `<server>.<tool> said: <json>`
   * (the structured result, else the text) or `<server>.<tool> failed: …`. `timeout` (ms, default
   * 10 min) restarts on each progress notification.
   */
  | { mcp_call: { server: string; tool: string; arguments?: Record<string, unknown>; timeout?: number } }
  | { echo: true }
  /** Says what the prompt was, as received: its content blocks and its `_meta` (JSON). */
  | { blocks: true }
  | { stop_reason: acp.StopReason }
  | { late_message: string }
  | { after_turn: { delay: number; steps: Step[] } };

type Scenario = { turns?: { match: string; steps: Step[] }[]; default?: Step[] };
type SessionState = {
  cwd: string;
  history: { role: 'user' | 'agent'; text: string }[];
  /** The MCP servers the client offered in session/new (name and env variable names). */
  mcpServers?: { name: string; env: string[] }[];
};

const args = process.argv.slice(2);
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const here = dirname(fileURLToPath(import.meta.url));
const scenarioFile = argValue('--scenario') ?? join(here, 'scenarios', 'demo.json');
const stateDir = resolve(
  argValue('--state') ?? process.env.BATON_SCRIPTED_STATE ?? join(tmpdir(), 'baton-scripted-agent'),
);
const resumeOnly = args.includes('--resume-only');
const supportsLoad = !args.includes('--no-load') && !resumeOnly;
const scenario = JSON.parse(readFileSync(scenarioFile, 'utf8')) as Scenario;

function sessionFile(id: string): string {
  return join(stateDir, `${id.replace(/[^a-zA-Z0-9_-]/g, '_')}.json`);
}
function loadState(id: string): SessionState | undefined {
  const f = sessionFile(id);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as SessionState) : undefined;
}
function saveState(id: string, state: SessionState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(sessionFile(id), JSON.stringify(state), { mode: 0o600 });
}

function stepsFor(prompt: string): Step[] {
  const trimmed = prompt.trim();
  // A scripted prompt is JSON, alone or followed by text baton added (an output-schema instruction).
  for (const candidate of [trimmed, trimmed.split('\n\n')[0] ?? '']) {
    if (!candidate.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(candidate) as { steps?: Step[] };
      if (Array.isArray(parsed.steps)) return parsed.steps;
    } catch {
      // not a scripted prompt
    }
  }
  for (const turn of scenario.turns ?? []) if (new RegExp(turn.match, 'i').test(prompt)) return turn.steps;
  return scenario.default ?? [{ echo: true }];
}

type Turn = { cancelled: boolean; ignoreCancel: boolean; wake: (() => void) | undefined };
const sessions = new Map<string, SessionState>();
/** The MCP servers offered to each session (kept in memory only: their env may hold secrets). */
const offered = new Map<string, acp.McpServer[]>();
/** The client writes files for it (fs/write_text_file offered); else it writes them itself, as CLIs do. */
let clientWrites = true;
const turns = new Map<string, Turn>();

const app = acp
  .agent({ name: 'baton-scripted-agent' })
  .onRequest(acp.methods.agent.initialize, ({ params }) => {
    clientWrites = params.clientCapabilities?.fs?.writeTextFile === true;
    return {
      protocolVersion: acp.PROTOCOL_VERSION,
      agentCapabilities: {
        loadSession: supportsLoad,
        // Takes embedded resources and images (multipart input); text and resource links are the baseline.
        promptCapabilities: { embeddedContext: true, image: true },
        ...(resumeOnly ? { sessionCapabilities: { resume: {} } } : {}),
      },
      agentInfo: { name: 'baton-scripted-agent', version: '1.0.0' },
    };
  })
  .onRequest(acp.methods.agent.session.new, ({ params }) => {
    const sessionId = `sess-${randomUUID()}`;
    const state: SessionState = {
      cwd: params.cwd,
      history: [],
      mcpServers: params.mcpServers.map((m) => ({
        name: m.name,
        env: 'env' in m && Array.isArray(m.env) ? m.env.map((e) => e.name) : [],
      })),
    };
    sessions.set(sessionId, state);
    offered.set(sessionId, params.mcpServers);
    saveState(sessionId, state);
    return { sessionId };
  })
  .onRequest(acp.methods.agent.session.resume, ({ params }) => {
    // session/resume: the session continues without replaying its history.
    const state = loadState(params.sessionId);
    if (!state || !resumeOnly) throw acp.RequestError.resourceNotFound(params.sessionId);
    sessions.set(params.sessionId, { ...state, cwd: params.cwd });
    offered.set(params.sessionId, params.mcpServers ?? []);
    return {};
  })
  .onRequest(acp.methods.agent.session.load, async ({ params, client }) => {
    const state = loadState(params.sessionId);
    if (!state) throw acp.RequestError.resourceNotFound(params.sessionId);
    // The session goes on in the folder the client names now (the same one, or its copy on another host).
    sessions.set(params.sessionId, { ...state, cwd: params.cwd });
    offered.set(params.sessionId, params.mcpServers);
    for (const h of state.history) {
      await client.notify(acp.methods.client.session.update, {
        sessionId: params.sessionId,
        update: {
          sessionUpdate: h.role === 'user' ? 'user_message_chunk' : 'agent_message_chunk',
          content: { type: 'text', text: h.text },
        },
      });
    }
    return {};
  })
  .onNotification(acp.methods.agent.session.cancel, ({ params }) => {
    const turn = turns.get(params.sessionId);
    if (turn && !turn.ignoreCancel) {
      turn.cancelled = true;
      turn.wake?.();
    }
  })
  .onRequest(acp.methods.agent.session.prompt, async ({ params, client }) => {
    const sessionId = params.sessionId;
    const state = sessions.get(sessionId);
    if (!state) throw acp.RequestError.resourceNotFound(sessionId);
    const prompt = params.prompt.map((b) => (b.type === 'text' ? b.text : '')).join('');
    const turn: Turn = { cancelled: false, ignoreCancel: false, wake: undefined };
    turns.set(sessionId, turn);
    const earlier = state.history.filter((h) => h.role === 'user').map((h) => h.text);
    state.history.push({ role: 'user', text: prompt });
    saveState(sessionId, state);
    const replies: string[] = [];
    let stopReason: acp.StopReason = 'end_turn';
    let promptUsage: acp.Usage | undefined;
    const late: string[] = [];
    const afterTurn: { delay: number; steps: Step[] }[] = [];

    const update = (u: acp.SessionUpdate) =>
      client.notify(acp.methods.client.session.update, { sessionId, update: u });
    const say = async (text: string, chunks = 1) => {
      replies.push(text);
      const size = Math.max(1, Math.ceil(text.length / chunks));
      for (let i = 0; i < text.length; i += size) {
        await update({
          sessionUpdate: 'agent_message_chunk',
          content: { type: 'text', text: text.slice(i, i + size) },
        });
      }
    };
    const pause = (ms: number) =>
      new Promise<void>((r) => {
        const timer = setTimeout(r, ms);
        turn.wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    // Not normalized: the path goes to the client exactly as a careless or hostile agent would send it.
    const abs = (p: string) => (isAbsolute(p) ? p : `${state.cwd}/${p}`);

    const run = async (steps: Step[]): Promise<void> => {
      for (const step of steps) {
        if (turn.cancelled) return;
        if ('message' in step) await say(step.message, step.chunks);
        else if ('thought' in step)
          await update({
            sessionUpdate: 'agent_thought_chunk',
            content: { type: 'text', text: step.thought },
          });
        else if ('plan' in step)
          await update({
            sessionUpdate: 'plan',
            entries: step.plan.map((e) => ({
              content: e.content,
              priority: 'medium',
              status: e.status ?? 'pending',
            })),
          });
        else if ('tool_call' in step)
          await update({
            sessionUpdate: 'tool_call',
            toolCallId: step.tool_call.id,
            title: step.tool_call.title,
            kind: step.tool_call.kind ?? 'other',
            status: step.tool_call.status ?? 'pending',
            locations: (step.tool_call.locations ?? []).map((p) => ({ path: abs(p) })),
          });
        else if ('tool_update' in step)
          await update({
            sessionUpdate: 'tool_call_update',
            toolCallId: step.tool_update.id,
            status: step.tool_update.status,
            ...(step.tool_update.text
              ? { content: [{ type: 'content', content: { type: 'text', text: step.tool_update.text } }] }
              : {}),
          });
        else if ('permission' in step) {
          const p = step.permission;
          const toolCallId = p.id ?? `perm-${randomUUID().slice(0, 8)}`;
          const res: acp.RequestPermissionResponse = await client.request(
            acp.methods.client.session.requestPermission,
            {
              sessionId,
              toolCall: {
                toolCallId,
                title: p.title,
                kind: p.kind ?? 'edit',
                locations: (p.locations ?? []).map((l) => ({ path: abs(l) })),
              },
              options: [
                { optionId: 'allow_once', name: 'Allow', kind: 'allow_once' },
                { optionId: 'allow_always', name: 'Always allow', kind: 'allow_always' },
                { optionId: 'reject_once', name: 'Reject', kind: 'reject_once' },
              ],
            },
          );
          const allowed = res.outcome.outcome === 'selected' && res.outcome.optionId.startsWith('allow');
          await update({
            sessionUpdate: 'tool_call_update',
            toolCallId,
            status: allowed ? 'in_progress' : 'failed',
          });
          if (res.outcome.outcome === 'cancelled') return;
          await run((allowed ? p.allowed : p.rejected) ?? []);
          if (allowed) await update({ sessionUpdate: 'tool_call_update', toolCallId, status: 'completed' });
        } else if ('write_file' in step) {
          if (clientWrites)
            await client.request(acp.methods.client.fs.writeTextFile, {
              sessionId,
              path: abs(step.write_file.path),
              content: step.write_file.content,
            });
          else writeFileSync(abs(step.write_file.path), step.write_file.content);
        } else if ('read_file' in step) {
          const res = await client.request(acp.methods.client.fs.readTextFile, {
            sessionId,
            path: abs(step.read_file.path),
          });
          await say(res.content);
        } else if ('sleep' in step) await pause(step.sleep);
        else if ('crash' in step) {
          if (step.crash.stderr) process.stderr.write(`${step.crash.stderr}\n`);
          process.exit(step.crash.code ?? 1);
        } else if ('hang' in step) {
          while (!turn.cancelled) await pause(3_600_000);
        } else if ('ignore_cancel' in step) turn.ignoreCancel = true;
        else if ('flood' in step) {
          const text = step.flood.text ?? 'x';
          for (let i = 0; i < step.flood.chunks; i++) {
            void update({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text } });
          }
          replies.push(text.repeat(step.flood.chunks));
        } else if ('usage' in step)
          await update({
            sessionUpdate: 'usage_update',
            used: step.usage.used,
            size: step.usage.size,
            ...(step.usage.cost !== undefined ? { cost: { amount: step.usage.cost, currency: 'USD' } } : {}),
          });
        else if ('prompt_usage' in step)
          promptUsage = {
            inputTokens: step.prompt_usage.input,
            outputTokens: step.prompt_usage.output,
            totalTokens: step.prompt_usage.input + step.prompt_usage.output,
          };
        else if ('stderr' in step) process.stderr.write(`${step.stderr}\n`);
        else if ('recall' in step)
          await say(earlier.length ? `I remember: ${earlier.join(' | ')}` : 'I remember nothing yet.');
        else if ('echo' in step) await say(`You said: ${prompt}`);
        else if ('blocks' in step)
          await say(`Blocks: ${JSON.stringify({ blocks: params.prompt, meta: params._meta ?? null })}`);
        else if ('mcp_servers' in step) await say(`MCP servers: ${JSON.stringify(state.mcpServers ?? [])}`);
        else if ('mcp_call' in step) {
          const abort = new AbortController();
          turn.wake = () => abort.abort();
          const { server, tool } = step.mcp_call;
          // Shown as a tool call while it runs, as real agents show their MCP calls.
          const toolCallId = `mcp-${randomUUID().slice(0, 8)}`;
          await update({
            sessionUpdate: 'tool_call',
            toolCallId,
            title: `${server}.${tool}`,
            kind: 'other',
            status: 'in_progress',
          });
          let failed = false;
          try {
            const said = await callMcpTool(offered.get(sessionId) ?? [], step.mcp_call, abort.signal);
            await say(`${server}.${tool} said: ${said}`);
          } catch (err) {
            failed = true;
            await say(`${server}.${tool} failed: ${err instanceof Error ? err.message : String(err)}`);
          } finally {
            turn.wake = undefined;
          }
          await update({
            sessionUpdate: 'tool_call_update',
            toolCallId,
            status: failed ? 'failed' : 'completed',
          });
        } else if ('stop_reason' in step) stopReason = step.stop_reason;
        else if ('late_message' in step) late.push(step.late_message);
        else if ('after_turn' in step) afterTurn.push(step.after_turn);
      }
    };

    try {
      // A multipart prompt: its first text block may be the script.
      const first = params.prompt.find((b) => b.type === 'text');
      await run(stepsFor(params.prompt.length > 1 && first?.type === 'text' ? first.text : prompt));
    } finally {
      turns.delete(sessionId);
      state.history.push({ role: 'agent', text: replies.join('') });
      saveState(sessionId, state);
    }
    if (late.length) {
      // Updates after the response, as real agents send them.
      setTimeout(() => {
        for (const text of late)
          void update({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text } });
      }, 1);
    }
    for (const a of afterTurn) {
      // Steps run long after the response: an agent acting outside any turn.
      setTimeout(() => void run(a.steps).catch(() => undefined), a.delay);
    }
    return {
      stopReason: turn.cancelled ? 'cancelled' : stopReason,
      ...(promptUsage ? { usage: promptUsage } : {}),
    };
  });

/**
 * One tool call on an offered stdio MCP server, as an agent makes it: the server's command with
 * this process's environment plus the entry's. Returns the structured result (else the text) as
 * JSON; throws when the tool reports an error or the server is not offered.
 */
async function callMcpTool(
  servers: acp.McpServer[],
  call: { server: string; tool: string; arguments?: Record<string, unknown>; timeout?: number },
  signal: AbortSignal,
): Promise<string> {
  const entry = servers.find((m) => m.name === call.server);
  if (!entry)
    throw new Error(
      `no MCP server "${call.server}" was offered (${servers.map((m) => m.name).join(', ') || 'none'})`,
    );
  if ('type' in entry)
    throw new Error(`MCP server "${call.server}" is ${entry.type}; this step speaks stdio only`);
  // The MCP client SDK is a dev dependency: only the tests' fixture agent takes this step.
  const [{ Client }, { StdioClientTransport }] = await Promise.all([
    import('@modelcontextprotocol/client'),
    import('@modelcontextprotocol/client/stdio'),
  ]).catch((err: unknown) => {
    throw new Error(
      `the mcp_call step needs the MCP client SDK (@modelcontextprotocol/client, a dev dependency of baton): ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const e of entry.env) env[e.name] = e.value;
  const client = new Client({ name: 'baton-scripted-agent', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({ command: entry.command, args: entry.args, env, stderr: 'ignore' }),
  );
  try {
    const res = await client.callTool(
      { name: call.tool, arguments: call.arguments ?? {} },
      { timeout: call.timeout ?? 600_000, resetTimeoutOnProgress: true, onprogress: () => undefined, signal },
    );
    const text =
      res.structuredContent !== undefined
        ? JSON.stringify(res.structuredContent)
        : (res.content as { type: string; text?: string }[]).map((c) => c.text ?? '').join('');
    if (res.isError) throw new Error(text);
    return text;
  } finally {
    await client.close();
  }
}

const stream = acp.ndJsonStream(
  Writable.toWeb(process.stdout) as WritableStream<Uint8Array>,
  Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>,
);
const connection = app.connect(stream);
void connection.closed.then(() => process.exit(0));
process.stdin.on('end', () => process.exit(0));
