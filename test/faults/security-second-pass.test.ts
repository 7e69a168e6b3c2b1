// Second security pass (issue 14): what the first audit's fixes and the one-owner redesign left
// open. A sub-agent's front on daemon.sock (its hello names a parent run) cannot answer as a
// person; a remote A2A agent cannot fill the owner's memory with a huge card or answer; a
// BATON_HOME (or its config.json, owner.lock) made by another user is refused.
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { errorOf } from '../errors.js';
import { rawFront, daemonPid, eventually, makeEnv, rssMiB, runCli, sleep, type TestEnv } from '../helpers.js';

const CONFIRM = {
  driver: 'terminal',
  command: 'sh',
  args: ['-c', `printf 'Delete everything? [y/N] '; read a; echo "answered=$a"`],
};

describe('security second pass', () => {
  let t: TestEnv | undefined;
  let remote: HttpServer | undefined;
  afterEach(async () => {
    await new Promise((r) => (remote ? remote.close(r) : r(undefined)));
    remote = undefined;
    t?.cleanup();
    t = undefined;
  });

  it("daemon.sock: a sub-agent's front (hello with parent_run) cannot answer a human prompt as a person, even when it claims to be serve or the dashboard", async () => {
    // Elicitation counts as a person here, so a sub-agent's MCP front must not use it either.
    const env = makeEnv({ agents: { confirm: CONFIRM }, approvals: { elicitation_is_human: true } });
    t = env;
    expect((await runCli(env, ['daemon', 'start'])).code).toBe(0);
    const user = await rawFront(env.home, { kind: 'cli' });
    const spawned = await user.call('spawn_run', { agent: 'confirm', cwd: env.work, approver: 'human' });
    const run = spawned.result?.run_id as string;
    expect(run, JSON.stringify(spawned)).toMatch(/^r_/);
    await eventually(async () => {
      const r = await user.call('get_run', { run });
      return r.result?.status === 'waiting' ? r : undefined;
    });

    // The agent of that run (BATON_PARENT_RUN) reaches the owner and names a person's channel.
    for (const kind of ['serve', 'cli', 'mcp']) {
      const agent = await rawFront(env.home, { kind, parent_run: run });
      for (const via of ['dashboard', 'cli', 'elicitation']) {
        const typed = await agent.call('send_keys', { run, text: 'y', enter: true }, via);
        expect(typed.error?.code, `${kind} via ${via}: ${JSON.stringify(typed)}`).toBe('FORBIDDEN');
        expect(typed.error?.message).toContain("sub-agent's");
      }
      // Without a channel it gets a program's, which a human run does not accept.
      const plain = await agent.call('send_keys', { run, text: 'y', enter: true });
      expect(plain.error?.code, `${kind}: ${JSON.stringify(plain)}`).toBe('NOT_APPROVER');
      const answered = await agent.call('answer_permission', { run, option_id: 'y' });
      expect(answered.error?.code).toBe('NOT_APPROVER');
      // Reading and starting runs still work for it.
      expect((await agent.call('get_run', { run })).result?.status).toBe('waiting');
      agent.close();
    }
    // Garbage and oversized-looking frames are ignored; the connection still answers.
    user.write('not json\n{"id":"x","op":1}\n[]\nnull\n{"id":99}\n');
    expect((await user.call('get_run', { run })).result?.status).toBe('waiting');
    const events = await user.call('get_events', { run, types: ['permission_resolved'] });
    expect(events.result?.events).toEqual([]);
    // The user's own terminal front (no parent run) is a person: it answers.
    const typed = await user.call('send_keys', { run, text: 'y', enter: true }, 'cli');
    expect(typed.error, JSON.stringify(typed)).toBeUndefined();
    const done = await eventually(async () => {
      const r = await user.call('get_run', { run });
      return r.result?.status === 'completed' ? r : undefined;
    });
    expect(done.result?.result?.text).toContain('answered=y');
    user.close();
  });

  it('A2A client: a remote agent whose card is 256 MB fails the run, and the owner does not read it all', async () => {
    let sent = 0;
    remote = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      res.write('{"name":"');
      const pump = () => {
        while (sent < 256) {
          sent++;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('"}');
      };
      res.on('error', () => undefined);
      pump();
    });
    await new Promise<void>((r) => remote?.listen(0, '127.0.0.1', r));
    const port = (remote.address() as AddressInfo).port;
    const env = makeEnv({
      agents: { evil: { driver: 'a2a', url: `http://127.0.0.1:${port}/a2a/x/` } },
    });
    t = env;
    expect((await runCli(env, ['daemon', 'start'])).code).toBe(0);
    const pid = daemonPid(env.home) as number;
    const before = rssMiB(pid);
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, rssMiB(pid));
        await sleep(20);
      }
    })();
    const out = await runCli(env, ['run', 'evil', 'hi', '--cwd', env.work], { timeoutMs: 60_000 });
    sampling = false;
    await sampler;
    expect(out.code, out.stdout + out.stderr).not.toBe(0);
    expect(out.stdout + out.stderr).toContain('larger than 16777216 bytes');
    // Reading 256 MB into one string (and parsing it) costs well over 500 MiB; 16 MiB are read.
    expect(peak - before).toBeLessThan(120);
  });
});

describe('security second pass: a BATON_HOME another user made', () => {
  it('is refused (INVALID_CONFIG), as is a config.json or owner.lock of another user in it', () => {
    const root = process.getuid?.() === 0;
    const dir = mkdtempSync(join(tmpdir(), 'baton-foreign-'));
    try {
      // As root, another user's folder is made with chown; otherwise "/" is root's, not ours.
      const home = root ? join(dir, 'home') : '/';
      if (root) {
        mkdirSync(home, { mode: 0o777 });
        writeFileSync(join(home, 'config.json'), JSON.stringify({ allow_any_command: true }));
        chownSync(home, 65534, 65534);
      }
      const err = errorOf(() => loadConfig({ BATON_HOME: home, HOME: dir }));
      expect(err.code).toBe('INVALID_CONFIG');
      expect(err.message).toContain('belongs to another user');
      if (root) {
        // Our folder, but an owner.lock another user put there while it was open.
        chownSync(home, 0, 0);
        writeFileSync(join(home, 'owner.lock'), '0123456789abcdef0123456789abcdef\n');
        chownSync(join(home, 'owner.lock'), 65534, 65534);
        const lock = errorOf(() => loadConfig({ BATON_HOME: home, HOME: dir }));
        expect(lock.message).toContain(`${join(home, 'owner.lock')} belongs to another user`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
