import { Command } from 'commander';
import { BatonError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { findExecutable, readVersion } from '../../process/which.js';
import type { AgentInfo } from '../../agents/catalog.js';
import { bold, formatAgents, green, out } from '../print.js';
import { fail, withBaton } from '../front.js';
import { followNewRun } from '../follow-run.js';

/** Registers mcp, serve, agents, doctor and start. */
export function registerSetupCommands(program: Command): void {
  program
    .command('mcp')
    .description(
      'MCP server on stdio (what an MCP host launches): a front of the baton daemon, started when needed, so runs outlive the host',
    )
    .option(
      '--standalone',
      'own the runs in this process instead (runs end with it; refused while a daemon owns BATON_HOME)',
    )
    .action(async (opts: { standalone?: boolean }) => {
      try {
        await (await import('../mcp.js')).runMcpStdio({ standalone: Boolean(opts.standalone) });
      } catch (e) {
        fail(e, false);
      }
    });

  program
    .command('serve')
    .description(
      'HTTP server: dashboard at /, MCP at /mcp, REST + SSE at /api, and with --a2a the agents over A2A (bearer token)',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free one)', '7420')
    .option(
      '--allow-remote',
      'allow a non-loopback --host (anyone who can reach it with the token can run agents)',
    )
    .option('--a2a', "also serve this baton's agents over A2A at /a2a/<agent>/ (same token)")
    .option('--a2a-cwd <dir>', 'where runs started over A2A work (default: the first root)')
    .action(
      async (opts: { host: string; port: string; allowRemote?: boolean; a2a?: boolean; a2aCwd?: string }) => {
        try {
          const port = Number(opts.port);
          if (!Number.isInteger(port) || port < 0 || port > 65535) {
            throw new BatonError(
              'INVALID_PARAMS',
              `--port must be a whole number from 0 to 65535 (got ${opts.port})`,
            );
          }
          // Loaded on demand: the HTTP stack (hono, the A2A SDK) is not needed by `baton mcp`.
          const { runServe } = await import('../serve.js');
          await runServe({
            host: opts.host,
            port,
            allowRemote: Boolean(opts.allowRemote),
            a2a: Boolean(opts.a2a),
            ...(opts.a2aCwd ? { a2aCwd: opts.a2aCwd } : {}),
          });
        } catch (e) {
          fail(e, false);
        }
      },
    );

  for (const [name, withFix] of [
    ['agents', false],
    ['doctor', true],
  ] as const) {
    program
      .command(name)
      .description(
        withFix
          ? 'check the setup: state folder, database, config, and each agent (installed? version? the fix when not)'
          : 'the agents baton knows and whether each is ready',
      )
      .option('--json', 'JSON output')
      .action(async (opts) => {
        await withBaton(Boolean(opts.json), async (baton) => {
          const { agents } = await baton.call<{ agents: AgentInfo[] }>('list_agents');
          const info = withFix
            ? await baton.call<{ home: string; config: string; store: string; roots: string[] }>('owner_info')
            : undefined;
          // tmux is what terminal agents run in.
          const tmuxPath = findExecutable('tmux');
          const tmux = {
            installed: Boolean(tmuxPath),
            ...(tmuxPath ? { version: (await readVersion(tmuxPath, ['-V']))?.replace(/^tmux\s+/, '') } : {}),
            ...(tmuxPath
              ? {}
              : { fix: 'install tmux (apt-get install tmux, brew install tmux) to run terminal agents' }),
          };
          if (opts.json) {
            out(
              JSON.stringify(
                withFix
                  ? { home: info?.home, config: info?.config, store: info?.store, tmux, agents }
                  : { agents },
              ),
            );
            return;
          }
          if (withFix) {
            out(`${bold('baton')} ${VERSION} on Node ${process.version}`);
            out(`home      ${info?.home ?? ''}`);
            out(`config    ${info?.config ?? ''}`);
            out(`database  ${info?.store ?? ''} ${green('ok')}`);
            out(`roots     ${info?.roots.join(', ') ?? ''}`);
            out(
              `tmux      ${tmux.installed ? `${tmux.version ?? ''} ${green('ok')}` : `not installed: ${tmux.fix}`}`,
            );
            out('');
          }
          out(formatAgents(agents, withFix));
        });
      });
  }

  program
    .command('start')
    .description(
      'set up the state folder, check everything with a demo run, and print how to connect an MCP host',
    )
    .action(async () => {
      await withBaton(false, async (baton) => {
        const cli = process.argv[1] ?? 'dist/cli/main.js';
        const info = await baton.call<{ store: string; roots: string[]; pid: number }>('owner_info');
        out(
          `${bold('baton')} ${VERSION} is set up: database ${info.store} (owned by the baton daemon, pid ${info.pid})`,
        );
        out('');
        out('Self-check with the built-in demo agent (no API key needed):');
        const code = await followNewRun(
          baton,
          'demo',
          'Say hello to the new baton user',
          { policy: 'ask', ...(info.roots[0] ? { cwd: info.roots[0] } : {}) },
          false,
        );
        out('');
        out(bold('Connect an MCP host to baton:'));
        out(`  Claude Code:  claude mcp add baton -- ${process.execPath} ${cli} mcp`);
        out(`  Codex:        codex mcp add baton -- ${process.execPath} ${cli} mcp`);
        out(
          `  JSON config:  {"mcpServers": {"baton": {"command": "${process.execPath}", "args": ["${cli}", "mcp"]}}}`,
        );
        out('');
        out(`Try it here:  node ${cli} run demo "write a file"   (then: node ${cli} ls)`);
        return code;
      });
    });
}
