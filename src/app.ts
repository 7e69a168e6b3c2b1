import { loadConfig, type Config } from './config.js';
import { LazyDriver } from './drivers/lazy.js';
import { Engine } from './engine/engine.js';
import { ControlClient, serveControl } from './ipc/control.js';
import { killAllChildrenNow } from './process/child.js';
import { startWebhooks } from './notify/webhooks.js';
import { Store } from './store/store.js';

/** A running baton: config, store, engine and control socket, wired together. */
export type App = { config: Config; store: Store; engine: Engine; close: () => Promise<void> };

/**
 * Loads the config, opens the store, recovers runs a dead baton left in flight, and starts the
 * control socket. Throws INVALID_CONFIG / STORE_ERROR with what to fix.
 */
export function openApp(
  env: NodeJS.ProcessEnv = process.env,
  opts: {
    daemon?: boolean;
    /** A long-lived process (daemon, serve, standalone mcp): it takes over remote runs of dead ones. */
    longLived?: boolean;
  } = {},
): App {
  const config = loadConfig(env);
  const store = new Store(config.home);
  const engine = new Engine({
    config,
    store,
    // Started by an agent of another run (its baton mcp): new runs are that run's children.
    parentRun: opts.daemon ? undefined : env.BATON_PARENT_RUN,
    // A sub-agent's `baton mcp` joins the daemon when its parent run is hosted there; otherwise
    // it stays in the agent's process, like the baton that started it.
    ...(opts.daemon ? {} : { childMcpEnv: { BATON_MCP_STANDALONE: '1' } }),
    adoptRemoteRuns: Boolean(opts.daemon || opts.longLived),
    drivers: {
      acp: new LazyDriver('acp', async () => new (await import('./drivers/acp.js')).AcpDriver()),
      'claude-code': new LazyDriver(
        'claude-code',
        async () => new (await import('./drivers/claude-code.js')).ClaudeCodeDriver(),
        { nativeStructuredOutput: true, policyInProcess: true },
      ),
      codex: new LazyDriver('codex', async () => new (await import('./drivers/codex.js')).CodexDriver(), {
        nativeStructuredOutput: true,
        policyInProcess: true,
      }),
      a2a: new LazyDriver('a2a', async () => new (await import('./drivers/a2a.js')).A2aDriver(), {
        followsRemoteTasks: true,
      }),
      terminal: new LazyDriver(
        'terminal',
        async () => new (await import('./drivers/terminal.js')).TerminalDriver(config.home),
      ),
    },
  });
  engine.remote = new ControlClient(config.home);
  engine.recover();
  const log = (message: string) => process.stderr.write(`baton: ${message}\n`);
  engine.store.eventWriter.onError((err, dropped) =>
    log(
      `writing events failed: ${err instanceof Error ? err.message : String(err)}${dropped ? ` (${dropped} events dropped)` : ' (will retry)'}`,
    ),
  );
  engine.onInternalError = (err) => log(`internal error: ${err instanceof Error ? err.stack : String(err)}`);
  const control = serveControl(engine, log);
  // Long-lived processes show other processes' runs live (the dashboard of a serve whose runs the
  // daemon hosts, a daemon with a standalone baton next to it).
  const stopWatching = opts.daemon || opts.longLived ? engine.watchOtherProcesses() : () => undefined;
  const stopWebhooks = startWebhooks(engine, config.webhooks, log);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        await engine.shutdown();
      } finally {
        stopWebhooks();
        stopWatching();
        control.close();
        store.close();
      }
    })();
    return closing;
  };
  return { config, store, engine, close };
}

/**
 * Stops the app cleanly on SIGTERM/SIGINT/SIGHUP (runs become `interrupted`, agents are stopped),
 * and kills every agent process group if the process exits any other way.
 */
export function handleSignals(app: App, onStopped: (code: number) => void): void {
  let count = 0;
  const stop = (signal: NodeJS.Signals) => {
    count++;
    if (count > 1) {
      killAllChildrenNow();
      process.exit(130);
    }
    void app.close().then(
      () => onStopped(signal === 'SIGINT' ? 130 : 0),
      () => onStopped(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', stop);
  process.on('exit', () => killAllChildrenNow());
}
