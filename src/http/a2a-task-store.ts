import type { Task } from '@a2a-js/sdk';
import { InMemoryTaskStore, type ServerCallContext, type TaskStore } from '@a2a-js/sdk/server';

/** Tasks a served A2A agent keeps by default (the newest; a run's own record stays in SQLite). */
export const MAX_TASKS = 10_000;

/**
 * The SDK's in-memory task store, bounded: it keeps the `max` tasks saved most recently (each
 * with the call context it was saved under, so the SDK's per-caller scoping holds) and forgets the
 * rest. When more than `max` are held, the newest half is copied into a fresh store and the old one
 * dropped, so a save costs O(1) amortized and memory stays below `max` tasks. `tasks/get` of a
 * forgotten task answers the SDK's "task not found"; the run behind it is still in baton's store.
 */
export class BoundedTaskStore implements TaskStore {
  readonly #max: number;
  #store = new InMemoryTaskStore();
  /** The store being compacted away: still read until its kept tasks are copied. */
  #old: InMemoryTaskStore | undefined;
  /** Task id → the context of its latest save, oldest first (a Map keeps insertion order). */
  readonly #saved = new Map<string, ServerCallContext>();

  constructor(max = MAX_TASKS) {
    if (!Number.isInteger(max) || max < 2) throw new RangeError('max must be a whole number ≥ 2');
    this.#max = max;
  }

  /** How many tasks are held. */
  get size(): number {
    return this.#saved.size;
  }

  async load(taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    return (await this.#store.load(taskId, context)) ?? this.#old?.load(taskId, context);
  }

  async save(task: Task, context: ServerCallContext): Promise<void> {
    // The bookkeeping and the write happen at the call, before any await (the SDK's store writes
    // synchronously), so a compaction started by another save sees this one in the right store.
    this.#saved.delete(task.id);
    this.#saved.set(task.id, context);
    const saving = this.#store.save(task, context);
    const compacting = this.#saved.size > this.#max ? this.#compact() : undefined;
    await saving;
    await compacting;
  }

  list(...args: Parameters<TaskStore['list']>): ReturnType<TaskStore['list']> {
    return this.#store.list(...args);
  }

  async #compact(): Promise<void> {
    if (this.#old) return; // one at a time; a save past the bound after it compacts again
    const keep = [...this.#saved].slice(-Math.floor(this.#max / 2));
    const old = this.#store;
    // Saves from here on go to the fresh store (and to the end of #saved); reads fall back to the
    // old one until the copy is done; a task saved again meanwhile is not overwritten by its copy.
    this.#old = old;
    this.#store = new InMemoryTaskStore();
    this.#saved.clear();
    for (const [id, context] of keep) this.#saved.set(id, context);
    try {
      for (const [id, context] of keep) {
        if (await this.#store.load(id, context)) continue;
        const task = await old.load(id, context);
        if (task && !(await this.#store.load(id, context))) await this.#store.save(task, context);
      }
    } finally {
      this.#old = undefined;
    }
  }
}
