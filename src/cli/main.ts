#!/usr/bin/env node
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { openApp, type App } from '../app.js';
import {
  PERMISSION_POLICIES,
  RUN_STATUSES,
  isFinalStatus,
  type RunStatus,
  type RunSummary,
} from '../engine/types.js';
import { BatonError, toBatonError } from '../errors.js';
import { VERSION } from '../version.js';
import { formatDuration } from '../duration.js';
import { tmuxSocket } from '../drivers/terminal.js';
import { verificationOf } from '../engine/verify.js';
import { findExecutable, readVersion } from '../process/which.js';
import { spawnSync } from 'node:child_process';
import { runMcpStdio } from './mcp.js';
import { registerDaemonCommands } from './daemon.js';
import { DaemonControl, sameVersion } from '../daemon/client.js';
import { runMcpFront } from '../daemon/front.js';
import { resolveHome } from '../config.js';
import {
  bold,
  cyan,
  dim,
  err,
  formatAgents,
  formatEvent,
  formatRun,
  formatRunLine,
  green,
  out,
  statusWord,
} from './print.js';

/** Exit codes: 0 completed / ok, 1 the run did not complete or an operation failed, 2 bad input. */
const EXIT_BAD_INPUT = 2;
const BAD_INPUT_CODES = new Set([
  'INVALID_PARAMS',
  'INVALID_CONFIG',
  'RUN_NOT_FOUND',
  'AGENT_NOT_FOUND',
  'CWD_NOT_ALLOWED',
  'CWD_NOT_FOUND',
  'LABEL_TAKEN',
  'OPTION_NOT_FOUND',
  'SESSION_NOT_FOUND',
]);

function fail(e: unknown, json: boolean): never {
  const be = toBatonError(e);
  if (json) out(JSON.stringify({ error: be.toJSON() }));
  err(`baton: ${be.code}: ${be.message}`);
  process.exit(BAD_INPUT_CODES.has(be.code) ? EXIT_BAD_INPUT : 1);
}

/** Runs a command body with an open app, closing it afterwards and turning errors into exit codes. */
async function withApp(json: boolean, body: (app: App) => Promise<number | void>): Promise<void> {
  let app: App | undefined;
  try {
    app = openApp();
    const code = await body(app);
    await app.close();
    process.exit(code ?? 0);
  } catch (e) {
    await app?.close().catch(() => undefined);
    fail(e, json);
  }
}

const program = new Command();
program
  .name('baton')
  .description(
    'Orchestration server for coding agents: spawn, watch, answer, follow up and cancel agent runs.',
  )
  .version(VERSION, '-v, --version')
  .showHelpAfterError();

program
  .command('mcp')
  .description(
    'MCP server on stdio (what an MCP host launches): relays to the baton daemon, starting it when needed, so runs outlive the host',
  )
  .option('--standalone', 'serve in this process instead (runs end with it); also BATON_MCP_STANDALONE=1')
  .action(async (opts: { standalone?: boolean }) => {
    try {
      if (opts.standalone || process.env.BATON_MCP_STANDALONE === '1') await runMcpStdio();
      else await runMcpFront(resolveHome(), process.env.BATON_PARENT_RUN || undefined);
    } catch (e) {
      fail(e, false);
    }
  });

registerDaemonCommands(program, fail);

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
        const { runServe } = await import('./serve.js');
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

program
  .command('run')
  .description('start a run and follow it until it ends (asks you when the agent needs a permission)')
  .argument('<agent>', 'agent name (baton agents lists them)')
  .argument('<prompt...>', 'what the agent should do')
  .option('--cwd <dir>', 'working directory (default: the current directory)')
  .option('--label <label>', 'unique name for the run')
  .option('--timeout <duration>', 'e.g. 90s, 5m, 1h')
  .addOption(
    new Option('--policy <policy>', 'how permission prompts are answered').choices([...PERMISSION_POLICIES]),
  )
  .option('--model <model>', 'model, when the agent offers a choice')
  .option('--json', 'print the final run summary as JSON')
  .action(async (agent: string, promptWords: string[], opts) => {
    const json = Boolean(opts.json);
    await withApp(json, async (app) => followNewRun(app, agent, promptWords.join(' '), opts, json));
  });

program
  .command('ls')
  .description('list runs, newest first')
  .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'JSON output')
  .action(async (opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const page = engine.listRuns({
        status: opts.status as RunStatus | undefined,
        limit: Number(opts.limit),
      });
      const totals = engine.usageTotals();
      if (opts.json) out(JSON.stringify({ ...page, totals }));
      else if (page.runs.length === 0) out(dim('no runs yet: try  baton run demo "hello"'));
      else {
        for (const r of page.runs) out(formatRunLine(r));
        const u = totals.usage;
        const tokens = u.total_tokens ?? (u.input_tokens ?? 0) + (u.output_tokens ?? 0);
        out(
          dim(
            `all ${totals.runs} runs: ${tokens.toLocaleString()} tokens${u.cost_usd ? `, $${u.cost_usd.toFixed(4)}` : ''}`,
          ),
        );
      }
    });
  });

program
  .command('show')
  .description("one run's summary")
  .argument('<run>', 'run id or label')
  .option('--json', 'JSON output')
  .action(async (ref: string, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const r = engine.getRun(ref);
      out(opts.json ? JSON.stringify(r) : formatRun(r));
    });
  });

program
  .command('logs')
  .description("a run's events")
  .argument('<run>', 'run id or label')
  .option('-f, --follow', 'keep printing new events until the run ends')
  .option('--json', 'one JSON event per line')
  .action(async (ref: string, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const runId = engine.resolveRun(ref).id;
      let after = 0;
      for (;;) {
        const page = engine.getEvents(runId, { after_seq: after, limit: 500 });
        for (const e of page.events) {
          if (opts.json) out(JSON.stringify(e));
          else {
            const line = formatEvent(e);
            if (line !== undefined) out(line);
          }
        }
        after = page.next_seq;
        if (page.has_more) continue;
        if (!opts.follow || isFinalStatus(engine.getRun(runId).status)) {
          // One last page: events written together with the final status.
          if (opts.follow) {
            const rest = engine.getEvents(runId, { after_seq: after, limit: 1000 });
            for (const e of rest.events) {
              const line = opts.json ? JSON.stringify(e) : formatEvent(e);
              if (line !== undefined) out(line);
            }
          }
          return;
        }
        // The run is hosted by another baton process: read its new events from the store.
        await new Promise((r) => setTimeout(r, 250));
      }
    });
  });

program
  .command('approve')
  .description('answer the pending permission request of a run (default: allow once)')
  .argument('<run>', 'run id or label')
  .argument('[option_id]', 'the option to choose (baton show lists them)')
  .option('--json', 'JSON output')
  .action(async (ref: string, optionId: string | undefined, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const r = await answer(engine, ref, optionId, ['allow_once', 'allow_always']);
      out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
    });
  });

program
  .command('deny')
  .description('reject the pending permission request of a run')
  .argument('<run>', 'run id or label')
  .option('--json', 'JSON output')
  .action(async (ref: string, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const r = await answer(engine, ref, undefined, ['reject_once', 'reject_always']);
      out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
    });
  });

program
  .command('cancel')
  .description('cancel a run')
  .argument('<run>', 'run id or label')
  .option('--force', 'kill at once instead of asking the agent to stop first')
  .option('--json', 'JSON output')
  .action(async (ref: string, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const r = await engine.cancelRun(ref, Boolean(opts.force));
      out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
    });
  });

program
  .command('diff')
  .description('what a run changed in its git work tree (unified diff)')
  .argument('<run>', 'run id or label')
  .argument('[path]', 'one file, relative to the repository root')
  .action(async (ref: string, path: string | undefined) => {
    await withApp(false, async ({ engine }) => {
      let offset = 0;
      for (;;) {
        const page = await engine.getDiff(ref, { ...(path ? { path } : {}), offset, limit: 1_048_576 });
        process.stdout.write(page.diff);
        if (page.next_offset === undefined) return;
        offset = page.next_offset;
      }
    });
  });

program
  .command('discard')
  .description('remove the git work tree and branch of a finished worktree run')
  .argument('<run>', 'run id or label')
  .option('--json', 'JSON output')
  .action(async (ref: string, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      const r = await engine.discardRun(ref);
      out(opts.json ? JSON.stringify(r) : `removed ${r.path} and branch ${r.branch}`);
    });
  });

program
  .command('verify')
  .description("review a run's changes read-only against its task (or --task) and print the verdict")
  .argument('<run>', 'run id or label')
  .option('--task <text>', "what the work must do (default: the run's prompt)")
  .option('--agent <name>', "the reviewer (default: the run's agent)")
  .option('--json', 'JSON output')
  .action(async (ref: string, opts) => {
    await withApp(Boolean(opts.json), async ({ engine }) => {
      let r = await engine.verifyRun({ run: ref, task: opts.task, agent: opts.agent });
      while (!r.verdict) {
        await engine.waitRuns({ runs: [r.run_id], until: 'finished' });
        const done = engine.getRun(r.run_id);
        if (isFinalStatus(done.status)) {
          r = {
            ...r,
            status: done.status,
            ...(done.result?.verification ?? verificationOf(done.status, done.result, done.error)),
          };
        }
      }
      if (opts.json) out(JSON.stringify(r));
      else {
        out(`${bold(r.verdict)} (review run ${r.run_id})`);
        for (const f of r.findings ?? []) out(`  ${f.severity}: ${f.message}${f.path ? ` (${f.path})` : ''}`);
        if (r.evidence?.length) out(`  evidence: ${r.evidence.join(', ')}`);
      }
      if (r.verdict !== 'pass' && r.verdict !== 'pass_with_restrictions') process.exitCode = 1;
    });
  });

program
  .command('attach')
  .description("attach this terminal to a terminal run's tmux session (read-only unless --write)")
  .argument('<run>', 'run id or label')
  .option('--write', 'take over: your keystrokes go to the program')
  .action(async (ref: string, opts) => {
    await withApp(false, async ({ engine, config, store }) => {
      const row = engine.resolveRun(ref);
      const session = store.sessions.get(row.session_id);
      if (isFinalStatus(row.status) || !session?.agent_session_id) {
        throw new BatonError(
          'RUN_FINISHED',
          `run ${row.id} is ${row.status}: it has no live terminal (read_terminal shows its last screen)`,
        );
      }
      if (!process.stdin.isTTY) {
        throw new BatonError('INVALID_PARAMS', 'baton attach needs a terminal (stdin is not a TTY)');
      }
      err(dim(`attaching ${opts.write ? '' : 'read-only '}to ${row.id}; detach with Ctrl-b d`));
      const args = ['-L', tmuxSocket(config.home), 'attach-session', ...(opts.write ? [] : ['-r'])];
      const r = spawnSync('tmux', [...args, '-t', session.agent_session_id], { stdio: 'inherit' });
      if (r.error) throw new BatonError('AGENT_NOT_INSTALLED', `tmux: ${r.error.message}`);
      if (r.status) process.exitCode = r.status;
    });
  });

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
      await withApp(Boolean(opts.json), async ({ engine, config, store }) => {
        const agents = await engine.listAgents();
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
                ? { home: config.home, config: config.configPath, store: store.file, tmux, agents }
                : { agents },
            ),
          );
          return;
        }
        if (withFix) {
          out(`${bold('baton')} ${VERSION} on Node ${process.version}`);
          out(`home      ${config.home}`);
          out(`config    ${config.configPath}`);
          out(`database  ${store.file} ${green('ok')}`);
          out(`roots     ${config.roots.join(', ')}`);
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
    await withApp(false, async (app) => {
      const cli = process.argv[1] ?? 'dist/cli/main.js';
      out(`${bold('baton')} ${VERSION} is set up: database ${app.store.file}`);
      out('');
      out('Self-check with the built-in demo agent (no API key needed):');
      const code = await followNewRun(
        app,
        'demo',
        'Say hello to the new baton user',
        { policy: 'ask', cwd: app.config.roots[0] },
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

async function answer(
  engine: App['engine'],
  ref: string,
  optionId: string | undefined,
  kinds: string[],
): Promise<RunSummary> {
  const run = engine.getRun(ref);
  if (!run.waiting_for) {
    throw new BatonError('RUN_NOT_WAITING', `run ${run.run_id} is ${run.status}, not waiting for an answer`);
  }
  let choice = optionId;
  if (!choice) {
    const opt = kinds.map((k) => run.waiting_for?.options.find((o) => o.kind === k)).find(Boolean);
    if (!opt) {
      throw new BatonError(
        'OPTION_NOT_FOUND',
        `the request offers no ${kinds.join('/')} option; pass one of: ${run.waiting_for.options.map((o) => o.option_id).join(', ')}`,
      );
    }
    choice = opt.option_id;
  }
  return engine.answerPermission(run.run_id, choice, run.waiting_for.request_id, 'cli');
}

/**
 * Starts a run and follows it: prints events as they are stored, asks the person at the terminal
 * when a permission request arrives (stdin a TTY), and resolves with the exit code.
 */
async function followNewRun(
  app: App,
  agent: string,
  prompt: string,
  opts: { cwd?: string; label?: string; timeout?: string; policy?: string; model?: string },
  json: boolean,
): Promise<number> {
  const { engine } = app;
  const input = {
    agent,
    cwd: opts.cwd ?? process.cwd(),
    prompt,
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.timeout ? { timeout: opts.timeout } : {}),
    ...(opts.policy ? { policy: opts.policy as (typeof PERMISSION_POLICIES)[number] } : {}),
    ...(opts.model ? { model: opts.model } : {}),
  };
  // With a daemon running, the run is the daemon's: it goes on if this command is stopped.
  const daemon = await DaemonControl.open(app.config.home).catch(() => undefined);
  let run: RunSummary;
  if (daemon && sameVersion(daemon.welcome)) {
    try {
      run = await daemon.request<RunSummary>({ op: 'spawn_run', input });
    } finally {
      daemon.close();
    }
  } else {
    daemon?.close();
    run = await engine.spawnRun(input);
  }
  const runId = run.run_id;
  const hosted = Boolean(daemon && sameVersion(daemon.welcome));
  const interactive = process.stdin.isTTY === true && !json;
  if (!json) {
    err(
      dim(
        `run ${runId} started (${agent})${hosted ? ` in the baton daemon (pid ${daemon?.welcome.pid})` : ''}; Ctrl-C cancels`,
      ),
    );
  }
  let printed = 0;
  // A status line on the terminal (stderr), redrawn every 250 ms and cleared before each printed event.
  const live = process.stderr.isTTY === true && !json;
  const startedAt = Date.now();
  let frame = 0;
  let paused = false;
  const clearStatus = () => {
    if (live) process.stderr.write('\r\x1b[2K');
  };
  const drawStatus = () => {
    if (!live || paused) return;
    const s = engine.getRun(runId);
    const spin = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[frame++ % 10];
    process.stderr.write(
      `\r\x1b[2K${dim(`${spin} ${runId} ${s.status} ${formatDuration(Date.now() - startedAt)}`)}`,
    );
  };
  const statusTimer = live ? setInterval(drawStatus, 250) : undefined;
  const printNew = () => {
    if (json) return;
    clearStatus();
    for (;;) {
      const page = engine.getEvents(runId, { after_seq: printed, limit: 500 });
      for (const e of page.events) {
        if (e.type === 'message' && e.data.role === 'user') continue;
        const line = formatEvent(e);
        if (line !== undefined) out(line);
      }
      printed = page.next_seq;
      if (!page.has_more) break;
    }
  };
  let asking: string | undefined;
  const ask = async (summary: RunSummary) => {
    const w = summary.waiting_for;
    if (!w || asking === w.request_id) return;
    asking = w.request_id;
    if (!interactive) {
      if (!json) err(cyan(`waiting for an answer: baton approve ${runId}  |  baton deny ${runId}`));
      return;
    }
    paused = true;
    clearStatus();
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      w.options.forEach((o, i) => err(`  ${i + 1}) ${o.name} ${dim(`[${o.option_id}]`)}`));
      const reply = (await rl.question(cyan(`Answer for "${w.title}" [1-${w.options.length}]: `))).trim();
      const picked = w.options[Number(reply) - 1] ?? w.options.find((o) => o.option_id === reply);
      const chosen = picked ?? w.options.find((o) => o.kind === 'reject_once') ?? w.options[0];
      if (chosen && engine.getRun(runId).waiting_for?.request_id === w.request_id) {
        await engine.answerPermission(runId, chosen.option_id, w.request_id, 'cli');
      }
    } finally {
      rl.close();
      paused = false;
    }
  };
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    err(dim(interrupts > 1 ? 'killing the run…' : 'cancelling the run… (Ctrl-C again to kill it)'));
    void engine.cancelRun(runId, interrupts > 1).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  const onEvents = (id: string) => {
    if (id === runId) printNew();
  };
  engine.bus.on('events', onEvents);
  try {
    const final = await new Promise<RunSummary>((resolve) => {
      const check = (id: string) => {
        if (id !== runId) return;
        const s = engine.getRun(runId);
        if (isFinalStatus(s.status)) {
          engine.bus.off('run', check);
          resolve(s);
        } else if (s.status === 'waiting') void ask(s);
      };
      engine.bus.on('run', check);
      check(runId);
      // A run the daemon hosts: its events reach this process through the store only.
      if (hosted) {
        const poll = setInterval(() => {
          printNew();
          check(runId);
          if (isFinalStatus(engine.getRun(runId).status)) clearInterval(poll);
        }, 250);
      }
    });
    printNew();
    if (json) out(JSON.stringify(final));
    else {
      const usage = final.result?.usage;
      const tokens =
        usage?.input_tokens !== undefined
          ? ` · ${usage.input_tokens} in / ${usage.output_tokens ?? 0} out tokens`
          : '';
      err(`${statusWord(final.status)} ${dim(`${runId}${tokens}`)}`);
      if (final.error) err(`${final.error.code}: ${final.error.message}`);
    }
    return final.status === 'completed' ? 0 : 1;
  } finally {
    if (statusTimer) clearInterval(statusTimer);
    clearStatus();
    engine.bus.off('events', onEvents);
    process.off('SIGINT', onSigint);
  }
}

await program.parseAsync(process.argv);
