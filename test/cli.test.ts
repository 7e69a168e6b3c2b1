import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CLI,
  eventually,
  makeEnv,
  pidsMatching,
  runCli,
  steps,
  type TestEnv,
  type Summary,
} from './helpers.js';

/**
 * Polls `baton show` until the run has `status`; fails at once, with the host's output, when the
 * `baton run` process hosting it has already exited.
 */
async function statusOf(
  t: TestEnv,
  label: string,
  status: string,
  host: Promise<{ code: number | null; stdout: string; stderr: string }>,
): Promise<void> {
  let exited: { code: number | null; stdout: string; stderr: string } | undefined;
  void host.then((r) => (exited = r));
  let last = '';
  try {
    await eventually(async () => {
      if (exited) return true;
      const r = await runCli(t, ['show', label, '--json']);
      last = `${r.code} ${r.stdout} ${r.stderr}`;
      return r.code === 0 && JSON.parse(r.stdout).status === status;
    }, 30_000);
  } catch {
    throw new Error(`run ${label} never became ${status}; last show: ${last}`);
  }
  if (exited) {
    throw new Error(
      `baton run (${label}) exited ${exited.code} before ${status}: ${exited.stderr} ${exited.stdout}`,
    );
  }
}

describe('the baton CLI', () => {
  let t: TestEnv;
  beforeEach(() => {
    t = makeEnv();
  });
  afterEach(() => t.cleanup());

  it('baton run demo "..." from the README works and exits 0', async () => {
    const r = await runCli(t, ['run', 'demo', 'hello from the README']);
    expect(r.stderr).toContain('completed');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('You said: hello from the README');
    expect(r.stdout).toContain('plan:');
    const ls = await runCli(t, ['ls', '--json']);
    const runs = JSON.parse(ls.stdout).runs as Summary[];
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ agent: 'demo', status: 'completed' });
  });

  it('--version, agents --json and doctor', async () => {
    const v = await runCli(t, ['--version']);
    expect(v.stdout.trim()).toBe(
      JSON.parse(readFileSync(join(CLI, '..', '..', '..', 'package.json'), 'utf8')).version,
    );
    const a = await runCli(t, ['agents', '--json']);
    const agents = JSON.parse(a.stdout).agents as Summary[];
    expect(agents.find((x) => x.name === 'demo')).toMatchObject({ installed: true, ready: true });
    expect(agents.find((x) => x.name === 'fixture')).toMatchObject({ ready: true, source: 'config' });
    const gemini = agents.find((x) => x.name === 'gemini');
    expect(gemini?.driver).toBe('acp');
    if (!gemini?.installed) expect(gemini?.fix).toContain('npm install -g @google/gemini-cli');
    const d = await runCli(t, ['doctor']);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain(t.home);
  });

  it('bad input: exit code 2 and one line saying what to fix', async () => {
    const r = await runCli(t, ['run', 'no-such-agent', 'hi']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/AGENT_NOT_FOUND: no agent named "no-such-agent"; known agents: .*demo/);
    const l = await runCli(t, ['ls', '--limit', 'abc']);
    expect(l.code).toBe(2);
    expect(l.stderr).toContain('INVALID_PARAMS: limit must be a whole number from 1 to 200');
    const s = await runCli(t, ['show', 'nothing-here']);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('RUN_NOT_FOUND');
  });

  it('a run waiting in one process is approved from another (baton approve), and logs/show see it', async () => {
    const prompt = steps({
      permission: {
        title: 'Write cli.txt',
        kind: 'edit',
        locations: ['cli.txt'],
        allowed: [{ write_file: { path: 'cli.txt', content: 'ok' } }, { message: 'written' }],
      },
    });
    const running = runCli(t, ['run', 'fixture', prompt, '--label', 'cli-job', '--json'], {
      timeoutMs: 30_000,
    });
    await eventually(async () => {
      const r = await runCli(t, ['show', 'cli-job', '--json']);
      return r.code === 0 && JSON.parse(r.stdout).status === 'waiting';
    });
    const approve = await runCli(t, ['approve', 'cli-job']);
    expect(approve.code).toBe(0);
    const done = await running;
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout.trim().split('\n').pop() as string)).toMatchObject({
      status: 'completed',
      label: 'cli-job',
    });
    expect(readFileSync(join(t.work, 'cli.txt'), 'utf8')).toBe('ok');
    const logs = await runCli(t, ['logs', 'cli-job', '--json']);
    const events = logs.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Summary);
    expect(events.find((e) => e.type === 'permission_resolved')?.data).toMatchObject({
      option_id: 'allow_once',
      // Not on a terminal: a program's answer.
      by: 'script',
    });
    const human = await runCli(t, ['logs', 'cli-job']);
    expect(human.stdout).toContain('? permission: Write cli.txt');
  });

  it('baton deny and baton cancel reach the hosting process; a cancelled run exits non-zero', async () => {
    const ask = steps({
      permission: { title: 'Run rm', kind: 'execute', rejected: [{ message: 'fine, not running it' }] },
    });
    const first = runCli(t, ['run', 'fixture', ask, '--label', 'denied', '--json']);
    await statusOf(t, 'denied', 'waiting', first);
    expect((await runCli(t, ['deny', 'denied'])).code).toBe(0);
    const r1 = await first;
    expect(r1.code).toBe(0);
    expect(JSON.parse(r1.stdout.trim().split('\n').pop() as string).result.text).toBe('fine, not running it');

    const second = runCli(t, ['run', 'fixture', steps({ hang: true }), '--label', 'hung', '--json']);
    await statusOf(t, 'hung', 'running', second);
    const c = await runCli(t, ['cancel', 'hung', '--json']);
    expect(JSON.parse(c.stdout).status).toBe('cancelled');
    const r2 = await second;
    expect(r2.code).toBe(1);
  });

  it('Ctrl-C (SIGINT) on baton run cancels the run and leaves no agent behind', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'run', 'fixture', steps({ hang: true }), '--label', 'sigint'],
      { cwd: t.work, env: t.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const hostExit = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
      child.on('exit', (code) => r({ code, stdout: '', stderr })),
    );
    await statusOf(t, 'sigint', 'running', hostExit);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(stderr).toContain('cancelled');
    const show = JSON.parse((await runCli(t, ['show', 'sigint', '--json'])).stdout);
    expect(show.status).toBe('cancelled');
    expect(existsSync(t.state)).toBe(true);
    expect(pidsMatching(t.state)).toEqual([]);
  });
});

describe('baton mcp on the wire', () => {
  it('answers an old client (2024-11-05) in its version and writes nothing but JSON-RPC to stdout', async () => {
    const t = makeEnv();
    try {
      const child = spawn(process.execPath, [CLI, 'mcp'], { env: t.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const send = (msg: unknown) => child.stdin.write(`${JSON.stringify(msg)}\n`);
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2024-11-05',
          capabilities: {},
          clientInfo: { name: 'old', version: '0' },
        },
      });
      await eventually(() => stdout.includes('"id":1'));
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'get_run', arguments: { run: 'missing' } },
      });
      await eventually(() => stdout.includes('"id":2'));
      child.stdin.end();
      await new Promise((r) => child.on('exit', r));
      const lines = stdout.trim().split('\n');
      const messages = lines.map((l) => JSON.parse(l) as Summary);
      expect(messages.every((m) => m.jsonrpc === '2.0')).toBe(true);
      expect(messages[0]?.result.protocolVersion).toBe('2024-11-05');
      expect(messages[0]?.result.serverInfo.name).toBe('baton');
      expect(messages[0]?.result.capabilities.resources.subscribe).toBe(true);
      expect(messages[1]?.result.isError).toBe(true);
      expect(messages[1]?.result.structuredContent.error.code).toBe('RUN_NOT_FOUND');
    } finally {
      t.cleanup();
    }
  });
});
