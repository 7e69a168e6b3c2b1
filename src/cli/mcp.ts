import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { handleSignals, openApp } from '../app.js';
import { buildMcpServer } from '../mcp/server.js';

/**
 * `baton mcp`: the MCP server on stdio. stdout carries only the protocol; logs go to stderr.
 * Ends when the host closes stdin or on SIGTERM/SIGINT; runs in flight become `interrupted`.
 */
export async function runMcpStdio(): Promise<void> {
  const app = openApp(process.env, { longLived: true });
  const built: { dispose: () => void }[] = [];
  const handle = serveStdio(
    () => {
      const b = buildMcpServer(app.engine);
      built.push(b);
      return b.server;
    },
    {
      onerror: (err) =>
        process.stderr.write(`baton mcp: ${err instanceof Error ? err.message : String(err)}\n`),
    },
  );
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const b of built) b.dispose();
    await Promise.resolve(handle.close()).catch(() => undefined);
    await app.close();
    process.exit(code);
  };
  handleSignals(app, (code) => void stop(code));
  process.stdin.on('end', () => void stop(0));
  process.stdin.on('close', () => void stop(0));
}
