#!/usr/bin/env node
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import {
  PERMISSION_POLICIES,
  RUN_STATUSES,
  isFinalStatus,
  type RunEvent,
  type RunStatus,
  type RunSummary,
} from '../engine/types.js';
import { BatonError, toBatonError } from '../errors.js';
import { VERSION } from '../version.js';
import { formatDuration } from '../duration.js';
import { verificationOf } from '../engine/verify.js';
import { findExecutable, readVersion } from '../process/which.js';
import { spawnSync } from 'node:child_process';
import { runMcpStdio } from './mcp.js';
import { registerDaemonCommands } from './daemon.js';
import { loadConfig, resolveHome } from '../config.js';
import type { AgentInfo } from '../agents/catalog.js';
import type { Baton } from '../ops/baton.js';
import { follow } from '../ops/follow.js';
import { OwnerClient } from '../owner/client.js';
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

/**
 * Runs a command body as a front of the owner of `BATON_HOME` (the daemon, started when none
 * runs), closing the connection afterwards and turning errors into exit codes. The config is
 * checked here first, so a bad one is reported with its key (INVALID_CONFIG) before anything
 * starts. A sub-agent's CLI (`BATON_PARENT_RUN`) says so to the owner: its runs are that run's
 * children, and `delegation.max_depth` holds.
 */
async function withBaton(json: boolean, body: (baton: Baton) => Promise<number | void>): Promise<void> {
  let baton: OwnerClient | undefined;
  try {
    loadConfig();
    baton = new OwnerClient(
      resolveHome(),
      { kind: 'cli', parentRun: process.env.BATON_PARENT_RUN || undefined },
      { beforeStart: () => loadConfig() },
    );
    const code = await body(baton);
    baton.close();
    process.exit(code ?? 0);
  } catch (e) {
    baton?.close();
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
    'MCP server on stdio (what an MCP host launches): a front of the baton daemon, started when needed, so runs outlive the host',
  )
  .option(
    '--standalone',
    'own the runs in this process instead (runs end with it; refused while a daemon owns BATON_HOME)',
  )
  .action(async (opts: { standalone?: boolean }) => {
    try {
      await runMcpStdio({ standalone: Boolean(opts.standalone) });
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
    await withBaton(json, async (baton) => followNewRun(baton, agent, promptWords.join(' '), opts, json));
  });

program
  .command('ls')
  .description('list runs, newest first')
  .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'JSON output')
  .action(async (opts) => {
    await withBaton(Boolean(opts.json), async (baton) => {
      if (!/^\d+$/.test(String(opts.limit)) || Number(opts.limit) < 1 || Number(opts.limit) > 200) {
        throw new BatonError(
          'INVALID_PARAMS',
          `limit must be a whole number from 1 to 200 (got ${String(opts.limit)})`,
        );
      }
      const page = await baton.call<{ runs: RunSummary[]; next_cursor?: string }>('list_runs', {
        ...(opts.status ? { status: opts.status as RunStatus } : {}),
        limit: Number(opts.limit),
      });
      const totals = await baton.call<{
        runs: number;
        usage: NonNullable<RunSummary['result']>['usage'] & object;
      }>('usage_totals');
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
    await withBaton(Boolean(opts.json), async (baton) => {
      const r = await baton.call<RunSummary>('get_run', { run: ref });
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
    await withBaton(Boolean(opts.json), async (baton) => {
      const print = (e: RunEvent) => {
        const line = opts.json ? JSON.stringify(e) : formatEvent(e);
        if (line !== undefined) out(line);
      };
      if (!opts.follow) {
        const run = await baton.call<RunSummary>('get_run', { run: ref });
        let after = 0;
        for (;;) {
          const page = await baton.call<{ events: RunEvent[]; next_seq: number; has_more: boolean }>(
            'get_events',
            { run: run.run_id, after_seq: after, limit: 500 },
          );
          page.events.forEach(print);
          after = page.next_seq;
          if (!page.has_more) return;
        }
      }
      for await (const item of follow(baton, ref)) if (item.type === 'events') item.events.forEach(print);
    });
  });

program
  .command('approve')
  .description('answer the pending permission request of a run (default: allow once)')
  .argument('<run>', 'run id or label')
  .argument('[option_id]', 'the option to choose (baton show lists them)')
  .option('--json', 'JSON output')
  .action(async (ref: string, optionId: string | undefined, opts) => {
    await withBaton(Boolean(opts.json), async (baton) => {
      const r = await answer(baton, ref, optionId, ['allow_once', 'allow_always']);
      out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
    });
  });

program
  .command('deny')
  .description('reject the pending permission request of a run')
  .argument('<run>', 'run id or label')
  .option('--json', 'JSON output')
  .action(async (ref: string, opts) => {
    await withBaton(Boolean(opts.json), async (baton) => {
      const r = await answer(baton, ref, undefined, ['reject_once', 'reject_always']);
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
    await withBaton(Boolean(opts.json), async (baton) => {
      const r = await baton.call<RunSummary>('cancel_run', { run: ref, force: Boolean(opts.force) });
      out(opts.json ? JSON.stringify(r) : `${r.run_id} ${statusWord(r.status)}`);
    });
  });

program
  .command('diff')
  .description('what a run changed in its git work tree (unified diff)')
  .argument('<run>', 'run id or label')
  .argument('[path]', 'one file, relative to the repository root')
  .action(async (ref: string, path: string | undefined) => {
    await withBaton(false, async (baton) => {
      let offset = 0;
      for (;;) {
        const page = await baton.call<{ diff: string; next_offset?: number }>('get_diff', {
          run: ref,
          ...(path ? { path } : {}),
          offset,
          limit: 1_048_576,
        });
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
    await withBaton(Boolean(opts.json), async (baton) => {
      const r = await baton.call<{ path: string; branch: string }>('discard_run', { run: ref });
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
    await withBaton(Boolean(opts.json), async (baton) => {
      let r = await baton.call<VerifyResult>('verify_run', {
        run: ref,
        ...(opts.task ? { task: opts.task } : {}),
        ...(opts.agent ? { agent: opts.agent } : {}),
      });
      while (!r.verdict) {
        await baton.call('wait_run', { runs: [r.run_id], until: 'finished' });
        const done = await baton.call<RunSummary>('get_run', { run: r.run_id });
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
    await withBaton(false, async (baton) => {
      const target = await baton.call<{ run_id: string; socket: string; session: string }>(
        'terminal_target',
        { run: ref },
      );
      if (!process.stdin.isTTY) {
        throw new BatonError('INVALID_PARAMS', 'baton attach needs a terminal (stdin is not a TTY)');
      }
      err(dim(`attaching ${opts.write ? '' : 'read-only '}to ${target.run_id}; detach with Ctrl-b d`));
      const args = ['-L', target.socket, 'attach-session', ...(opts.write ? [] : ['-r'])];
      const r = spawnSync('tmux', [...args, '-t', target.session], { stdio: 'inherit' });
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

/**
 * Who answers from this command line: `cli` (a person) when stdin is a terminal and no agent of a
 * baton run started it, else `script` (a program, as approver "caller" accepts and "human" does not).
 */
function cliChannel(): 'cli' | 'script' {
  return process.stdin.isTTY === true && !process.env.BATON_PARENT_RUN ? 'cli' : 'script';
}

type VerifyResult = {
  run_id: string;
  status?: string;
  verdict?: string;
  findings?: { severity: string; message: string; path?: string }[];
  evidence?: string[];
};

async function answer(
  baton: Baton,
  ref: string,
  optionId: string | undefined,
  kinds: string[],
): Promise<RunSummary> {
  const run = await baton.call<RunSummary>('get_run', { run: ref });
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
  return baton.call<RunSummary>(
    'answer_permission',
    { run: run.run_id, option_id: choice, request_id: run.waiting_for.request_id },
    { via: cliChannel() },
  );
}

/**
 * Starts a run on the owner and follows it: prints events as they are stored, asks the person at
 * the terminal when a permission request arrives (stdin a TTY), and resolves with the exit code.
 * The run is the owner's: it goes on if this command is killed; Ctrl-C cancels it.
 */
async function followNewRun(
  baton: Baton,
  agent: string,
  prompt: string,
  opts: { cwd?: string; label?: string; timeout?: string; policy?: string; model?: string },
  json: boolean,
): Promise<number> {
  const input = {
    agent,
    cwd: opts.cwd ?? process.cwd(),
    prompt,
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.timeout ? { timeout: opts.timeout } : {}),
    ...(opts.policy ? { policy: opts.policy as (typeof PERMISSION_POLICIES)[number] } : {}),
    ...(opts.model ? { model: opts.model } : {}),
  };
  const run = await baton.call<RunSummary>('spawn_run', input, { via: cliChannel() });
  const runId = run.run_id;
  const interactive = process.stdin.isTTY === true && !json;
  if (!json) {
    const pid = baton instanceof OwnerClient ? baton.welcome?.pid : process.pid;
    err(dim(`run ${runId} started (${agent}) in the baton daemon (pid ${pid}); Ctrl-C cancels`));
  }
  // A status line on the terminal (stderr), redrawn every 250 ms and cleared before each printed event.
  const live = process.stderr.isTTY === true && !json;
  const startedAt = Date.now();
  let frame = 0;
  let paused = false;
  let status: string = run.status;
  const clearStatus = () => {
    if (live) process.stderr.write('\r\x1b[2K');
  };
  const drawStatus = () => {
    if (!live || paused) return;
    const spin = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[frame++ % 10];
    process.stderr.write(
      `\r\x1b[2K${dim(`${spin} ${runId} ${status} ${formatDuration(Date.now() - startedAt)}`)}`,
    );
  };
  const statusTimer = live ? setInterval(drawStatus, 250) : undefined;
  const printEvents = (events: RunEvent[]) => {
    if (json) return;
    clearStatus();
    for (const e of events) {
      if (e.type === 'message' && e.data.role === 'user') continue;
      const line = formatEvent(e);
      if (line !== undefined) out(line);
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
      const now = await baton.call<RunSummary>('get_run', { run: runId });
      if (chosen && now.waiting_for?.request_id === w.request_id) {
        await baton.call(
          'answer_permission',
          { run: runId, option_id: chosen.option_id, request_id: w.request_id },
          { via: cliChannel() },
        );
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
    void baton.call('cancel_run', { run: runId, force: interrupts > 1 }).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  try {
    let final: RunSummary | undefined;
    for await (const item of follow(baton, runId)) {
      if (item.type === 'events') printEvents(item.events);
      else {
        status = item.run.status;
        if (isFinalStatus(item.run.status)) final = item.run;
        else if (item.run.status === 'waiting') void ask(item.run);
      }
    }
    final ??= await baton.call<RunSummary>('get_run', { run: runId });
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
    process.off('SIGINT', onSigint);
  }
}

await program.parseAsync(process.argv);
