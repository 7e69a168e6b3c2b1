// The dashboard in a real browser: Debian's Chromium driven by Playwright against the built
// `baton serve`, with the built-in demo agent (a real ACP child process) behind it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './fixtures/chromium.mjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXTURE_AGENT,
  ROOT,
  SCENARIO,
  call,
  eventually,
  makeEnv,
  runCli,
  serve,
  stopServe,
  type Serve,
  type TestEnv,
} from './helpers.js';

const SHOTS = join(ROOT, 'docs');

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
});
afterAll(async () => {
  await browser?.close();
});

/** The session cookie and CSRF token of a logged-in page, for hand-made requests. */
async function credentials(context: BrowserContext, page: Page) {
  const cookie = (await context.cookies()).find((c) => c.name === 'baton_session');
  const session = await page.evaluate(async () => (await fetch('/api/session')).json());
  return { cookie: `baton_session=${cookie?.value}`, csrf: session.csrf_token as string };
}

describe('dashboard', () => {
  let t: TestEnv;
  let s: Serve | undefined;
  let context: BrowserContext | undefined;
  afterEach(async () => {
    await context?.close();
    context = undefined;
    await stopServe(s);
    s = undefined;
    t.cleanup();
  });

  it('logs in from the one-time URL, starts a run from the form, sees it wait live, answers it, sees it complete', async () => {
    t = makeEnv();
    s = await serve(t);
    expect(s.loginUrl).toMatch(/\/login\?code=/);
    context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    await page.goto(s.loginUrl);
    await expect.poll(() => page.url()).toBe(`http://127.0.0.1:${s.port}/`);
    await page.getByText('No runs yet').waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === 'baton_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // The token never reaches the page or its URL.
    expect(page.url()).not.toContain(s.token);
    expect(await page.content()).not.toContain(s.token);

    await page.getByRole('link', { name: 'New run' }).click();
    await page.locator('#agent option[value="demo"]').waitFor({ state: 'attached' });
    await page.selectOption('#agent', 'demo');
    await page.getByText(/^ready/).waitFor();
    await page.fill('#cwd', t.work);
    await page.fill('#prompt', 'Please write a file for me');
    await page.fill('#label', 'demo-write');
    await page.getByRole('button', { name: 'Start run' }).click();

    // The run page: the permission request appears live, one button per option.
    await page.locator('#pending .option').first().waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('.run-head .badge').textContent()).toBe('waiting');
    const options = await page.locator('#pending .option').allTextContents();
    expect(options.length).toBeGreaterThanOrEqual(2);
    await page.locator('.log .plan').waitFor();
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'dashboard-run.png'), fullPage: true });

    // The runs list in another tab shows the waiting run at the top, highlighted.
    const list = await context.newPage();
    await list.goto(`http://127.0.0.1:${s.port}/#/`);
    await list.locator('.run-row.attention').waitFor();
    expect(await list.locator('.run-row').first().getAttribute('class')).toContain('attention');
    await list.screenshot({ path: join(SHOTS, 'dashboard-runs.png'), fullPage: true });

    // Answer: allow. The page turns completed without a reload; the list follows live too.
    await page.locator('#pending .option.allow').first().click();
    await expect
      .poll(() => page.locator('.run-head .badge').textContent(), { timeout: 30_000 })
      .toBe('completed');
    await page.getByText('Answered allow_once by dashboard').waitFor();
    await expect.poll(() => list.locator('.run-row .badge').first().textContent()).toBe('completed');
    expect(readFileSync(join(t.work, 'baton-demo.md'), 'utf8')).toContain('Hello from');
    // Who answered is recorded.
    const events = (await runCli(t, ['logs', 'demo-write', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: { by?: string } });
    expect(events.find((e) => e.type === 'permission_resolved')?.data.by).toBe('dashboard');
    expect(pageErrors).toEqual([]);
  });

  it('works on a phone: narrow layout, big touch targets, follow-up and cancel from the run page', async () => {
    t = makeEnv();
    s = await serve(t);
    context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    const page = await context.newPage();
    await page.goto(s.loginUrl);
    await page.getByText('No runs yet').waitFor();
    const { cookie, csrf } = await credentials(context, page);
    // A slow fixture run waiting for an answer, started through the API with the page's login.
    const spawned = await call(s.port, 'POST', '/api/runs', {
      headers: { cookie, 'x-csrf-token': csrf },
      body: {
        agent: 'fixture',
        cwd: t.work,
        label: 'phone',
        prompt: JSON.stringify({
          steps: [
            { message: 'Checking.' },
            {
              permission: {
                title: 'Run the tests',
                kind: 'execute',
                allowed: [{ message: 'Tests pass.' }],
                rejected: [{ message: 'Skipped.' }],
              },
            },
          ],
        }),
      },
    });
    expect(spawned.status).toBe(201);
    await page.locator('.run-row.attention').waitFor();
    await page.screenshot({ path: join(SHOTS, 'dashboard-phone-runs.png') });
    await page.locator('.run-row.attention').tap();
    await page.locator('#pending .option').first().waitFor();
    // Touch targets: every option button and the follow-up button are at least 44 px high.
    for (const box of await page
      .locator('#pending .option, .follow-up button')
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect()))) {
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(box.right).toBeLessThanOrEqual(390);
    }
    // Nothing scrolls sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, 'dashboard-phone-run.png') });

    await page.locator('#cancel').tap();
    await expect
      .poll(() => page.locator('.run-head .badge').textContent(), { timeout: 30_000 })
      .toBe('cancelled');
    await page.fill('.follow-up textarea', JSON.stringify({ steps: [{ message: 'Back again.' }] }));
    await page.getByRole('button', { name: 'Send follow-up' }).tap();
    // The follow-up's run page (the request may take a while on a loaded machine).
    await expect.poll(() => page.url(), { timeout: 15_000 }).not.toContain(spawned.json.run_id as string);
    await expect
      .poll(() => page.locator('.run-head .badge').textContent(), { timeout: 30_000 })
      .toBe('completed');
    await page.getByText('Back again.', { exact: true }).waitFor();
  });

  it('wakes idle sessions: Wake idle on the runs page types into a waiting program and follows up a finished session; Wake on a run page', async () => {
    t = makeEnv((dir) => ({
      agents: {
        fixture: {
          driver: 'acp',
          command: process.execPath,
          args: [FIXTURE_AGENT, '--scenario', SCENARIO, '--state', join(dir, 'state')],
        },
        echoer: {
          driver: 'terminal',
          command: 'sh',
          args: ['-c', `printf '> '; while read l; do echo "got:$l"; printf '> '; done`],
        },
      },
      wake: { text: 'nudge-from-page' },
    }));
    s = await serve(t);
    context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(s.loginUrl);
    await page.getByText('No runs yet').waitFor();
    const { cookie, csrf } = await credentials(context, page);
    const headers = { cookie, 'x-csrf-token': csrf };
    const get = async (run: string) => (await call(s!.port, 'GET', `/api/runs/${run}`, { headers })).json;
    const done = await call(s.port, 'POST', '/api/runs', {
      headers,
      body: { agent: 'fixture', cwd: t.work, label: 'finished', prompt: 'first' },
    });
    const term = await call(s.port, 'POST', '/api/runs', {
      headers,
      body: { agent: 'echoer', cwd: t.work, label: 'idle-term' },
    });
    await eventually(async () => (await get(done.json.run_id)).status === 'completed', 30_000);
    await eventually(async () => (await get(term.json.run_id)).waiting_for?.kind === 'input', 30_000);

    await page.locator('#wake-all').click();
    await page.getByText('Woke 2 of 2.').waitFor();
    const screen = async () =>
      (await call(s!.port, 'GET', `/api/runs/${term.json.run_id}/terminal`, { headers })).json
        .screen as string;
    await eventually(async () => (await screen()).includes('got:nudge-from-page'), 15_000);
    // The finished session got a follow-up: a new run on its session, listed live.
    await page.locator('.run-row', { hasText: 'fixture' }).nth(1).waitFor({ timeout: 15_000 });

    // Wake on the idle program's own page: typed again.
    await page.goto(`http://127.0.0.1:${s.port}/#/runs/${term.json.run_id}`);
    await page.locator('#pending button.wake').click();
    await eventually(async () => ((await screen()).match(/got:nudge-from-page/g) ?? []).length === 2, 15_000);
    // Wake on the finished run's page: its follow-up's page opens and completes.
    await page.goto(`http://127.0.0.1:${s.port}/#/runs/${done.json.run_id}`);
    await page.locator('.follow-up button.wake').click();
    await expect.poll(() => page.url(), { timeout: 15_000 }).not.toContain(done.json.run_id as string);
    await expect
      .poll(() => page.locator('.run-head .badge').textContent(), { timeout: 30_000 })
      .toBe('completed');
    const next = await get(page.url().split('/').pop() as string);
    expect(next.session_id).toBe((await get(done.json.run_id)).session_id);
    expect(JSON.stringify(next.result)).toContain('nudge-from-page');
    await call(s.port, 'POST', `/api/runs/${term.json.run_id}/cancel`, { headers, body: {} });
    expect(pageErrors).toEqual([]);
  });

  it('refuses CSRF, spent codes and wrong tokens; logs in with the token; keeps the token off the page', async () => {
    t = makeEnv();
    s = await serve(t);
    context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(s.loginUrl);
    await page.getByText('No runs yet').waitFor();
    const { cookie, csrf } = await credentials(context, page);
    expect(csrf.length).toBeGreaterThan(20);
    const body = { agent: 'fixture', cwd: t.work, prompt: 'hello' };

    // A state-changing request with the cookie but without the CSRF token (what a forged form
    // or a script on another site could send): refused, and nothing was started.
    const forged = await call(s.port, 'POST', '/api/runs', { headers: { cookie }, body });
    expect(forged.status).toBe(403);
    expect(forged.json.error.code).toBe('FORBIDDEN');
    const wrong = await call(s.port, 'POST', '/api/runs', {
      headers: { cookie, 'x-csrf-token': 'x'.repeat(43) },
      body,
    });
    expect(wrong.status).toBe(403);
    // From a foreign Origin, even with the right token: refused.
    const foreign = await call(s.port, 'POST', '/api/runs', {
      headers: { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' },
      body,
    });
    expect(foreign.status).toBe(403);
    // Inside the page without the header (fetch from the page's own origin): refused too.
    const inPage = await page.evaluate(async (b) => {
      const r = await fetch('/api/runs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      return r.status;
    }, body);
    expect(inPage).toBe(403);
    expect((await call(s.port, 'GET', '/api/runs', { token: s.token })).json.runs).toHaveLength(0);
    // With the header: accepted.
    const ok = await call(s.port, 'POST', '/api/runs', { headers: { cookie, 'x-csrf-token': csrf }, body });
    expect(ok.status).toBe(201);

    // The one-time code was spent: a second browser gets the login form with a reason.
    const other = await browser.newContext();
    try {
      const p2 = await other.newPage();
      await p2.goto(s.loginUrl);
      await p2.getByText('already used or has expired').waitFor();
      await p2.fill('input[name=token]', 'not-the-token-at-all');
      await p2.getByRole('button', { name: 'Log in' }).click();
      await p2.getByText('That token is not right').waitFor();
      await p2.fill('input[name=token]', s.token);
      await p2.getByRole('button', { name: 'Log in' }).click();
      await p2.locator('.run-row').first().waitFor();
      // The dashboard's pages carry a strict CSP and no external assets.
      const res = await call(s.port, 'GET', '/');
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.body).not.toMatch(/https?:\/\//);
    } finally {
      await other.close();
    }
    // A login code minted over the API works once.
    const minted = await call(s.port, 'POST', '/api/login-codes', { token: s.token });
    expect(minted.status).toBe(201);
    const fresh = await browser.newContext();
    try {
      const p3 = await fresh.newPage();
      await p3.goto(minted.json.url as string);
      await p3.locator('.run-row').first().waitFor();
    } finally {
      await fresh.close();
    }
    await eventually(
      async () => (await call(s!.port, 'GET', '/api/status', { token: s!.token })).status === 200,
    );
  });
});
