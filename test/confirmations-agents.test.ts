// Confirmations asked by real sub-agents (issue 16): the agent of a run is offered baton's MCP
// server in session/new (delegation.offer_to_agents) and calls request_confirmation through it —
// the fixture ACP agent with the MCP client SDK, and the real Claude Code ACP adapter driven by the
// scripted model server (offline). A person answers on the dashboard in Debian's Chromium on a
// phone viewport, or with `baton confirm` on a terminal; the agent's call returns the decision and
// who gave it. A daemon killed while the question is pending loses nothing: the question stays in
// SQLite, a new daemon shows it, and the agent, continued with follow_up, gets the answer.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from './fixtures/chromium.mjs';
import { startModelServer, type ModelServer } from './fixtures/model-server.mjs';
import { realAgentConfig, setupAgentHome } from './fixtures/real-agents.mjs';
import {
  alive,
  daemonPid,
  eventually,
  makeEnv,
  pidsWithEnv,
  runCli,
  runCliOnTty,
  serve,
  sleep,
  startServer,
  steps,
  stopServe,
  type Serve,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';

let browser: Browser;
let model: ModelServer;
beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  model = await startModelServer();
});
afterAll(async () => {
  await browser?.close();
  await model?.close();
});

/** The fixture agent's step: calls baton's request_confirmation through the MCP server it was offered. */
function askStep(args: Record<string, unknown>) {
  return steps({ mcp_call: { server: 'baton', tool: 'request_confirmation', arguments: args } });
}

/** What the fixture agent said the tool returned (`baton.request_confirmation said: <json>`). */
function toolSaid(text: string): Summary {
  const m = /baton\.request_confirmation said: (\{.*\})$/s.exec(text);
  if (!m) throw new Error(`the agent did not report a tool result: ${text}`);
  return JSON.parse(m[1] as string) as Summary;
}

/** The pending confirmation asked by run `runId` (waits until its agent asked). */
async function askedBy(host: Server, runId: string): Promise<Summary> {
  return eventually(async () => {
    const list = (await host.call('list_confirmations', { status: 'pending' })) as Summary;
    return (list.confirmations as Summary[]).find((c) => c.run_id === runId);
  }, 30_000);
}

/** A phone on the dashboard's runs page with the card of confirmation `id`; taps `button`. */
async function tapOnPhone(context: BrowserContext, s: Serve, id: string, button: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(s.loginUrl);
  await page.goto(`http://127.0.0.1:${s.port}/#/`);
  const card = page.locator(`[data-confirmation="${id}"]`);
  await card.waitFor();
  const target = card.getByRole('button', { name: button });
  const box = await target.boundingBox();
  // Thumb-sized and inside the phone's width.
  expect(box?.height).toBeGreaterThanOrEqual(48);
  expect((box?.x ?? 0) + (box?.width ?? 999)).toBeLessThanOrEqual(390);
  await target.tap();
  await card.waitFor({ state: 'detached' });
  return page;
}

function phone(): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
}

/** A row of the store, read from the SQLite file directly. */
function stored(t: TestEnv, table: 'runs' | 'confirmations', id: string): Summary | undefined {
  const db = new Database(join(t.home, 'baton.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM ${table} WHERE id = ?`).get(id) as Summary | undefined;
  } finally {
    db.close();
  }
}

async function finished(host: Server, runId: string): Promise<Summary> {
  const res = (await host.call('wait_run', { runs: [runId], until: 'finished', timeout: 55 })) as Summary;
  expect(res.timed_out).toBe(false);
  return res.runs[0] as Summary;
}

describe('confirmations asked by sub-agents', () => {
  let t: TestEnv;
  let host: Server | undefined;
  let s: Serve | undefined;
  let context: BrowserContext | undefined;
  afterEach(async () => {
    await context?.close();
    context = undefined;
    await host?.close();
    host = undefined;
    await stopServe(s);
    s = undefined;
    t.cleanup();
  });

  it("the fixture agent calls request_confirmation on the baton it was offered; a person approves on the phone: the agent's call returns approve by dashboard", async () => {
    t = makeEnv({ delegation: { offer_to_agents: true } });
    host = await startServer(t, { daemon: true });
    s = await serve(t);
    const run = (await host.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: askStep({
        question: 'Deploy build 42 to production?',
        details: 'migrations: 0008',
        wait: '50s',
      }),
    })) as Summary;
    const asked = await askedBy(host, run.run_id);
    expect(asked).toMatchObject({ question: 'Deploy build 42 to production?', options: ['approve', 'deny'] });
    // The agent's call is blocked on the person: the run is still going, and says on what.
    const blocked = (await host.call('get_run', { run: run.run_id })) as Summary;
    expect(blocked.status).toBe('running');
    expect(blocked.pending_confirmations).toEqual([
      {
        confirmation_id: asked.confirmation_id,
        question: 'Deploy build 42 to production?',
        options: ['approve', 'deny'],
      },
    ]);

    context = await phone();
    const page = await tapOnPhone(context, s, asked.confirmation_id, 'Approve');
    const tapped = Date.now();

    const done = await finished(host, run.run_id);
    // The blocked call woke on the answer (not at the end of its 50 s wait).
    expect(Date.now() - tapped).toBeLessThan(10_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(
      ((await host.call('get_run', { run: run.run_id })) as Summary).pending_confirmations,
    ).toBeUndefined();
    // The agent's own tool result: the decision and who gave it.
    expect(toolSaid(done.result.text)).toMatchObject({
      confirmation_id: asked.confirmation_id,
      status: 'answered',
      decision: 'approve',
      decided_by: 'dashboard',
      run_id: run.run_id,
    });
    // The run records the question and the answer; its page on the dashboard shows them.
    const events = (await host.call('get_events', { run: run.run_id, types: ['confirmation'] })) as Summary;
    expect(events.events.map((e: Summary) => e.data)).toMatchObject([
      {
        confirmation_id: asked.confirmation_id,
        status: 'pending',
        question: 'Deploy build 42 to production?',
      },
      { confirmation_id: asked.confirmation_id, status: 'answered', decision: 'approve', by: 'dashboard' },
    ]);
    await page.goto(`http://127.0.0.1:${s.port}/#/runs/${run.run_id}`);
    await expect
      .poll(() => page.locator(`[data-confirmation-event="${asked.confirmation_id}"]`).last().textContent())
      .toContain('answered approve by dashboard');
  });

  it('a daemon killed while the agent waits loses nothing: the new daemon shows the question, baton confirm deny on a terminal answers it, the continued agent gets deny by cli', async () => {
    t = makeEnv({ delegation: { offer_to_agents: true } });
    host = await startServer(t, { daemon: true });
    const run = (await host.call('spawn_run', {
      agent: 'fixture',
      cwd: t.work,
      prompt: askStep({ question: 'Drop table sessions_old?', wait: '50s' }),
    })) as Summary;
    const asked = await askedBy(host, run.run_id);
    const id = asked.confirmation_id as string;
    const agentPid = (await eventually(() => stored(t, 'runs', run.run_id)?.agent_pid)) as number;

    // The owner dies with the agent's call blocked. Its agent (stdin closed, group killed) ends with it.
    const pid = daemonPid(t.home) as number;
    process.kill(pid, 'SIGKILL');
    await eventually(() => !alive(pid));
    await eventually(() => !alive(agentPid));
    expect(stored(t, 'confirmations', id)).toMatchObject({ status: 'pending', run_id: run.run_id });

    // A new daemon (started for the CLI) shows it.
    const pending = await runCli(t, ['confirmations', '--status', 'pending', '--json']);
    expect(JSON.parse(pending.stdout).confirmations.map((c: Summary) => c.confirmation_id)).toEqual([id]);
    expect(daemonPid(t.home)).not.toBe(pid);
    // The run could not outlive its owner: interrupted. follow_up continues its session, and the
    // agent asks again with the id (after trying to answer its own question: it is no person).
    const interrupted = (await host.call('get_run', { run: run.run_id })) as Summary;
    expect(interrupted.status).toBe('interrupted');
    const next = (await host.call('follow_up', {
      run: run.run_id,
      message: steps(
        {
          mcp_call: {
            server: 'baton',
            tool: 'answer_confirmation',
            arguments: { confirmation_id: id, decision: 'approve' },
          },
        },
        {
          mcp_call: {
            server: 'baton',
            tool: 'request_confirmation',
            arguments: { confirmation_id: id, wait: '50s' },
          },
        },
      ),
    })) as Summary;
    // The agent's second call is under way (its tool call shown, its baton MCP server started).
    await eventually(async () => {
      const events = (await host!.call('get_events', { run: next.run_id, types: ['tool_call'] })) as Summary;
      return JSON.stringify(events.events).includes('baton.request_confirmation');
    });
    await eventually(() => pidsWithEnv(`BATON_PARENT_RUN=${next.run_id}`).length > 1);
    await sleep(1_000);
    expect(stored(t, 'confirmations', id)).toMatchObject({ status: 'pending' });
    // A script cannot answer; a person typing on a terminal can, while the agent's call waits.
    const script = await runCli(t, ['confirm', id, 'deny']);
    expect(script.code).not.toBe(0);
    expect(script.stderr + script.stdout).toMatch(/NOT_APPROVER.*not script/);
    expect(((await host.call('get_run', { run: next.run_id })) as Summary).status).toBe('running');
    const typed = Date.now();
    const answered = await runCliOnTty(t, ['confirm', id, 'deny']);
    expect(answered.code, answered.stdout).toBe(0);
    const done = await finished(host, next.run_id);
    expect(Date.now() - typed).toBeLessThan(10_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    // Its own answer was refused: a sub-agent's baton is no person's channel.
    const said = (await host.call('get_events', { run: next.run_id, types: ['message'] })) as Summary;
    expect(JSON.stringify(said.events)).toMatch(/baton\.answer_confirmation failed: .*NOT_APPROVER/);
    expect(toolSaid(done.result.text)).toMatchObject({
      confirmation_id: id,
      status: 'answered',
      decision: 'deny',
      decided_by: 'cli',
      run_id: run.run_id,
    });
    expect(stored(t, 'confirmations', id)).toMatchObject({
      status: 'answered',
      decision: 'deny',
      decided_by: 'cli',
    });
    // The asking run records both, across the restart.
    const events = (await host.call('get_events', { run: run.run_id, types: ['confirmation'] })) as Summary;
    expect(events.events.map((e: Summary) => e.data)).toMatchObject([
      { confirmation_id: id, status: 'pending', question: 'Drop table sessions_old?' },
      { confirmation_id: id, status: 'answered', decision: 'deny', by: 'cli' },
    ]);
  });

  it("real claude-acp calls baton's request_confirmation (scripted model, offline); a person approves on the phone: the model's next request has approve by dashboard", async () => {
    t = makeEnv((dir) => {
      const home = join(dir, 'claude-home');
      mkdirSync(home, { recursive: true });
      setupAgentHome('claude-acp', home, model.url);
      return {
        delegation: { offer_to_agents: true },
        agents: { 'claude-acp': realAgentConfig('claude-acp', home, model.url) },
      };
    });
    host = await startServer(t, { daemon: true });
    s = await serve(t);
    const question = 'Rotate the production API keys now?';
    const seen = model.requests.length;
    const run = (await host.call('spawn_run', {
      agent: 'claude-acp',
      cwd: t.work,
      prompt: `CALL_TOOL request_confirmation ${JSON.stringify({ question, wait: '50s' })}`,
      policy: 'allow_all',
    })) as Summary;
    const asked = await askedBy(host, run.run_id);
    expect(asked.question).toBe(question);

    context = await phone();
    await tapOnPhone(context, s, asked.confirmation_id, 'Approve');
    const tapped = Date.now();

    const done = await finished(host, run.run_id);
    expect(Date.now() - tapped).toBeLessThan(10_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    // The tool result claude sent back to the model: the decision and who gave it.
    const results = model.requests
      .slice(seen)
      .flatMap((r) => ((r.body.messages as Summary[] | undefined) ?? []).flatMap((m) => m.content))
      .filter((c: Summary) => c?.type === 'tool_result')
      .map((c: Summary) => JSON.stringify(c.content));
    const result = results.find((r) => r.includes(asked.confirmation_id));
    expect(result, JSON.stringify(results)).toBeDefined();
    expect(result).toMatch(/\\"decision\\":\\"approve\\"/);
    expect(result).toMatch(/\\"decided_by\\":\\"dashboard\\"/);
    expect(done.result.text).toMatch(/tool said: .*"decision":"approve".*"decided_by":"dashboard"/);
  });
});
