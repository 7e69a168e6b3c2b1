import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from './config.js';
import { LazyDriver } from './drivers/lazy.js';
import { Engine } from './engine/engine.js';
import { startWebhooks } from './notify/webhooks.js';
import { Store } from './store/store.js';

/** The engine of the owner process: config, store and engine, wired together. */
export type App = { config: Config; store: Store; engine: Engine; close: () => Promise<void> };

/**
 * Loads the config, opens the store and the engine, and recovers the runs a dead owner left in
 * flight. Only the owner (which holds the owner lock, see `owner/owner.ts`) calls this. Throws
 * INVALID_CONFIG / STORE_ERROR with what to fix.
 */
export function openApp(env: NodeJS.ProcessEnv = process.env): App {
  const config = loadConfig(env);
  const store = new Store(config.home);
  const engine = new Engine({
    config,
    store,
    // The built CLI, offered to agents as an MCP server (`baton mcp`).
    batonMcp: {
      command: process.execPath,
      args: [fileURLToPath(new URL('./cli/main.js', import.meta.url)), 'mcp'],
    },
    drivers: {
      acp: new LazyDriver('acp', async () => new (await import('./drivers/acp/index.js')).AcpDriver(), {
        resumesForeign: true,
      }),
      'claude-code': new LazyDriver(
        'claude-code',
        async () => new (await import('./drivers/claude-code/index.js')).ClaudeCodeDriver(),
        { nativeStructuredOutput: true, policyInProcess: true, takesMaxTurns: true, resumesForeign: true },
      ),
      codex: new LazyDriver(
        'codex',
        async () => new (await import('./drivers/codex/index.js')).CodexDriver(),
        {
          nativeStructuredOutput: true,
          policyInProcess: true,
          resumesForeign: true,
        },
      ),
      a2a: new LazyDriver('a2a', async () => new (await import('./drivers/a2a/index.js')).A2aDriver(), {
        followsRemoteTasks: true,
      }),
      terminal: new LazyDriver(
        'terminal',
        async () => {
          const m = await import('./drivers/terminal/index.js');
          const t = config.terminal;
          return new m.TerminalDriver(
            config.home,
            t.external ? { socket: t.externalSocket ?? m.userTmuxSocket() } : undefined,
            // A program's own hooks (claude-tui) report to this owner through `baton hook`.
            {
              command: process.execPath,
              args: [fileURLToPath(new URL('./cli/main.js', import.meta.url)), 'hook'],
            },
          );
        },
        { adoptsSessions: true, terminal: true, takesCommand: true, promptOptional: true },
      ),
    },
  });
  const log = (message: string) => process.stderr.write(`baton: ${message}\n`);
  engine.store.eventWriter.onError((err, dropped) =>
    log(
      `writing events failed: ${err instanceof Error ? err.message : String(err)}${dropped ? ` (${dropped} events dropped)` : ' (will retry)'}`,
    ),
  );
  engine.onInternalError = (err) => log(`internal error: ${err instanceof Error ? err.stack : String(err)}`);
  engine.recover();
  const stopWebhooks = startWebhooks(engine, config.webhooks, log);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        await engine.shutdown();
      } finally {
        stopWebhooks();
        store.close();
      }
    })();
    return closing;
  };
  return { config, store, engine, close };
}
