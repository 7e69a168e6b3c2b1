import { randomUUID } from 'node:crypto';
import {
  WebStandardStreamableHTTPServerTransport,
  createMcpHandler,
  isLegacyRequest,
} from '@modelcontextprotocol/server';
import type { Baton } from '../ops/baton.js';
import { buildMcpServer } from '../mcp/server.js';

/** Largest MCP request body read (a prompt may be up to 4 MB of UTF-8). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** A 2025 session nobody used for this long is closed (its client re-initializes on a 404). */
const SESSION_IDLE_MS = 60 * 60_000;
/** Most 2025 sessions kept at once; the least recently used one goes first. */
const MAX_SESSIONS = 256;

type LegacySession = {
  transport: WebStandardStreamableHTTPServerTransport;
  close: () => Promise<void>;
  lastSeen: number;
};

/** The `/mcp` endpoint: `fetch` answers a request; `close` ends every session. */
export type McpEndpoint = { fetch: (req: Request) => Promise<Response>; close: () => Promise<void> };

function jsonRpcError(status: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/**
 * MCP over streamable HTTP for both protocol eras. 2026-07-28 clients are served per request
 * (stateless by design; resource changes reach `subscriptions/listen` streams through the
 * handler's bus). 2025 clients get stateful sessions (`Mcp-Session-Id`): one MCP server per
 * session, so server-to-client requests such as elicitation and resource subscriptions work.
 */
export function createMcpEndpoint(baton: Baton): McpEndpoint {
  const modern = createMcpHandler(() => buildMcpServer(baton, { subscriptions: false }).server, {
    legacy: 'reject',
    maxRequestBodySize: MAX_BODY_BYTES,
    onerror: () => undefined,
  });
  const onRun = (runId: string) => {
    modern.notify.resourceUpdated(`baton://runs/${runId}`);
    modern.notify.resourceUpdated('baton://runs');
  };
  const onEvents = (runId: string) => modern.notify.resourceUpdated(`baton://runs/${runId}/events`);
  const stopWatching = baton.watch(
    (change) => {
      if (change.type === 'run') onRun(change.run_id);
      else if (change.type === 'events') onEvents(change.run_id);
      else if (change.type === 'reset') modern.notify.resourceUpdated('baton://runs');
    },
    { events: false },
  );

  const sessions = new Map<string, LegacySession>();
  const closeSession = async (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    await s.close();
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, s] of sessions) if (now - s.lastSeen > SESSION_IDLE_MS) void closeSession(id);
  }, 60_000);
  sweep.unref();

  const legacy = async (req: Request): Promise<Response> => {
    const sid = req.headers.get('mcp-session-id');
    if (sid) {
      const s = sessions.get(sid);
      if (!s)
        return jsonRpcError(
          404,
          `no MCP session ${sid} (it ended or the server restarted); initialize again`,
        );
      s.lastSeen = Date.now();
      return s.transport.handleRequest(req);
    }
    // A new session: its own MCP server, kept once the client's initialize succeeds.
    const built = buildMcpServer(baton);
    const close = async () => {
      built.dispose();
      await built.server.close().catch(() => undefined);
    };
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        if (sessions.size >= MAX_SESSIONS) {
          const oldest = [...sessions.entries()].sort((a, b) => a[1].lastSeen - b[1].lastSeen)[0];
          if (oldest) void closeSession(oldest[0]);
        }
        sessions.set(id, { transport, close, lastSeen: Date.now() });
      },
      onsessionclosed: (id) => void closeSession(id),
    });
    await built.server.connect(transport);
    const res = await transport.handleRequest(req);
    if (!transport.sessionId || !sessions.has(transport.sessionId)) await close();
    return res;
  };

  return {
    // Classified under the same body bound as the modern handler (else 4-8 MB bodies of 2025
    // clients would be routed to it).
    fetch: async (req) =>
      (await isLegacyRequest(req.clone(), undefined, { maxRequestBodySize: MAX_BODY_BYTES }))
        ? legacy(req)
        : modern.fetch(req),
    close: async () => {
      clearInterval(sweep);
      stopWatching();
      await Promise.all([...sessions.keys()].map(closeSession));
      await modern.close();
    },
  };
}
