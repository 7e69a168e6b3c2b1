// The real agent CLIs as MCP hosts of baton, registered exactly as the README says
// (`claude mcp add …`, `gemini mcp add …`), offline: the scripted model server makes the host call
// baton's spawn_run (directive CALL_TOOL), baton runs its demo agent, and the run is in baton's store.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer } from './fixtures/model-server.mjs';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import {
  CLI,
  eventually,
  makeEnv,
  pidsWithEnv,
  runCli,
  stopDaemon,
  type Summary,
  type TestEnv,
} from './helpers.js';

/** Runs a CLI with stdin closed; resolves with its exit code and output. */
function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

type Host = {
  name: string;
  /** The README's registration command (after the CLI path), for baton state in `batonHome`. */
  register: (cli: string, batonHome: string) => string[];
  /** What the README adds for headless use, after registering. */
  afterRegister?: (home: string) => void;
  /** The one-shot prompt command (after the CLI path). */
  prompt: (text: string) => string[];
};

const HOSTS: Host[] = [
  {
    name: 'claude-code',
    register: (cli) => ['mcp', 'add', '--scope', 'user', 'baton', '--', process.execPath, cli, 'mcp'],
    // -p mode asks nobody: the one baton tool the test needs is allowed up front.
    prompt: (text) => ['-p', text, '--output-format', 'json', '--allowedTools', 'mcp__baton__spawn_run'],
  },
  {
    name: 'gemini',
    register: (cli) => ['mcp', 'add', '-s', 'user', 'baton', process.execPath, cli, 'mcp'],
    prompt: (text) => ['-p', text, '-o', 'json', '--approval-mode', 'yolo'],
  },
  {
    // codex 0.169 offers MCP tools through its client-side `tool_search`: the model server
    // searches, then calls the tool in its `mcp__baton` namespace.
    name: 'codex',
    // codex hands an MCP server only a few variables of its own environment: BATON_HOME is passed
    // explicitly (only needed when it is not the default ~/.baton).
    register: (cli, batonHome) => [
      'mcp',
      'add',
      'baton',
      '--env',
      `BATON_HOME=${batonHome}`,
      '--',
      process.execPath,
      cli,
      'mcp',
    ],
    // `codex exec` asks nobody: "MCP tool call requires approval, but approval policy is never".
    afterRegister: (home) => {
      const file = join(home, '.codex', 'config.toml');
      const toml = readFileSync(file, 'utf8');
      expect(toml).toContain('[mcp_servers.baton]\n');
      writeFileSync(
        file,
        toml.replace(
          '[mcp_servers.baton]\n',
          '[mcp_servers.baton]\ndefault_tools_approval_mode = "approve"\n',
        ),
      );
    },
    prompt: (text) => ['exec', '--json', '--skip-git-repo-check', text],
  },
];

describe.each(HOSTS)('$name as an MCP host of baton (offline)', (host) => {
  let model: ModelServer;
  let t: TestEnv;
  let hostHome: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    model = await startModelServer();
  });
  afterAll(async () => {
    await model?.close();
  });
  beforeEach(() => {
    model.requests.length = 0;
    t = makeEnv();
    hostHome = join(t.dir, 'host-home');
    mkdirSync(hostHome);
    setupAgentHome(host.name, hostHome, model.url);
    const cfg = realAgentConfig(host.name, hostHome, model.url) as { env: Record<string, string> };
    // The host's environment reaches the `baton mcp` it starts: BATON_HOME says which baton.
    env = { ...t.env, ...cfg.env, BATON_HOME: t.home };
  });
  afterEach(async () => {
    // The host's `baton mcp` started a daemon with the host's environment: it outlives the host
    // by design, so stop it before looking for leftovers.
    stopDaemon(t.home);
    await eventually(() => pidsWithEnv(hostHome).length === 0, 10_000);
    t.cleanup();
  });

  it('registers baton with the README line, calls spawn_run, and baton runs the agent', async () => {
    const cli = realAgentConfig(host.name, hostHome, model.url).command as string;
    const added = await run(cli, host.register(CLI, t.home), env, t.work);
    expect(added.code, added.stderr + added.stdout).toBe(0);
    host.afterRegister?.(hostHome);

    const args = { agent: 'demo', cwd: t.work, prompt: 'hello from the host', label: 'via-host' };
    const res = await run(cli, host.prompt(`CALL_TOOL spawn_run ${JSON.stringify(args)}`), env, t.work);
    expect(res.code, res.stderr.slice(-2000)).toBe(0);

    // The model saw baton's tools offered by the host, called spawn_run, and got the run summary back.
    const call = model.requests.find((r) => r.reply?.type === 'call_tool');
    expect(call, 'a request that offered spawn_run').toBeDefined();
    const said = model.requests
      .map((r) => (r.reply?.type === 'text' ? r.reply.text : ''))
      .find((text) => text.startsWith('tool said:'));
    // The plain tool's result (the run summary), not an MCP task: these hosts (codex and gemini on
    // the 2025 protocol, `claude -p` a non-interactive session) do not declare io.modelcontextprotocol/tasks.
    expect(said, JSON.stringify(model.requests.map((r) => r.reply))).toMatch(
      /"run_id\\?":\\?"r_[A-Za-z0-9]+/,
    );
    expect(said).not.toMatch(/server-side task|resultType/);
    expect(res.stdout).toContain('tool said:');

    // The run is in baton's store (the same BATON_HOME), and the demo agent answered it.
    const ls = await runCli(t, ['show', 'via-host', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    const shown = JSON.parse(ls.stdout) as Summary;
    expect(shown).toMatchObject({ agent: 'demo', label: 'via-host', cwd: t.work });
    // Its status depends on how fast the host stopped its `baton mcp` (which hosts the run): any.
    expect(shown.run_id).toMatch(/^r_/);
  });
});
