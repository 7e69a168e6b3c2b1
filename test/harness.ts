// An in-process baton for fast engine tests: the TypeScript sources imported directly (no
// `npm run build`), a real SQLite store in a temporary BATON_HOME, and the scripted ACP agent
// (src/agents/scripted-agent.ts) as a real child process. Only the Engine's public methods are used,
// so these tests keep passing while its internals move (the safety net for splitting src/engine/engine.ts).
//
// What src/app.ts `openApp` wires is replicated here at its minimum: loadConfig → Store → Engine
// with the ACP driver only (the one the fixture agent needs), the store's write errors and the
// engine's internal errors collected instead of logged. Not wired: the owner socket and remote
// hosts (ipc/), watchOtherProcesses, webhooks, recover() (a fresh home has nothing to recover).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { loadConfig } from '../src/config.js';
import { AcpDriver } from '../src/drivers/acp/index.js';
import { Engine } from '../src/engine/engine.js';
import { createHttpApp } from '../src/http/api.js';
import { LocalBaton } from '../src/ops/local.js';
import { Store } from '../src/store/store.js';
import { eventually, pidsMatching, ROOT, SCENARIO } from './helpers.js';

/** The port the in-process HTTP app believes it listens on (nothing listens: requests go to `app.request`). */
export const HARNESS_PORT = 7420;

/** An in-process baton over a temporary BATON_HOME. */
export type Harness = {
  /** The temporary folder holding everything (home, work, agent state); removed by `close`. */
  dir: string;
  /** BATON_HOME (holds config.json and baton.db). */
  home: string;
  /** A work folder inside the configured roots: pass it as `cwd`. */
  work: string;
  engine: Engine;
  store: Store;
  /** The store's scheduled-write failures and the engine's internal errors, in order. */
  errors: unknown[];
  /** PIDs of fixture agent processes of this harness that are alive now. */
  agentPids: () => number[];
  /**
   * Makes the database refuse to grow, as on a full disk: SQLite's `max_page_count` is set to its
   * current size, so a write that needs a new page fails with SQLITE_FULL (files under artifacts/
   * are not limited). Returns the function that lifts the limit.
   */
  fillStore: () => () => void;
  /** Spawns a run of the `fixture` agent in `work` (extra fields are passed through to spawnRun). */
  spawn: (
    prompt: string,
    extra?: Partial<Parameters<Engine['spawnRun']>[0]>,
  ) => ReturnType<Engine['spawnRun']>;
  /** Stops the engine (agents stopped, runs interrupted), closes the store, checks no agent is left, removes `dir`. */
  close: () => Promise<void>;
};

/**
 * The scripted agent compiled from src/agents/scripted-agent.ts into `dir` (type annotations
 * stripped by TypeScript's transpiler; the fixture wrapper test/fixtures/fixture-agent.mjs needs
 * dist/). A `node_modules` link beside it lets its `@agentclientprotocol/sdk` import resolve.
 */
function compileScriptedAgent(dir: string): string {
  const source = readFileSync(join(ROOT, 'src', 'agents', 'scripted-agent.ts'), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: 'scripted-agent.ts',
  });
  const file = join(dir, 'scripted-agent.mjs');
  writeFileSync(file, out.outputText);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return file;
}

/**
 * Starts an in-process baton. `config` is merged over `{ roots: [dir], agents: { fixture } }`
 * (the `fixture` agent runs test/fixtures/scenario.json, so scripted prompts made with `steps()`
 * and `remember…` recall work). Call `close()` in `afterEach`.
 */
export function startHarness(config: Record<string, unknown> = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'baton-harness-'));
  const home = join(dir, 'home');
  const work = join(dir, 'work');
  const agentDir = join(dir, 'agent');
  for (const d of [home, work, agentDir]) mkdirSync(d);
  const agent = compileScriptedAgent(agentDir);
  writeFileSync(
    join(home, 'config.json'),
    JSON.stringify({
      roots: [dir],
      agents: {
        fixture: {
          driver: 'acp',
          command: process.execPath,
          args: [agent, '--scenario', SCENARIO, '--state', join(dir, 'state')],
        },
      },
      ...config,
    }),
  );
  const cfg = loadConfig({ BATON_HOME: home });
  const store = new Store(cfg.home);
  const engine = new Engine({ config: cfg, store, drivers: { acp: new AcpDriver() } });
  const errors: unknown[] = [];
  store.eventWriter.onError((err) => errors.push(err));
  engine.onInternalError = (err) => errors.push(err);
  const agentPids = () => pidsMatching(agent);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        await engine.shutdown();
      } finally {
        store.close();
      }
      try {
        // shutdown stops every agent process group: none may outlive it.
        await eventually(() => agentPids().length === 0, 5000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    })();
    return closing;
  };
  return {
    dir,
    home,
    work,
    engine,
    store,
    errors,
    agentPids,
    fillStore: () => {
      const before = store.db.pragma('max_page_count', { simple: true }) as number;
      const pages = store.db.pragma('page_count', { simple: true }) as number;
      store.db.pragma(`max_page_count = ${pages}`);
      return () => void store.db.pragma(`max_page_count = ${before}`);
    },
    spawn: (prompt, extra = {}) => engine.spawnRun({ agent: 'fixture', cwd: work, prompt, ...extra }),
    close,
  };
}

/** A parsed server-sent event. */
export type SseEvent = { id?: string; event?: string; data: string };

/** The HTTP API of `baton serve` over a harness's engine, called in-process with `app.request()`. */
export type HarnessHttp = {
  /** The bearer token the app requires. */
  token: string;
  /** A request with the right Host and `Authorization: Bearer <token>` (pass `authorization: ''` to send none). */
  request: (path: string, init?: RequestInit) => Promise<Response>;
  /** Reads an SSE response until it ends or `until` says stop (then cancels the stream). */
  readSse: (res: Response, until?: (events: SseEvent[]) => boolean) => Promise<SseEvent[]>;
  close: () => Promise<void>;
};

/**
 * Builds the Hono app of src/http/api.ts over `h.engine`, as src/http/serve.ts does after listening
 * (a random token, loopback host names, {@link HARNESS_PORT} as the port the Host header must name).
 */
export function harnessHttp(h: Harness): HarnessHttp {
  const token = randomBytes(24).toString('base64url');
  const api = createHttpApp(new LocalBaton(h.engine, { kind: 'serve' }), {
    token,
    hostnames: ['127.0.0.1', 'localhost', '[::1]'],
    port: HARNESS_PORT,
  });
  const request = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('host')) headers.set('host', `127.0.0.1:${HARNESS_PORT}`);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    else if (headers.get('authorization') === '') headers.delete('authorization');
    return api.app.request(`http://127.0.0.1:${HARNESS_PORT}${path}`, { ...init, headers });
  };
  const readSse = async (res: Response, until?: (events: SseEvent[]) => boolean) => {
    const events: SseEvent[] = [];
    if (!res.body) return events;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return events;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const e: SseEvent = { data: '' };
          let has = false;
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) e.id = line.slice(4);
            else if (line.startsWith('event: ')) e.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              e.data += line.slice(6);
              has = true;
            }
          }
          if (has) events.push(e);
          if (until?.(events)) return events;
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  };
  return { token, request, readSse, close: () => api.close() };
}
