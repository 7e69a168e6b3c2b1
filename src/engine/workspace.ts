import { existsSync, mkdirSync } from 'node:fs';
import { dirname, relative, resolve as resolvePath } from 'node:path';
import picomatch from 'picomatch';
import { BatonError, toBatonError } from '../errors.js';
import {
  addWorktree,
  changedFiles,
  diffText,
  git,
  removeWorktree,
  repoRoot,
  sideEnd,
  sideStart,
  snapshotTree,
  type SideExec,
} from '../git/git.js';
import { ChildHandle } from '../process/child.js';
import type { RunnerConfig } from '../runners/options.js';
import { runnerFor, type Runner } from '../runners/runner.js';
import type { RunRow, WorktreeInfo } from '../store/runs.js';
import type { EngineContext } from './context.js';
import type { RunCtx } from './run.js';
import { isFinalStatus, type ChangedFile, type Overlap } from './types.js';
import { copyIncluded } from './worktree-include.js';

/** Longest a worktree `setup` command may run. */
const SETUP_TIMEOUT_MS = 10 * 60_000;

/** Where a run's agent works when it is not here: git runs there, in `cwd` (the agent's folder). */
type Side = { exec: SideExec; where: string; cwd: string };

/** A page of a run's diff (`get_diff`). */
export type RunDiff = {
  run_id: string;
  path?: string;
  diff: string;
  offset: number;
  total_bytes: number;
  next_offset?: number;
};

/**
 * Where runs work, over git: a run's own work tree (isolation "worktree": branch, copied files,
 * setup command), the snapshot its changes are told apart by, the files it changed, overlaps
 * with other runs in the same tree, its diff, and discarding its tree.
 */
export class Workspace {
  readonly #ctx: EngineContext;
  readonly #checkRunCwd: (cwd: string, worktree: WorktreeInfo | null | undefined) => string;
  /** Worktree runs not started yet: the branch point and the files to copy in. */
  readonly #setup = new Map<string, { base: string; include: string[] }>();

  /** `checkRunCwd` checks a run's cwd again when it starts (see admission), returning its real path. */
  constructor(
    ctx: EngineContext,
    checkRunCwd: (cwd: string, worktree: WorktreeInfo | null | undefined) => string,
  ) {
    this.#ctx = ctx;
    this.#checkRunCwd = checkRunCwd;
  }

  /** Keeps a new worktree run's branch point and `include` patterns until {@link prepare} makes its tree. */
  plan(runId: string, setup: { base: string; include: string[] }): void {
    this.#setup.set(runId, setup);
  }

  /** Drops the setup kept for a run that ends before it started (cancelled while queued). */
  forget(runId: string): void {
    this.#setup.delete(runId);
  }

  /**
   * Before the agent starts: creates the run's work tree (isolation "worktree": branch, copied
   * `include` files, the config's setup command) and snapshots the work tree it runs in, so its
   * changes can be told apart afterwards.
   */
  async prepare(ctx: RunCtx): Promise<void> {
    const wt = ctx.row.worktree;
    const made = Boolean(wt && !existsSync(wt.path));
    // Once the tree is checked out, its folder may turn out to be a symlink: refused, and a tree
    // made for nothing removed.
    const checkCwd = async () => {
      try {
        this.#checkRunCwd(ctx.row.cwd, wt);
      } catch (err) {
        if (wt && made) {
          await removeWorktree(wt.repo, wt.path, wt.branch).catch(() => undefined);
          const gone = { ...wt, discarded: true };
          this.#ctx.store.runs.update(ctx.id, { worktree: gone });
          ctx.row = { ...ctx.row, worktree: gone };
        }
        throw err;
      }
    };
    if (wt && made) {
      const setup = this.#setup.get(ctx.id) ?? { base: 'HEAD', include: [] };
      this.#setup.delete(ctx.id);
      mkdirSync(dirname(wt.path), { recursive: true, mode: 0o700 });
      await addWorktree(wt.repo, wt.path, wt.branch, setup.base);
      await checkCwd();
      const include = [...this.#ctx.config.worktrees.include, ...setup.include];
      if (include.length > 0) {
        // Untracked files (ignored ones too, such as .env) that match a pattern.
        const isMatch = picomatch(include, { dot: true });
        const listed = await git(wt.repo, ['ls-files', '-z', '--others', '--exclude-standard']);
        const ignored = await git(wt.repo, ['ls-files', '-z', '--others', '--ignored', '--exclude-standard']);
        const copied: string[] = [];
        const skipped: string[] = [];
        for (const file of new Set([...listed.split('\0'), ...ignored.split('\0')])) {
          if (!file || !isMatch(file)) continue;
          const why = await copyIncluded(wt.repo, wt.path, file);
          if (why) skipped.push(`${file} (${why})`);
          else copied.push(file);
        }
        if (copied.length > 0)
          this.#ctx.runs.append(ctx, 'raw', { note: `copied into the work tree: ${copied.join(', ')}` });
        if (skipped.length > 0) {
          this.#ctx.runs.append(ctx, 'warning', {
            kind: 'include',
            message: `not copied into the work tree (include copies regular files only, never through a symlink): ${skipped.join('; ')}`,
          });
        }
      }
      this.#ctx.runs.append(ctx, 'raw', {
        note: `work tree ${wt.path} on branch ${wt.branch} from ${setup.base}`,
      });
      if (this.#ctx.config.worktrees.setup)
        await this.#runSetup(ctx, wt.path, this.#ctx.config.worktrees.setup);
    }
    // Again after the setup command, and for a follow-up in an existing tree.
    await checkCwd();
    const runner = this.#runner(ctx.row);
    if (runner && !runner.sharesFolder && !runner.exec) {
      this.#untracked(
        ctx,
        `the agent works on its own copy of the folder (${runner.where}), where baton does not run git`,
      );
      return;
    }
    const side = runner?.startTree ? undefined : this.#side(ctx.row);
    const start = runner?.startTree
      ? await this.#startTree(ctx, runner)
      : side
        ? await this.#sideStart(ctx, side)
        : await this.#localStart(ctx);
    if (!start) return;
    this.#ctx.store.runs.update(ctx.id, { repo_root: start.root, base_tree: start.tree });
    ctx.row = { ...ctx.row, repo_root: start.root, base_tree: start.tree };
  }

  /** A warning event: the run's changes are not tracked, and why. */
  #untracked(ctx: RunCtx, why: string): void {
    this.#ctx.runs.append(ctx, 'warning', { kind: 'git', message: `changes will not be tracked: ${why}` });
  }

  /** Here: the repository's top and its snapshot (null, with a warning, when that failed). */
  async #localStart(ctx: RunCtx): Promise<{ root: string; tree: string | null } | undefined> {
    const root = await repoRoot(ctx.row.cwd);
    if (!root) return undefined;
    const tree = await snapshotTree(root).catch((err: unknown) => {
      this.#untracked(ctx, toBatonError(err).message);
      return null;
    });
    return { root, tree };
  }

  /** A work tree the runner makes from a commit before the agent exists (a sandbox's clone): that commit's tree. */
  async #startTree(ctx: RunCtx, runner: Runner): Promise<{ root: string; tree: string } | undefined> {
    try {
      const start = await runner.startTree?.(ctx.row.cwd);
      if (!start)
        this.#untracked(
          ctx,
          `the agent's work tree (${runner.where}) does not start from a commit baton knows`,
        );
      return start;
    } catch (err) {
      this.#untracked(ctx, toBatonError(err).message);
      return undefined;
    }
  }

  /**
   * The runner's side of a run whose agent runs elsewhere (an ssh runner): git for its changes
   * runs there, through the runner, in the agent's folder. Undefined for a run here.
   */
  #side(row: RunRow): Side | undefined {
    const runner = this.#runner(row);
    if (!runner?.exec || runner.sharesFolder) return undefined;
    return { exec: runner.exec, where: runner.where, cwd: runner.agentCwd(row.cwd) };
  }

  /**
   * The runner of a run's agent (its profile's first), bound to the run (kubernetes: git runs in
   * its session's live sandbox, whose work tree starts from the session's commit), or undefined for
   * one here.
   */
  #runner(row: RunRow): Runner | undefined {
    const agent = this.#ctx.config.agents[row.agent];
    const config =
      (row.profile?.values.runner as RunnerConfig | undefined) ??
      (agent && 'runner' in agent ? agent.runner : undefined);
    if (!config || config.type === 'local') return undefined;
    const runner = runnerFor(config, this.#ctx.config.home);
    return runner.forRun ? runner.forRun(row.cwd, row.session_id) : runner;
  }

  /**
   * The top of the git work tree holding the agent's folder on its side and its snapshot;
   * undefined when it is in none, or (with a warning) when git failed there.
   */
  async #sideStart(ctx: RunCtx, side: Side): Promise<{ root: string; tree: string } | undefined> {
    try {
      return await sideStart(side.cwd, side.exec);
    } catch (err) {
      this.#untracked(ctx, `git on ${side.where} failed: ${toBatonError(err).message}`);
      return undefined;
    }
  }

  /**
   * The config's worktree setup command, in the new work tree; its failure fails the run. It runs
   * in its own process group, stopped whole on cancel, timeout or shutdown (no orphans).
   */
  async #runSetup(ctx: RunCtx, cwd: string, command: string): Promise<void> {
    const child = await ChildHandle.start({
      command: 'sh',
      args: ['-c', command],
      cwd,
      env: process.env,
      stderrLimit: 4000,
    });
    child.stdin.end();
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout = (stdout + d).slice(-4000)));
    const stop = () => void child.stop(1000);
    ctx.abort.signal.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, SETUP_TIMEOUT_MS);
    const end = await child.exited;
    clearTimeout(timer);
    ctx.abort.signal.removeEventListener('abort', stop);
    const output = `${stdout}${child.stderrTail()}`.slice(-4000);
    this.#ctx.runs.append(ctx, 'raw', { note: `setup: ${command}`, output });
    if (end.code !== 0) {
      const why = end.signal ? `stopped by ${end.signal}` : `exit ${end.code}`;
      throw new BatonError(
        'AGENT_ERROR',
        `the worktree setup command failed (${command}): ${output.trim() || why}`,
      );
    }
  }

  /** After the turn: the work tree's state, the changed files, and overlaps with other runs. */
  async recordChanges(ctx: RunCtx): Promise<{ files: ChangedFile[]; overlaps: Overlap[] } | undefined> {
    const { repo_root: root, base_tree: base } = ctx.row;
    if (!root || !base) return undefined;
    try {
      const side = this.#side(ctx.row)?.exec;
      // On the agent's side: the snapshot and the diffs in one session there.
      const { tree: end, files } = side
        ? await sideEnd(root, base, side)
        : await snapshotTree(root).then(async (tree) => ({
            tree,
            files: await changedFiles(root, base, tree),
          }));
      this.#ctx.store.runs.update(ctx.id, { end_tree: end });
      ctx.row = { ...ctx.row, end_tree: end };
      for (const f of files) this.touch(ctx, [resolvePath(root, f.path)]);
      return { files, overlaps: ctx.overlaps };
    } catch (err) {
      this.#ctx.runs.append(ctx, 'warning', {
        kind: 'git',
        message: `changes not recorded: ${toBatonError(err).message}`,
      });
      return undefined;
    }
  }

  /**
   * Records files a run touches; when another active run in the same work tree (neither isolated)
   * touched one too, both get an `overlap` warning. A remote agent names its own side's paths: they
   * are resolved against its folder there, and compared only with runs on the same side.
   */
  touch(ctx: RunCtx, locations: unknown): void {
    if (!Array.isArray(locations) || !ctx.row.repo_root) return;
    const side = this.#sideOrNone(ctx.row);
    for (const loc of locations) {
      if (typeof loc !== 'string' || !loc) continue;
      const path = resolvePath(side?.cwd ?? ctx.row.cwd, loc);
      if (ctx.touched.has(path)) continue;
      ctx.touched.add(path);
      for (const other of this.#ctx.runs.values()) {
        if (other === ctx || other.row.repo_root !== ctx.row.repo_root || !other.touched.has(path)) continue;
        if (this.#sideOrNone(other.row)?.where !== side?.where) continue;
        const rel = relative(ctx.row.repo_root, path);
        for (const [a, b] of [
          [ctx, other],
          [other, ctx],
        ] as const) {
          if (a.overlaps.some((o) => o.path === rel && o.run_id === b.id)) continue;
          a.overlaps.push({ path: rel, run_id: b.id });
          if (!isFinalStatus(a.row.status)) {
            this.#ctx.runs.append(a, 'warning', {
              kind: 'overlap',
              path: rel,
              other_run: b.id,
              message: `${rel} is also being changed by run ${b.id} in the same work tree`,
            });
          }
        }
      }
    }
  }

  /** {@link #side}, or undefined when the run's folder has no mapping (any more) on its runner. */
  #sideOrNone(row: RunRow): Side | undefined {
    try {
      return this.#side(row);
    } catch {
      return undefined;
    }
  }

  /**
   * The diff of what a run changed (against the state when it started), paged by bytes; live for
   * an active run.
   */
  async diff(row: RunRow, opts: { path?: string; offset?: number; limit?: number } = {}): Promise<RunDiff> {
    if (!row.repo_root || !row.base_tree) {
      throw new BatonError(
        'NOT_A_GIT_REPO',
        `run ${row.id} did not work in a git repository: there is no diff`,
      );
    }
    // A run on another machine: git there, through its runner (its folder there is repo_root).
    const side = this.#side(row)?.exec;
    const end = row.end_tree ?? (await snapshotTree(row.repo_root, side));
    const text = await diffText(row.repo_root, row.base_tree, end, opts.path, side);
    const bytes = Buffer.from(text, 'utf8');
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? 65536;
    const slice = bytes.subarray(offset, offset + limit);
    const next = offset + slice.length;
    return {
      run_id: row.id,
      ...(opts.path ? { path: opts.path } : {}),
      diff: slice.toString('utf8'),
      offset,
      total_bytes: bytes.length,
      ...(next < bytes.length ? { next_offset: next } : {}),
    };
  }

  /** Removes a finished run's work tree and branch (isolation "worktree"). */
  async discard(row: RunRow): Promise<{ run_id: string; path: string; branch: string; discarded: true }> {
    const wt = row.worktree;
    if (!wt)
      throw new BatonError('INVALID_PARAMS', `run ${row.id} has no work tree (it ran with isolation "none")`);
    const active = this.#ctx.store.runs.lastOfSession(row.session_id);
    if (!isFinalStatus(row.status) || (active && !isFinalStatus(active.status))) {
      throw new BatonError('RUN_NOT_WAITING', `run ${row.id}'s session is still active: cancel it first`);
    }
    if (!wt.discarded) {
      await removeWorktree(wt.repo, wt.path, wt.branch);
      for (const r of this.#ctx.store.runs.ofSession(row.session_id)) {
        this.#ctx.store.runs.update(r.id, { worktree: { ...wt, discarded: true } });
      }
    }
    return { run_id: row.id, path: wt.path, branch: wt.branch, discarded: true };
  }
}
