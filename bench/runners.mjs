// Runners: what running the agent over ssh or in a container costs against running it here.
// Starts its own sshd on 127.0.0.1 (Debian openssh-server, its own config, host key and
// authorized_keys; key login as the user the bench runs as), builds a podman image offline
// (test/fixtures/container-image.mjs) and starts one `baton mcp`, whose agent `fixture` runs here,
// `fixture-ssh` over the ssh runner (the same scripted agent, in a folder mapped by remote_cwd) and
// `fixture-box` in a container (the checkout mounted read-only for the agent's code). Measures
// (1) start latency: a new session's first run, spawn_run → finished (agent start, handshake, one
// short turn), the first ssh one (the shared connection made) apart; (2) per-turn overhead: a
// follow_up on the warm session. Reports medians and the ssh/local and container/local ratios.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { buildAgentImage, ENGINE, removeImage } from '../test/fixtures/container-image.mjs';
import {
  AGENT,
  SCENARIO,
  fmt,
  makeEnv,
  median,
  report,
  runBench,
  sleep,
  startServer,
  steps,
  waitFinished,
} from './lib.mjs';

const N = Number(process.env.BENCH_N ?? 12);
const PROMPT = steps({ message: 'done' });
const t = makeEnv();
let sshd;
let server;
let image;

function freePort() {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startSshd(dir) {
  if (!existsSync('/usr/sbin/sshd'))
    throw new Error('/usr/sbin/sshd is missing: apt-get install openssh-server');
  mkdirSync(dir, { recursive: true });
  for (const k of ['host_key', 'user_key'])
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o600);
  const port = await freePort();
  const user = userInfo().username;
  writeFileSync(
    join(dir, 'sshd_config'),
    `Port ${port}\nListenAddress 127.0.0.1\nHostKey ${join(dir, 'host_key')}\nAuthorizedKeysFile ${join(dir, 'authorized_keys')}\nPidFile ${join(dir, 'sshd.pid')}\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nAllowUsers ${user}\n`,
  );
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  const proc = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], {
    stdio: 'ignore',
  });
  await sleep(500);
  return { proc, port, user, key: join(dir, 'user_key'), knownHosts: join(dir, 'known_hosts') };
}

/** A git work tree in `dir` with one commit. */
function gitRepo(dir) {
  const git = (...args) => execFileSync('git', ['-C', dir, ...args], { stdio: 'ignore' });
  git('init', '-q');
  writeFileSync(join(dir, 'README.md'), 'bench\n');
  git('add', '.');
  git('-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-qm', 'init');
}

async function run(agent, extra = {}) {
  const t0 = performance.now();
  const spawned = await server.call('spawn_run', { agent, cwd: t.work, prompt: PROMPT, ...extra });
  const done = await waitFinished(server, spawned.run_id);
  if (done.status !== 'completed')
    throw new Error(`${agent} run ended ${done.status}: ${JSON.stringify(done.error)}`);
  return { ms: performance.now() - t0, run: spawned.run_id };
}

async function followUp(runId) {
  const t0 = performance.now();
  const next = await server.call('follow_up', { run: runId, message: PROMPT });
  const done = await waitFinished(server, next.run_id);
  if (done.status !== 'completed') throw new Error(`follow_up ended ${done.status}`);
  return performance.now() - t0;
}

async function main() {
  sshd = await startSshd(join(t.dir, 'sshd'));
  const remoteWork = join(t.dir, 'remote-work');
  // Both folders git work trees, as agents' folders are: each turn's changes are tracked (git
  // here for local and container runs, git on the remote host for ssh ones).
  gitRepo(t.work);
  execFileSync('git', ['clone', '-q', t.work, remoteWork]);
  const cfg = JSON.parse(readFileSync(join(t.home, 'config.json'), 'utf8'));
  cfg.agents['fixture-ssh'] = {
    driver: 'acp',
    command: process.execPath,
    args: [AGENT, '--state', t.state, '--scenario', SCENARIO],
    runner: {
      type: 'ssh',
      host: '127.0.0.1',
      port: sshd.port,
      user: sshd.user,
      identity_file: sshd.key,
      known_hosts: sshd.knownHosts,
      remote_cwd: { [t.work]: remoteWork },
    },
  };
  image = buildAgentImage(`bench${process.pid}`);
  cfg.agents['fixture-box'] = {
    driver: 'acp',
    command: process.execPath,
    args: [AGENT, '--state', '/home/baton/state', '--scenario', SCENARIO],
    runner: {
      type: 'container',
      engine: ENGINE,
      image,
      mounts: [{ source: resolve(import.meta.dirname, '..') }],
    },
  };
  // Terminal programs (tmux here) on each runner: one line printed, then exit.
  const term = (runner) => ({
    driver: 'terminal',
    command: '/bin/sh',
    args: ['-c', 'echo terminal-done'],
    ...(runner ? { runner } : {}),
  });
  cfg.agents['term-local'] = term();
  cfg.agents['term-ssh'] = term(cfg.agents['fixture-ssh'].runner);
  cfg.agents['term-box'] = term(cfg.agents['fixture-box'].runner);
  writeFileSync(join(t.home, 'config.json'), JSON.stringify(cfg));
  server = await startServer(t);
  const first = await run('fixture-ssh');
  await run('fixture'); // warm-up of the local path
  await run('fixture-box'); // and of the engine's storage
  // Interleaved, rotating the order, so the load of this shared machine falls on all alike.
  const agents = ['fixture', 'fixture-ssh', 'fixture-box'];
  const samples = Object.fromEntries(agents.map((a) => [a, { start: [], turn: [] }]));
  for (let i = 0; i < N; i++) {
    for (const agent of [...agents.slice(i % 3), ...agents.slice(0, i % 3)]) {
      const r = await run(agent);
      samples[agent].start.push(r.ms);
      samples[agent].turn.push(await followUp(r.run));
    }
  }
  const terms = ['term-local', 'term-ssh', 'term-box'];
  for (const agent of terms) await run(agent); // warm-up
  const termSamples = Object.fromEntries(terms.map((a) => [a, []]));
  for (let i = 0; i < Math.ceil(N / 2); i++) {
    for (const agent of [...terms.slice(i % 3), ...terms.slice(0, i % 3)]) {
      termSamples[agent].push((await run(agent)).ms);
    }
  }
  const tl = median(termSamples['term-local']);
  const ts = median(termSamples['term-ssh']);
  const tb = median(termSamples['term-box']);
  const results = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [k, { start: median(v.start), turn: median(v.turn) }]),
  );
  const l = results.fixture;
  const r = results['fixture-ssh'];
  const c = results['fixture-box'];
  report(
    'Runners: ssh and container against local (spawn_run → finished, medians)',
    ['', 'local', 'ssh (127.0.0.1)', 'ssh / local', `container (${ENGINE})`, 'container / local'],
    [
      [
        'start: new session, first run',
        `${fmt(l.start)} ms`,
        `${fmt(r.start)} ms`,
        fmt(r.start / l.start, 2),
        `${fmt(c.start)} ms`,
        fmt(c.start / l.start, 2),
      ],
      [
        'per turn: follow_up, warm process',
        `${fmt(l.turn)} ms`,
        `${fmt(r.turn)} ms`,
        fmt(r.turn / l.turn, 2),
        `${fmt(c.turn)} ms`,
        fmt(c.turn / l.turn, 2),
      ],
      ['first ssh run (connection made)', '', `${fmt(first.ms)} ms`, '', '', ''],
      [
        'terminal run: spawn_run → completed',
        `${fmt(tl)} ms`,
        `${fmt(ts)} ms`,
        fmt(ts / tl, 2),
        `${fmt(tb)} ms`,
        fmt(tb / tl, 2),
      ],
    ],
    [
      `${N} runs each; the same scripted ACP agent, in a git work tree (changes tracked every turn); ssh over loopback to an sshd on this machine, one multiplexed connection (ControlMaster) for all runs`,
      "start over ssh adds a channel open, the remote wrapper (sh, mktemp, mkfifo, setsid) and the handshake through the channel; a turn adds only the channel's relay",
      `a container start adds \`${ENGINE} run\` (the container made, mounted, its init and sh started) and its removal after the run is not counted; a turn adds the relay through ${ENGINE}'s client and conmon`,
      `terminal runs (${Math.ceil(N / 2)} each): a program that prints a line and exits, in baton's tmux pane (here), through \`ssh -tt\` on a connection of its own (its variables first written over the shared one) or \`${ENGINE} run -it\`; the screen is polled, so each includes the wait for the exit to be seen`,
    ],
  );
}

runBench(main, async () => {
  await server?.close();
  sshd?.proc.kill('SIGTERM');
  if (image) removeImage(image);
  await sleep(300);
  t.cleanup();
});
