import type { Store } from '../src/store/store.js';

/** The columns `RunTable.insert` takes. */
export type NewRun = Parameters<Store['runs']['insert']>[0];

/** A run row for store tests, with plain defaults; `over` replaces any column. */
export function runRow(id: string, over: Partial<NewRun> = {}): NewRun {
  return {
    id,
    label: null,
    agent: 'demo',
    session_id: 'sess-1',
    parent_run_id: null,
    status: 'queued',
    cwd: '/tmp',
    prompt: `prompt of ${id}`,
    policy: 'ask',
    approver: 'any',
    command: null,
    isolation: 'none',
    worktree: null,
    profile: null,
    model: null,
    timeout_ms: 60_000,
    output_schema: null,
    metadata: null,
    created_at: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

/** Inserts the session a run row refers to (foreign key). */
export function addSession(store: Store, id = 'sess-1', cwd = '/tmp'): void {
  store.sessions.insert({
    id,
    agent: 'demo',
    cwd,
    agent_session_id: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  });
}
