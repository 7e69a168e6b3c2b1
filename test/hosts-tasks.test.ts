// The real Claude Code (the pinned CLI) as MCP host of baton calls spawn_run as an MCP task
// (io.modelcontextprotocol/tasks, 2026-07-28), offline: its interactive UI runs in tmux against the
// scripted model server, which makes it call spawn_run (directive CALL_TOOL). Claude Code moves the
// task to the background, polls tasks/get, and hands the finished run's summary to the model as a
// task notification in a later request. (`claude -p`, a non-interactive session, does not declare
// the extension and gets the plain tool: hosts.test.ts.) The JSON-RPC is recorded by a pass-through.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
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

const TEE = join(import.meta.dirname, 'fixtures', 'stdio-tee.mjs');

let model: ModelServer;
let t: TestEnv;
let sock: string | undefined;
beforeAll(async () => {
  model = await startModelServer();
});
afterAll(async () => {
  await model?.close();
});
/** The command lines of the processes that still carry the host's home in their environment. */
function lingering(): string[] {
  return pidsWithEnv(join(t.dir, 'host-home')).map((pid) => {
    try {
      return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 160)}`;
    } catch {
      return `${pid} (gone)`;
    }
  });
}
afterEach(async () => {
  if (sock) spawnSync('tmux', ['-S', sock, 'kill-server']);
  sock = undefined;
  // The host (claude, the pass-through, baton's mcp front) ends first: a front still alive when the
  // daemon stops would start a new one for its next call.
  const host = () => lingering().filter((l) => !l.includes(' daemon run') && !l.includes('scripted-agent'));
  await eventually(() => host().length === 0, 30_000).catch(() => {
    throw new Error(`the host's processes outlived its tmux server:\n${host().join('\n')}`);
  });
  stopDaemon(t.home);
  await eventually(() => lingering().length === 0, 30_000).catch(() => {
    throw new Error(`processes left after the daemon stopped:\n${lingering().join('\n')}`);
  });
  t.cleanup();
});

type Rpc = { dir: '>>' | '<<'; msg: Summary };
function readLog(file: string): Rpc[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('>> ') || l.startsWith('<< '))
    .map((l) => ({ dir: l.slice(0, 2) as Rpc['dir'], msg: JSON.parse(l.slice(3)) as Summary }));
}

/** The text of every user message block the model server received (tool results and notifications). */
function userTexts(): string[] {
  const out: string[] = [];
  for (const r of model.requests) {
    const messages = (r.body.messages ?? []) as { role: string; content: unknown }[];
    for (const m of messages) {
      if (m.role !== 'user' || !Array.isArray(m.content)) continue;
      for (const b of m.content as Summary[]) {
        if (typeof b.text === 'string') out.push(b.text);
        if (Array.isArray(b.content))
          for (const c of b.content as Summary[]) if (typeof c.text === 'string') out.push(c.text);
      }
    }
  }
  return out;
}

it('claude-code (interactive) calls spawn_run as a task, polls tasks/get, and the run summary reaches the model', async () => {
  model.requests.length = 0;
  t = makeEnv();
  const hostHome = join(t.dir, 'host-home');
  setupAgentHome('claude-code', hostHome, model.url);
  const cfg = realAgentConfig('claude-code', hostHome, model.url) as {
    command: string;
    env: Record<string, string>;
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ...cfg.env,
    BATON_HOME: t.home,
    TERM: 'xterm-256color',
  };
  const log = join(t.dir, 'mcp.log');
  // The README's registration line, with the recording pass-through in front of `baton mcp`.
  const added = spawnSync(
    cfg.command,
    [
      'mcp',
      'add',
      '--scope',
      'user',
      'baton',
      '--',
      process.execPath,
      TEE,
      log,
      '--',
      process.execPath,
      CLI,
      'mcp',
    ],
    { env, cwd: t.work, encoding: 'utf8' },
  );
  expect(added.status, added.stderr).toBe(0);
  // What a person who has used claude once has: onboarding done, the key approved, the folder trusted.
  const file = join(hostHome, '.claude.json');
  const cur = JSON.parse(readFileSync(file, 'utf8')) as Summary;
  writeFileSync(
    file,
    JSON.stringify({
      ...cur,
      hasCompletedOnboarding: true,
      theme: 'dark',
      customApiKeyResponses: { approved: ['dummy'], rejected: [] },
      projects: {
        ...cur.projects,
        [t.work]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true },
      },
    }),
  );

  const args = { agent: 'demo', cwd: t.work, prompt: 'hello through a task', label: 'via-task' };
  sock = join(t.dir, 'tmux.sock');
  execFileSync(
    'tmux',
    [
      '-S',
      sock,
      'new-session',
      '-d',
      '-x',
      '200',
      '-y',
      '50',
      '-c',
      t.work,
      ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      cfg.command,
      `CALL_TOOL spawn_run ${JSON.stringify(args)}`,
      '--allowedTools',
      'mcp__baton__spawn_run',
    ],
    { env },
  );
  const screen = () =>
    spawnSync('tmux', ['-S', sock as string, 'capture-pane', '-p'], { encoding: 'utf8' }).stdout;

  // The model gets the finished run (its result text) in a task notification after the tool call.
  const note = await eventually(
    () =>
      userTexts().find(
        (x) => x.includes('<task-notification>') && x.includes('You said: hello through a task'),
      ),
    60_000,
  ).catch((err: unknown) => {
    throw new Error(
      `${String(err)}\nscreen:\n${screen()}\nmodel: ${JSON.stringify(model.requests.map((r) => r.reply))}`,
    );
  });
  expect(note).toContain('<status>completed</status>');
  const summary = JSON.parse(/<result>\s*([\s\S]*?)\s*<\/result>/.exec(note)?.[1] ?? '{}') as Summary;
  expect(summary).toMatchObject({ agent: 'demo', label: 'via-task', status: 'completed' });
  // The tool result itself was only the task handle (Claude Code's words around the task id).
  const handle = userTexts().find(
    (x) => x.includes(`task ${summary.run_id as string}`) && !x.includes('<task-notification>'),
  );
  expect(handle, userTexts().join('\n---\n').slice(0, 4000)).toBeDefined();

  // What baton saw: the call declared the extension and was answered with a task; tasks/get polled it
  // (working, then completed with the summary as the CallToolResult).
  const rpc = readLog(log);
  const call = rpc.find(
    (r) => r.dir === '>>' && r.msg.method === 'tools/call' && r.msg.params.name === 'spawn_run',
  );
  expect(call?.msg.params._meta['io.modelcontextprotocol/clientCapabilities'].extensions).toEqual({
    'io.modelcontextprotocol/tasks': {},
  });
  const answer = rpc.find((r) => r.dir === '<<' && r.msg.id === call?.msg.id);
  expect(answer?.msg.result).toMatchObject({ resultType: 'task', taskId: summary.run_id, status: 'working' });
  const gets = rpc.filter((r) => r.dir === '>>' && r.msg.method === 'tasks/get');
  expect(gets.length).toBeGreaterThan(0);
  expect(gets.every((g) => g.msg.params.taskId === summary.run_id)).toBe(true);
  const completed = rpc.find(
    (r) => r.dir === '<<' && gets.some((g) => g.msg.id === r.msg.id) && r.msg.result?.status === 'completed',
  );
  expect(completed?.msg.result.result.structuredContent).toMatchObject({
    run_id: summary.run_id,
    status: 'completed',
  });

  // The run is in baton's store.
  const shown = await runCli(t, ['show', 'via-task', '--json']);
  expect(JSON.parse(shown.stdout)).toMatchObject({ run_id: summary.run_id, status: 'completed' });
});
