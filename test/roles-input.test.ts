// spawn_run `role` and `input_message`: the parts reach an A2A worker (a second baton on loopback,
// `baton serve --a2a`) as A2A parts and its ACP agent as content blocks; role filters list_runs and
// picks a profile from the config's `roles`; bad input is refused with INVALID_PARAMS.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from './fixtures/chromium.mjs';
import {
  call,
  makeEnv,
  runCli,
  serve,
  startServer,
  steps,
  stopServe,
  waitFor,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

const PNG = 'iVBORw0KGgo='; // the 8-byte PNG signature
const NOTES = '# Notes\n\nCheck the {braces} and the `code`.\n';

type Block = { type: string; text?: string; data?: string; mimeType?: string; uri?: string } & {
  resource?: { uri: string; mimeType?: string; text?: string; blob?: string };
};

/** The blocks and _meta the scripted agent reported with its `blocks` step. */
function blocksOf(text: string): { blocks: Block[]; meta: { baton?: { role?: string } } | null } {
  const m = /Blocks: (\{.*\})/s.exec(text);
  if (!m?.[1]) throw new Error(`no blocks report in: ${text}`);
  return JSON.parse(m[1]) as { blocks: Block[]; meta: { baton?: { role?: string } } | null };
}

describe('roles and multipart input', () => {
  let a: TestEnv | undefined;
  let b: TestEnv | undefined;
  let bServe: Serve | undefined;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined);
    await stopServe(bServe);
    bServe = undefined;
    a?.cleanup();
    b?.cleanup();
    a = b = undefined;
  });

  it('role and input_message reach an A2A worker as parts, and its ACP agent as content blocks', async () => {
    b = makeEnv();
    bServe = await serve(b, {}, ['--a2a', '--a2a-cwd', b.work]);
    a = makeEnv();
    const file = join(a.home, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as { agents: Record<string, unknown> };
    config.agents['remote-demo'] = {
      driver: 'a2a',
      url: `http://127.0.0.1:${bServe.port}/a2a/fixture/`,
      token: bServe.token,
    };
    writeFileSync(file, JSON.stringify(config));
    writeFileSync(join(a.work, 'notes.md'), NOTES);
    const s = await startServer(a);
    servers.push(s);

    const run = (await s.call('spawn_run', {
      agent: 'remote-demo',
      cwd: a.work,
      role: 'reviewer',
      prompt: steps({ blocks: true }),
      input_message: [
        { type: 'text', text: 'Review these.' },
        { type: 'file', path: join(a.work, 'notes.md') },
        { type: 'file', data: PNG, media_type: 'image/png', name: 'dot.png' },
        { type: 'data', data: { ticket: 42, tags: ['x', 'y'] } },
      ],
    })) as Summary;
    expect(run.role).toBe('reviewer');
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');

    // B's run got the parts as its own input_message and the role from the message metadata.
    const bRuns = await call(bServe.port, 'GET', '/api/runs?role=reviewer', { token: bServe.token });
    expect(bRuns.json.runs).toHaveLength(1);
    const bRun = bRuns.json.runs[0] as Summary;
    expect(bRun.role).toBe('reviewer');
    const none = await call(bServe.port, 'GET', '/api/runs?role=planner', { token: bServe.token });
    expect(none.json.runs).toHaveLength(0);

    // B's ACP agent received content blocks, not one flattened text, and the role in _meta.
    const { blocks, meta } = blocksOf(done.result.text as string);
    expect(blocks.map((x) => x.type)).toEqual(['text', 'text', 'resource', 'image', 'resource']);
    expect(blocks[0]?.text).toBe(steps({ blocks: true }));
    expect(blocks[1]?.text).toBe('Review these.');
    expect(blocks[2]?.resource).toMatchObject({ mimeType: 'text/markdown', text: NOTES });
    expect(blocks[2]?.resource?.uri).toContain('notes.md');
    expect(blocks[3]).toMatchObject({ data: PNG, mimeType: 'image/png' });
    expect(blocks[4]?.resource?.mimeType).toBe('application/json');
    expect(JSON.parse(blocks[4]?.resource?.text ?? 'null')).toEqual({ ticket: 42, tags: ['x', 'y'] });
    expect(meta?.baton?.role).toBe('reviewer');

    // A's list_runs filters by role.
    const mine = (await s.call('list_runs', { role: 'reviewer' })) as { runs: Summary[] };
    expect(mine.runs.map((r) => r.run_id)).toEqual([run.run_id]);
    expect(((await s.call('list_runs', { role: 'worker' })) as { runs: Summary[] }).runs).toEqual([]);
  });

  it('an ACP agent gets a file by path as an embedded resource with its file URI; a role picks its profile; a follow-up stays text', async () => {
    a = makeEnv({
      profiles: {
        careful: { policy: 'deny_all', instructions: 'Be careful.' },
        quick: { policy: 'allow_all' },
      },
      roles: { reviewer: { profile: 'careful' } },
    });
    writeFileSync(join(a.work, 'notes.md'), NOTES);
    const s = await startServer(a);
    servers.push(s);

    const run = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: a.work,
      role: 'reviewer',
      input_message: [
        { type: 'text', text: steps({ blocks: true }) },
        { type: 'file', path: join(a.work, 'notes.md') },
      ],
    })) as Summary;
    // The role's profile applied: its policy, and its instructions as the last part.
    expect(run).toMatchObject({ role: 'reviewer', profile: 'careful', policy: 'deny_all' });
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    const { blocks, meta } = blocksOf(done.result.text as string);
    expect(blocks.map((x) => x.type)).toEqual(['text', 'resource', 'text']);
    expect(blocks[1]?.resource).toEqual({
      uri: `file://${join(a.work, 'notes.md')}`,
      mimeType: 'text/markdown',
      text: NOTES,
    });
    expect(blocks[2]?.text).toBe('Be careful.');
    expect(meta?.baton?.role).toBe('reviewer');

    // The stored prompt (what text-only agents get) is the parts flattened.
    const ev = (await s.call('get_events', { run: run.run_id, limit: 5 })) as { events: Summary[] };
    const user = ev.events.find((e) => e.type === 'message' && e.data.role === 'user') as Summary;
    expect(user.data.text).toContain(`File ${join(a.work, 'notes.md')} (text/markdown):\n\`\`\`\n${NOTES}`);
    expect(user.data.text).toMatch(/Be careful\.$/);

    // A follow-up is one text block; the run keeps its role.
    const next = (await s.call('follow_up', {
      run: run.run_id,
      message: steps({ blocks: true }),
    })) as Summary;
    expect(next.role).toBe('reviewer');
    const second = (await waitFor(s, next.run_id, 'finished')) as Summary;
    const again = blocksOf(second.result.text as string);
    expect(again.blocks).toEqual([{ type: 'text', text: steps({ blocks: true }) }]);
    expect(again.meta?.baton?.role).toBe('reviewer');

    // An explicit profile wins over the role's; a role without a mapping picks none.
    const explicit = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: a.work,
      role: 'reviewer',
      profile: 'quick',
      prompt: 'hi',
    })) as Summary;
    expect(explicit).toMatchObject({ profile: 'quick', policy: 'allow_all' });
    const plain = (await s.call('spawn_run', {
      agent: 'fixture',
      cwd: a.work,
      role: 'planner',
      prompt: 'hi',
    })) as Summary;
    expect(plain.profile).toBeUndefined();
    expect(plain.policy).toBe('ask');
    const reviewers = (await s.call('list_runs', { role: 'reviewer' })) as { runs: Summary[] };
    // baton ls --role, through the owner; the line names the role.
    const ls = await runCli(a, ['ls', '--role', 'planner']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(plain.run_id);
    expect(ls.stdout).toContain('role planner');
    expect(ls.stdout).not.toContain(run.run_id);
    expect(reviewers.runs.map((r) => r.run_id).sort()).toEqual(
      [run.run_id, next.run_id, explicit.run_id].sort(),
    );
  });

  it('a text-only agent (a terminal program) gets the parts flattened to text', async () => {
    a = makeEnv((dir) => ({
      agents: {
        reader: {
          driver: 'terminal',
          command: 'sh',
          args: [
            '-c',
            `while IFS= read -r line; do printf '%s\\n' "$line" >> ${join(dir, 'got.txt')}; [ "$line" = DONE ] && break; done; echo finished`,
          ],
        },
      },
    }));
    const s = await startServer(a);
    servers.push(s);
    const run = (await s.call('spawn_run', {
      agent: 'reader',
      cwd: a.work,
      role: 'worker',
      input_message: [
        { type: 'text', text: 'Read these.' },
        {
          type: 'file',
          data: Buffer.from('line one\nline two').toString('base64'),
          media_type: 'text/plain',
          name: 'a.txt',
        },
        { type: 'data', data: { ticket: 42 } },
        { type: 'text', text: 'DONE' },
      ],
    })) as Summary;
    const done = (await waitFor(s, run.run_id, 'finished')) as Summary;
    expect(done.status).toBe('completed');
    const got = readFileSync(join(a.dir, 'got.txt'), 'utf8');
    expect(got).toContain('Read these.');
    expect(got).toContain('File a.txt (text/plain):\n```\nline one\nline two\n```');
    expect(got).toContain('```json\n{\n  "ticket": 42\n}\n```');
    expect(got.trimEnd().endsWith('DONE')).toBe(true);
  });

  it('the dashboard shows the role on the run list and the run page, as text', async () => {
    a = makeEnv();
    bServe = await serve(a);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
      await page.goto(bServe.loginUrl);
      await page.getByText('No runs yet').waitFor();
      const role = '<b>reviewer</b>';
      const spawned = await call(bServe.port, 'POST', '/api/runs', {
        token: bServe.token,
        body: { agent: 'fixture', cwd: a.work, role, prompt: steps({ message: 'ok' }) },
      });
      expect(spawned.status).toBe(201);
      const cell = page.locator('.run-row .role').first();
      await cell.waitFor();
      expect(await cell.textContent()).toBe(role);
      expect(await page.locator('.run-row b').count()).toBe(0);
      await page.locator('.run-row').first().click();
      const fact = page.locator('.facts dd.role');
      await fact.waitFor();
      expect(await fact.textContent()).toBe(role);
    } finally {
      await browser.close();
    }
  });

  it('bad input is refused with INVALID_PARAMS (or CWD_NOT_ALLOWED) and a message that says what to give', async () => {
    a = makeEnv();
    const s = await startServer(a);
    servers.push(s);
    const refuse = async (args: Record<string, unknown>) => {
      const res = await s.raw('spawn_run', { agent: 'fixture', cwd: a?.work, ...args });
      expect(res.isError).toBe(true);
      return JSON.stringify(res.structuredContent ?? res.content);
    };
    expect(await refuse({})).toMatch(
      /INVALID_PARAMS.*prompt is required \(or prompt_file, or input_message\)/,
    );
    const fifo = join(a.work, 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(await refuse({ input_message: [{ type: 'file', path: fifo }] })).toMatch(
      /INVALID_PARAMS.*input_message\[0\]\.path .* not a regular file/,
    );
    expect(await refuse({ input_message: [{ type: 'file', path: '/etc/hostname' }] })).toMatch(
      /CWD_NOT_ALLOWED.*outside the allowed roots/,
    );
    expect(await refuse({ input_message: [{ type: 'file', path: 'rel.txt' }] })).toMatch(/absolute path/);
    expect(
      await refuse({ input_message: [{ type: 'file', data: 'not base64!', media_type: 'text/plain' }] }),
    ).toMatch(/INVALID_PARAMS.*input_message\[0\]\.data must be base64/);
    expect(await refuse({ input_message: [{ type: 'file', data: PNG, media_type: 'png' }] })).toMatch(
      /INVALID_PARAMS.*media_type/,
    );
    expect(await refuse({ prompt: 'x', role: 'r'.repeat(65) })).toMatch(/INVALID_PARAMS/);
    expect(await refuse({ prompt: 'x', role: 'a\nb' })).toMatch(/INVALID_PARAMS.*role must be/);
    expect(await refuse({ input_message: [] })).toMatch(/INVALID_PARAMS/);
  });
});
