// Confirmations (request_confirmation): a caller asks a person; a real MCP client (the built
// `baton mcp`, a front of the daemon) asks, a person answers on the dashboard in Debian's Chromium
// on a phone viewport or with `baton confirm` on a terminal, and the waiting call returns the
// decision. The question is in SQLite: a daemon killed in between loses nothing.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/client';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from './fixtures/chromium.mjs';
import {
  alive,
  call,
  daemonPid,
  eventually,
  makeEnv,
  runCli,
  runCliOnTty,
  sleep,
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

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
});

/** A webhook receiver on 127.0.0.1. */
async function receiver(): Promise<{ url: string; got: Summary[]; server: HttpServer }> {
  const got: Summary[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      got.push(JSON.parse(raw) as Summary);
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

/** The stored row of a confirmation, read from the SQLite file directly. */
function storedRow(t: TestEnv, id: string): Summary | undefined {
  const db = new Database(join(t.home, 'baton.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM confirmations WHERE id = ?').get(id) as Summary | undefined;
  } finally {
    db.close();
  }
}

describe('confirmations', () => {
  let t: TestEnv;
  let s: Serve | undefined;
  const mcps: Server[] = [];
  const hooks: HttpServer[] = [];
  let context: BrowserContext | undefined;
  afterEach(async () => {
    await context?.close();
    context = undefined;
    for (const m of mcps.splice(0)) await m.close();
    await stopServe(s);
    s = undefined;
    for (const h of hooks.splice(0)) await new Promise((r) => h.close(r));
    t.cleanup();
  });

  it('a sub-agent asks through its baton MCP server, a person approves on the phone dashboard: the call returns approve by dashboard, the run shows it, the waiting webhook fires', async () => {
    const hook = await receiver();
    hooks.push(hook.server);
    t = makeEnv({ webhooks: [{ url: hook.url }] });
    // The host's baton (a front of the daemon) starts a run that stays alive (it waits on a permission).
    const host = await startServer(t, { daemon: true });
    mcps.push(host);
    const run = (await host.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ permission: { title: 'Write x', kind: 'edit', allowed: [{ message: 'ok' }] } }),
    })) as Summary;
    expect(((await waitFor(host, run.run_id)) as Summary).status).toBe('waiting');
    // The run's agent's own baton MCP server (what offer_to_agents launches: BATON_PARENT_RUN set).
    const agent = await startServer(
      { ...t, env: { ...t.env, BATON_PARENT_RUN: run.run_id } },
      { daemon: true },
    );
    mcps.push(agent);

    const first = (await agent.call('request_confirmation', {
      question: 'Deploy build 42 to production?',
      details: 'migrations: 0008',
      wait: '2s',
    })) as Summary;
    expect(first).toMatchObject({
      status: 'pending',
      timed_out: true,
      options: ['approve', 'deny'],
      run_id: run.run_id,
    });
    const id = first.confirmation_id as string;
    expect(id).toMatch(/^c_/);
    // The sub-agent cannot answer its own question: it has no person's channel.
    const self = await agent.raw('answer_confirmation', { confirmation_id: id, decision: 'approve' });
    expect(self.isError).toBe(true);
    expect(JSON.stringify(self.structuredContent)).toMatch(/NOT_APPROVER/);
    // Nor can the host's MCP caller (a program).
    const prog = await host.raw('answer_confirmation', { confirmation_id: id, decision: 'approve' });
    expect(JSON.stringify(prog.structuredContent)).toMatch(/NOT_APPROVER.*not caller/);
    // The waiting webhook, with the confirmation kind and the asking run.
    await eventually(() => hook.got.find((b) => b.kind === 'confirmation'), 10_000);
    expect(hook.got.find((b) => b.kind === 'confirmation')).toMatchObject({
      event: 'waiting',
      kind: 'confirmation',
      confirmation: { confirmation_id: id, question: 'Deploy build 42 to production?' },
      run: { run_id: run.run_id },
    });

    // The call waits again while a person looks at the phone.
    const waiting = agent.call('request_confirmation', { confirmation_id: id, wait: '50s' });
    s = await serve(t);
    context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(s.loginUrl);
    const card = page.locator(`[data-confirmation="${id}"]`);
    // Shown on the asking run's page too.
    await page.goto(`http://127.0.0.1:${s.port}/#/runs/${run.run_id}`);
    await card.waitFor();
    await page.locator(`[data-confirmation-event="${id}"]`).first().waitFor();
    await page.goto(`http://127.0.0.1:${s.port}/#/`);
    await card.waitFor();
    await expect.poll(() => card.locator('.title').textContent()).toBe('Deploy build 42 to production?');
    const approve = card.getByRole('button', { name: 'Approve' });
    const box = await approve.boundingBox();
    // Big, thumb-sized and inside the phone's width.
    expect(box?.height).toBeGreaterThanOrEqual(48);
    expect((box?.x ?? 0) + (box?.width ?? 999)).toBeLessThanOrEqual(390);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await approve.tap();

    const decided = (await waiting) as Summary;
    expect(decided).toMatchObject({
      confirmation_id: id,
      status: 'answered',
      decision: 'approve',
      decided_by: 'dashboard',
    });
    expect(Date.parse(decided.decided_at as string)).toBeGreaterThan(
      Date.parse(decided.created_at as string) - 1,
    );
    // Gone from the phone once answered (live, from /api/events).
    await card.waitFor({ state: 'detached' });
    await page.goto(`http://127.0.0.1:${s.port}/#/runs/${run.run_id}`);
    await expect
      .poll(() => page.locator(`[data-confirmation-event="${id}"]`).last().textContent())
      .toContain('answered approve by dashboard');
    // A second answer loses: the first wins.
    const again = await runCliOnTty(t, ['confirm', id, 'deny']);
    expect(again.code).not.toBe(0);
    expect(again.stdout).toMatch(/ALREADY_ANSWERED.*by dashboard \(approve\)/);
    // Shown on the asking run: its events record the question and the decision.
    const events = (await host.call('get_events', { run: run.run_id, types: ['confirmation'] })) as Summary;
    expect(events.events.map((e: Summary) => e.data)).toMatchObject([
      { confirmation_id: id, status: 'pending', question: 'Deploy build 42 to production?' },
      { confirmation_id: id, status: 'answered', decision: 'approve', by: 'dashboard' },
    ]);
    // And listed through REST (bearer token) for the run's confirmations.
    const listed = await call(s.port, 'GET', '/api/confirmations?status=answered', { token: s.token });
    expect(listed.json.confirmations.map((c: Summary) => c.confirmation_id)).toContain(id);
    expect(pageErrors).toEqual([]);
  });

  it("elicitation: a 2025 host that declares it is asked (elicitation_is_human) and its answer decides; a sub-agent's front is never asked", async () => {
    t = makeEnv({ approvals: { elicitation_is_human: true } });
    const asked: string[] = [];
    const eliciting = (answer: string) => {
      const client = new Client(
        { name: 'eliciting-host', version: '1.0.0' },
        { capabilities: { elicitation: { form: {} } } },
      );
      client.setRequestHandler('elicitation/create', async (req) => {
        asked.push((req.params as { message: string }).message);
        return { action: 'accept', content: { decision: answer } } as never;
      });
      return client;
    };
    const host = await startServer(t, { client: eliciting('approve'), daemon: true });
    mcps.push(host);
    const decided = (await host.call('request_confirmation', {
      question: 'Ship it?',
      details: 'v2',
      wait: '20s',
    })) as Summary;
    expect(asked).toEqual(['Ship it?\n\nv2']);
    expect(decided).toMatchObject({ status: 'answered', decision: 'approve', decided_by: 'elicitation' });

    // A sub-agent's baton, even with an eliciting client, is not a person's channel: not asked.
    const run = (await host.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: steps({ permission: { title: 'Write x', kind: 'edit', allowed: [{ message: 'ok' }] } }),
    })) as Summary;
    const agent = await startServer(
      { ...t, env: { ...t.env, BATON_PARENT_RUN: run.run_id } },
      { client: eliciting('approve'), daemon: true },
    );
    mcps.push(agent);
    const fromAgent = (await agent.call('request_confirmation', {
      question: 'Drop table?',
      wait: '2s',
    })) as Summary;
    expect(fromAgent).toMatchObject({ status: 'pending', timed_out: true, run_id: run.run_id });
    expect(asked).toHaveLength(1);
  });

  it('survives a killed daemon: still pending in the store, answered with baton confirm deny on a terminal, the asker waits again and gets deny by cli', async () => {
    t = makeEnv();
    const host = await startServer(t, { daemon: true });
    mcps.push(host);
    const first = (await host.call('request_confirmation', {
      question: 'Run migration 0008 on prod?',
      wait: '1s',
    })) as Summary;
    expect(first.status).toBe('pending');
    const id = first.confirmation_id as string;
    // A call waiting on it when the daemon dies gets an error (the owner is gone), not a decision.
    const waiting = host.raw('request_confirmation', { confirmation_id: id, wait: '50s' });
    const pid = daemonPid(t.home) as number;
    await eventually(() => alive(pid));
    // Let the call reach the owner first: one still on its way is sent to the next owner instead
    // (and would wait there its whole 50 s; seen once on a loaded CI machine).
    await sleep(1000);
    process.kill(pid, 'SIGKILL');
    const lost = await waiting;
    expect(lost.isError).toBe(true);
    expect(JSON.stringify(lost.structuredContent)).toMatch(/DAEMON_UNAVAILABLE.*Call again/);
    await eventually(() => !alive(pid));
    // Nothing is lost: the row is in SQLite, pending.
    expect(storedRow(t, id)).toMatchObject({ status: 'pending', question: 'Run migration 0008 on prod?' });

    // A script (no terminal) is not a person.
    const script = await runCli(t, ['confirm', id, 'deny']);
    expect(script.code).not.toBe(0);
    expect(script.stderr + script.stdout).toMatch(/NOT_APPROVER.*not script/);
    // A new daemon starts for the CLI; the person on a terminal denies.
    const pending = await runCli(t, ['confirmations', '--status', 'pending', '--json']);
    expect(JSON.parse(pending.stdout).confirmations.map((c: Summary) => c.confirmation_id)).toEqual([id]);
    const answered = await runCliOnTty(t, ['confirm', id, 'deny']);
    expect(answered.stdout).toContain(`${id} `);
    expect(answered.code).toBe(0);
    // The asker waits again (the MCP front reconnects to the new daemon) and gets the decision.
    const decided = (await host.call('request_confirmation', { confirmation_id: id })) as Summary;
    expect(decided).toMatchObject({ status: 'answered', decision: 'deny', decided_by: 'cli' });
    expect(storedRow(t, id)).toMatchObject({ status: 'answered', decision: 'deny', decided_by: 'cli' });
    // Bad input: an option it does not offer, an unknown id.
    const other = (await host.call('request_confirmation', {
      question: 'Which region?',
      options: ['eu', 'us'],
      wait: '1ms',
    })) as Summary;
    const bad = await runCliOnTty(t, ['confirm', other.confirmation_id as string, 'approve']);
    expect(bad.stdout).toMatch(/OPTION_NOT_FOUND.*eu, us/);
    const eu = await runCliOnTty(t, ['confirm', other.confirmation_id as string, 'eu']);
    expect(eu.code).toBe(0);
    // `timeout` is how long the person has: then it expires, undecided, and the waiting call says so.
    const expiring = (await host.call('request_confirmation', {
      question: 'Quick one?',
      timeout: '1s',
      wait: '10s',
    })) as Summary;
    expect(expiring).toMatchObject({ status: 'expired', decided_by: 'deadline' });
    expect(expiring.decision).toBeUndefined();
    const unknown = await host.raw('request_confirmation', { confirmation_id: 'c_000000000000' });
    expect(JSON.stringify(unknown.structuredContent)).toMatch(/NOT_FOUND/);
    const empty = await host.raw('request_confirmation', {});
    expect(JSON.stringify(empty.structuredContent)).toMatch(/INVALID_PARAMS.*question/);
  });
});
