// The kubernetes runner without a cluster. No Kubernetes API server can run on this machine
// (Debian has only kubectl 1.20 and etcd-server; npm has no kube-apiserver, k3s, kind or envtest
// binaries; container runtimes cannot start here: docs/scaling.md), so the runner's exec path
// is NOT exercised against a cluster; test/runner-kubernetes-exec.test.ts runs it end to end
// against a scripted API peer (test/fixtures/k8s-api.mjs: the protocol, not a cluster). Here:
// - the manifests it sends (Pod, agent-sandbox Sandbox, SandboxClaim) validate against the CRD
//   schemas of kubernetes-sigs/agent-sandbox (test/fixtures/k8s/*.json, their source in each
//   file's $comment), strictly: a field not in the schema fails;
// - `baton doctor` and spawn_run against a kubeconfig whose server is 127.0.0.1 on a closed port:
//   real @kubernetes/client-node calls, a real refused connection;
// - the bridge process's sandbox lifecycle against FAKE_API below: a plain HTTP server on
//   127.0.0.1 that answers only /version, the CRD lookups and the Pod create/read/delete calls
//   with canned JSON. It is not a cluster: nothing is scheduled and nothing is exec'd; it only
//   shows which calls the bridge makes and that it deletes what it created on SIGTERM and when
//   its stdin ends.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CHECKOUT_SCRIPT,
  claimManifest,
  CLONE_SCRIPT,
  podManifest,
  sandboxManifest,
} from '../src/runners/k8s-manifests.js';
import { kubernetesRunnerSchema, type KubernetesRunnerConfig } from '../src/runners/options.js';
import {
  eventually,
  makeEnv,
  pidsMatching,
  pidsWithEnv,
  ROOT,
  runCli,
  startServer,
  waitFor,
  type Server,
  type Summary,
  type TestEnv,
} from './helpers.js';
import { writeKubeconfig } from './fixtures/k8s-api.mjs';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'k8s');
const BRIDGE = join(ROOT, 'dist', 'runners', 'k8s-bridge.js');
type Schema = Record<string, unknown>;

/** The schema with additionalProperties:false on every object that lists its properties. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (!node || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' ? mapValues(v as Schema) : strict(v);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}
const mapValues = (o: Schema) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, strict(v)]));

function validator(file: string) {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  ajv.addVocabulary([
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
    'x-kubernetes-int-or-string',
  ]);
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  const { $comment, ...schema } = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Schema;
  expect(String($comment)).toContain('kubernetes-sigs/agent-sandbox');
  const validate = ajv.compile(strict(schema) as Schema);
  return (manifest: unknown) => {
    const ok = validate(manifest);
    return ok
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  };
}

const config = (over: Partial<KubernetesRunnerConfig> = {}): KubernetesRunnerConfig =>
  kubernetesRunnerSchema.parse({ type: 'kubernetes', image: 'registry.example/agents/claude:1.2', ...over });
const plan = { name: 'baton-0123456789ab', now: new Date('2026-12-03T12:00:00Z'), commit: 'a'.repeat(40) };

describe('kubernetes runner: the manifests it sends validate against the agent-sandbox CRD schemas', () => {
  const variants: [string, KubernetesRunnerConfig][] = [
    [
      'git clone of the base commit',
      config({ git_url: 'https://git.example/team/repo.git', namespace: 'agents' }),
    ],
    ['a named volume', config({ volume: 'checkout-main', work_dir: '/src' })],
    [
      'resources and a service account',
      config({ resources: { cpu: '500m', memory: '2Gi' }, service_account: 'agent', max_lifetime: 3600 }),
    ],
  ];

  it.each(variants)('Pod and Sandbox (%s)', (_, c) => {
    const pod = podManifest(c, plan);
    expect(validator('pod.schema.json')(pod)).toEqual([]);
    const sandbox = sandboxManifest(c, plan);
    expect(validator('sandbox.schema.json')(sandbox)).toEqual([]);
    expect(sandbox).toMatchObject({ apiVersion: 'agents.x-k8s.io/v1alpha1', kind: 'Sandbox' });
    const spec = (pod as Summary).spec;
    expect(spec.automountServiceAccountToken).toBe(Boolean(c.service_account));
    expect(spec.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    if (c.git_url) {
      // The clone is argv, never a shell line: the URL and commit are single words.
      // The URL and commit are arguments of a fixed script, never part of it.
      expect(spec.initContainers.map((x: Summary) => x.command)).toEqual([
        ['sh', '-c', CLONE_SCRIPT, 'baton-clone', '/workspace', c.git_url],
        ['sh', '-c', CHECKOUT_SCRIPT, 'baton-checkout', '/workspace', plan.commit],
      ]);
    } else expect(spec.initContainers).toBeUndefined();
    if (c.volume)
      expect(spec.volumes).toEqual([
        { name: 'work', persistentVolumeClaim: { claimName: c.volume } },
        { name: 'home', emptyDir: {} },
      ]);
    // Deleted by the controller at the latest after max_lifetime (baton deletes it first).
    expect((sandbox as Summary).spec.shutdownTime).toBe(
      new Date(plan.now.getTime() + (c.max_lifetime ?? 86_400) * 1000).toISOString().replace('.000Z', 'Z'),
    );
  });

  it("a session's Sandbox: its work tree on a claimed volume (the controller adds it to the Pod), its holder named", () => {
    const c = config({
      git_url: 'https://git.example/team/repo.git',
      work_size: '20Gi',
      storage_class: 'fast-ssd',
    });
    const sandbox = sandboxManifest(c, { ...plan, session: { holder: '0123456789abcdef' } }) as Summary;
    expect(validator('sandbox.schema.json')(sandbox)).toEqual([]);
    expect(sandbox.metadata.annotations).toEqual({ 'baton.dev/holder': '0123456789abcdef' });
    const claim = (name: string, storage: string) => ({
      metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'baton' } },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage } },
        storageClassName: 'fast-ssd',
      },
    });
    // The work tree's and the agent's home's (its own session files, so it resumes).
    expect(sandbox.spec.volumeClaimTemplates).toEqual([claim('work', '20Gi'), claim('home', '1Gi')]);
    // No volume of those names in the template (the v1alpha1 controller appends the claims').
    expect(sandbox.spec.podTemplate.spec.volumes).toEqual([]);
    // The work tree a folder of the claimed volume (its root may hold lost+found), the clone's too.
    expect(sandbox.spec.podTemplate.spec.containers[0].volumeMounts).toEqual([
      { name: 'work', mountPath: '/workspace', subPath: 'tree' },
      { name: 'home', mountPath: '/home/baton' },
    ]);
    expect(sandbox.spec.podTemplate.spec.initContainers[0].volumeMounts).toEqual([
      { name: 'work', mountPath: '/workspace', subPath: 'tree' },
    ]);
    // With a named volume, that one for the work tree: only the home claimed.
    const named = sandboxManifest(config({ volume: 'checkout-main', storage_class: 'fast-ssd' }), {
      ...plan,
      session: { holder: 'x' },
    }) as Summary;
    expect(named.spec.volumeClaimTemplates).toEqual([claim('home', '1Gi')]);
    expect(named.spec.podTemplate.spec.volumes).toEqual([
      { name: 'work', persistentVolumeClaim: { claimName: 'checkout-main' } },
    ]);
    expect(validator('sandbox.schema.json')(named)).toEqual([]);
  });

  it('the init containers skip what is done: a resumed Pod keeps the clone and the changes in it', () => {
    const repo = mkdtempSync(join(tmpdir(), 'baton-k8s-init-'));
    try {
      const src = join(repo, 'src');
      const work = join(repo, 'work');
      mkdirSync(src);
      const git = (cwd: string, ...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...args], {
          cwd,
          encoding: 'utf8',
        }).trim();
      git(src, 'init', '-q');
      writeFileSync(join(src, 'a.txt'), 'one\n');
      git(src, 'add', '.');
      git(src, 'commit', '-qm', 'one');
      const commit = git(src, 'rev-parse', 'HEAD');
      const init = () => {
        execFileSync('sh', ['-c', CLONE_SCRIPT, 'baton-clone', work, src]);
        execFileSync('sh', ['-c', CHECKOUT_SCRIPT, 'baton-checkout', work, commit]);
      };
      init();
      expect(readFileSync(join(work, 'a.txt'), 'utf8')).toBe('one\n');
      writeFileSync(join(work, 'a.txt'), 'changed by the agent\n');
      init(); // the next Pod of the session
      expect(readFileSync(join(work, 'a.txt'), 'utf8')).toBe('changed by the agent\n');
      expect(readFileSync(join(work, '.git', 'baton-base'), 'utf8').trim()).toBe(commit);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('SandboxClaim of a template', () => {
    const claim = claimManifest({ ...config({ template: 'python-agent' }), template: 'python-agent' }, plan);
    expect(validator('sandboxclaim.schema.json')(claim)).toEqual([]);
    expect(claim).toMatchObject({
      apiVersion: 'extensions.agents.x-k8s.io/v1alpha1',
      spec: { sandboxTemplateRef: { name: 'python-agent' } },
    });
  });

  it('the schemas bite: a replica count, policy or field the CRD does not have fails', () => {
    const sandbox = sandboxManifest(config(), plan) as Summary;
    const check = validator('sandbox.schema.json');
    expect(check({ ...sandbox, spec: { ...sandbox.spec, replicas: 2 } }).join()).toContain('must be <= 1');
    expect(check({ ...sandbox, spec: { ...sandbox.spec, shutdownPolicy: 'Later' } }).join()).toContain(
      'allowed values',
    );
    const pod = podManifest(config(), plan) as Summary;
    const typo = {
      ...pod,
      spec: { ...pod.spec, containers: [{ ...pod.spec.containers[0], workdir: '/x' }] },
    };
    expect(validator('pod.schema.json')(typo).join()).toContain('"additionalProperty":"workdir"');
  });

  it('the config refuses names, images and URLs that are not what they claim', () => {
    for (const bad of [
      { namespace: 'Agents' },
      { image: '-v /:/host' },
      { git_url: 'ext::sh -c touch% /tmp/pwned' },
      { git_url: 'file:///etc' },
      { resources: { cpu: '1; rm' } },
      { volume: '../x' },
      { work_size: '10 Gi' },
      { storage_class: 'Fast SSD' },
    ]) {
      expect(
        kubernetesRunnerSchema.safeParse({ type: 'kubernetes', image: 'img', ...bad }).success,
        JSON.stringify(bad),
      ).toBe(false);
    }
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = netServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('kubernetes runner against 127.0.0.1 on a closed port (a real refused connection)', () => {
  let t: TestEnv;
  let s: Server | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    t?.cleanup();
  });

  it('baton doctor: the cluster is unreachable, with the exact fix; spawn_run fails naming it and leaves nothing', async () => {
    const port = await closedPort();
    t = makeEnv((dir) => {
      writeKubeconfig(join(dir, 'kubeconfig'), `https://127.0.0.1:${port}`);
      const runner = {
        type: 'kubernetes',
        kubeconfig: join(dir, 'kubeconfig'),
        context: 'test',
        image: 'img:1',
      };
      return {
        agents: {
          kube: { driver: 'acp', command: 'claude-agent-acp', runner },
          'kube-nocontext': { driver: 'acp', command: 'x', runner: { ...runner, context: 'nope' } },
        },
      };
    });
    s = await startServer(t);
    const res = await runCli(t, ['doctor', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const agents = (JSON.parse(res.stdout) as { agents: Summary[] }).agents;
    const kube = agents.find((a) => a.name === 'kube') as Summary;
    expect(kube).toMatchObject({ installed: false, ready: false });
    expect(kube.problem).toBe(
      `cannot reach the Kubernetes cluster https://127.0.0.1:${port} (context test): connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(kube.fix).toBe(
      `check that the API server at https://127.0.0.1:${port} runs and that this machine reaches it (kubectl --kubeconfig ${join(t.dir, 'kubeconfig')} --context test version), or fix the runner's kubeconfig/context`,
    );
    expect(kube.command).toContain(`in a sandbox on cluster https://127.0.0.1:${port} (context test)`);
    const noContext = agents.find((a) => a.name === 'kube-nocontext') as Summary;
    expect(noContext.problem).toContain('has no context "nope"');

    const run = (await s.call('spawn_run', { agent: 'kube', cwd: t.work, prompt: 'hi' })) as Summary;
    const failed = (await waitFor(s, run.run_id)) as Summary;
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('HOST_UNREACHABLE');
    expect(failed.error.message).toContain(
      `cannot reach the Kubernetes cluster https://127.0.0.1:${port} (context test)`,
    );
    // This machine's git would read the wrong tree: the run says its changes are not tracked.
    const { events } = (await s.call('get_events', { run: run.run_id, types: ['warning'] })) as Summary;
    expect(JSON.stringify(events)).toContain('changes will not be tracked');
    // Nothing was started or made: no bridge process, not even its state folder.
    // (Only this baton's: another test file's bridges may run meanwhile.)
    const mine = pidsWithEnv(`BATON_HOME=${t.home}`);
    expect(pidsMatching('k8s-bridge.js').filter((p) => mine.includes(p))).toEqual([]);
    expect(existsSync(join(t.home, 'kubernetes'))).toBe(false);
  });

  it('the bridge itself, given that kubeconfig, exits 69 naming the cluster', async () => {
    const port = await closedPort();
    t = makeEnv();
    writeKubeconfig(join(t.dir, 'kubeconfig'), `https://127.0.0.1:${port}`);
    const out = await runBridge(
      { type: 'kubernetes', kubeconfig: join(t.dir, 'kubeconfig'), image: 'img:1' },
      t.dir,
    ).done;
    expect(out.code).toBe(69);
    expect(out.stderr).toContain(
      `cannot reach the Kubernetes cluster https://127.0.0.1:${port} (context test)`,
    );
  });
});

/** Starts dist/runners/k8s-bridge.js with a header as the runner writes it. */
function runBridge(runnerConfig: Record<string, unknown>, cwd: string) {
  const child = spawn(process.execPath, [BRIDGE], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const header = {
    config: runnerConfig,
    spawn: { command: 'agent', args: ['--acp'], cwd: '/workspace', env: { SECRET_TOKEN: 'only-in-stdin' } },
  };
  child.stdin.write(`${JSON.stringify(header)}\n`);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stderr })),
  );
  return { child, done };
}

/**
 * FAKE_API: not a Kubernetes API server. It answers GET /version, 404 for the agent-sandbox CRDs
 * (so the bridge falls back to a Pod), records POST/GET/DELETE of Pods in namespace "agents" and
 * answers them with canned JSON; the Pod stays Pending for ever (nothing schedules it).
 */
async function fakeApi(): Promise<{ server: HttpServer; url: string; calls: string[]; bodies: Summary[] }> {
  const calls: string[] = [];
  const bodies: Summary[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      calls.push(`${req.method} ${path}`);
      const json = (code: number, value: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (path === '/version') return json(200, { major: '1', minor: '31', gitVersion: 'fake' });
      if (path.startsWith('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/'))
        return json(404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
      if (req.method === 'POST' && path === '/api/v1/namespaces/agents/pods') {
        bodies.push(JSON.parse(body) as Summary);
        return json(201, { ...JSON.parse(body), status: { phase: 'Pending' } });
      }
      const pod = /^\/api\/v1\/namespaces\/agents\/pods\/([a-z0-9-]+)$/.exec(path);
      if (pod && req.method === 'GET')
        return json(200, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: pod[1] },
          status: { phase: 'Pending' },
        });
      if (pod && req.method === 'DELETE') return json(200, { kind: 'Status', status: 'Success' });
      json(404, { kind: 'Status', status: 'Failure', code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls, bodies };
}

describe('the bridge against FAKE_API (canned answers, not a cluster: no exec)', () => {
  let t: TestEnv;
  let api: Awaited<ReturnType<typeof fakeApi>>;
  afterEach(async () => {
    await new Promise((r) => api?.server.close(r));
    t?.cleanup();
  });

  for (const [how, end] of [
    ['SIGTERM (the kill ladder)', (c: ReturnType<typeof spawn>) => c.kill('SIGTERM')],
    ['the end of its stdin (the owner closed it or died)', (c: ReturnType<typeof spawn>) => c.stdin?.end()],
  ] as const) {
    it(`falls back to a Pod without the CRDs and deletes it on ${how}`, async () => {
      api = await fakeApi();
      t = makeEnv();
      writeKubeconfig(join(t.dir, 'kubeconfig'), api.url);
      const { child, done } = runBridge(
        { type: 'kubernetes', kubeconfig: join(t.dir, 'kubeconfig'), image: 'img:1', namespace: 'agents' },
        t.dir,
      );
      await eventually(
        () => api.calls.some((c) => c.startsWith('GET /api/v1/namespaces/agents/pods/')),
        10_000,
      );
      const name = api.bodies[0]?.metadata.name as string;
      expect(name).toMatch(/^baton-[0-9a-f]{12}$/);
      expect(api.calls[0]).toBe('GET /version');
      expect(api.calls.slice(1, 3).sort()).toEqual([
        'GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/sandboxclaims.extensions.agents.x-k8s.io',
        'GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/sandboxes.agents.x-k8s.io',
      ]);
      expect(api.calls[3]).toBe('POST /api/v1/namespaces/agents/pods');
      // The agent's variables never reach the API server (they go over the exec stream's stdin).
      expect(JSON.stringify(api.bodies)).not.toContain('only-in-stdin');
      end(child);
      const out = await done;
      expect(api.calls, out.stderr).toContain(`DELETE /api/v1/namespaces/agents/pods/${name}`);
      expect(out.code).toBe(how.startsWith('SIGTERM') ? 143 : 0);
    });
  }
});
