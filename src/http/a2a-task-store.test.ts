import type { Task } from '@a2a-js/sdk';
import { ServerCallContext, type User } from '@a2a-js/sdk/server';
import { describe, expect, it } from 'vitest';
import { BoundedTaskStore } from './a2a-task-store.js';

const user = (name: string): User => ({ isAuthenticated: true, userName: name });
const task = (id: string, at = new Date().toISOString()): Task =>
  ({
    id,
    contextId: `ctx-${id}`,
    status: { state: 2, timestamp: at },
    history: [],
    artifacts: [],
  }) as unknown as Task;

describe('BoundedTaskStore: the served A2A agents forget their oldest tasks', () => {
  it('keeps at most max tasks, the newest, loadable and listed; a task saved again counts as new', async () => {
    const store = new BoundedTaskStore(4);
    const a = new ServerCallContext({ user: user('a') });
    for (const id of ['t1', 't2', 't3']) await store.save(task(id), a);
    await store.save(task('t1'), a); // saved again: now the newest
    await store.save(task('t4'), a);
    expect(store.size).toBe(4);
    await store.save(task('t5'), a); // past the bound: the newest half stays
    expect(store.size).toBe(2);
    expect(await store.load('t2', a)).toBeUndefined();
    expect(await store.load('t1', a)).toBeUndefined();
    expect((await store.load('t4', a))?.id).toBe('t4');
    expect((await store.load('t5', a))?.id).toBe('t5');
    const listed = await store.list({ pageSize: 50 } as never, a);
    expect(listed.tasks.map((t) => t.id).sort()).toEqual(['t4', 't5']);
    // Thousands of saves: never more than max held.
    for (let i = 0; i < 5000; i++) {
      await store.save(task(`n${i}`), a);
      expect(store.size).toBeLessThanOrEqual(4);
    }
    expect((await store.load('n4999', a))?.id).toBe('n4999');
  });

  it("keeps each caller's tasks their own across a compaction", async () => {
    const store = new BoundedTaskStore(2);
    const a = new ServerCallContext({ user: user('a') });
    const b = new ServerCallContext({ user: user('b') });
    await store.save(task('x'), a);
    await store.save(task('y'), b);
    await store.save(task('z'), b); // compacts: y is dropped, z kept
    expect(await store.load('z', a)).toBeUndefined();
    expect((await store.load('z', b))?.id).toBe('z');
  });

  it('a save during a compaction is neither lost nor overwritten by the copy', async () => {
    const store = new BoundedTaskStore(4);
    const a = new ServerCallContext({ user: user('a') });
    for (const id of ['t1', 't2', 't3', 't4']) await store.save(task(id), a);
    const newer = task('t4', '2030-01-01T00:00:00.000Z');
    // The fifth save compacts; t4 is saved again while the copy runs.
    await Promise.all([store.save(task('t5'), a), store.save(newer, a), store.save(task('t6'), a)]);
    expect((await store.load('t4', a))?.status?.timestamp).toBe('2030-01-01T00:00:00.000Z');
    expect((await store.load('t6', a))?.id).toBe('t6');
  });
});
