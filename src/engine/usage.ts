import type { RunRow } from '../store/runs.js';
import type { Store } from '../store/store.js';
import type { Usage } from './types.js';

/** What `get_usage` returns: a run's usage, its session's, and its run tree's. */
export type RunUsage = {
  run_id: string;
  run: Usage;
  session: { runs: number; usage: Usage };
  tree: { runs: number; usage: Usage };
};

/** The sum of two usages (numeric fields added; either may be missing). */
export function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a || !b) return b ?? a;
  const out: Usage = { ...a };
  for (const [k, v] of Object.entries(b) as [keyof Usage, number][]) {
    // Context size and use are states, not amounts: the later value stands.
    out[k] = k === 'context_size' || k === 'context_used' ? v : (out[k] ?? 0) + v;
  }
  return out;
}

/** Usage of a run (its row), of its session, and of its run tree (it and every run started below it). */
export function usageOf(store: Store, row: RunRow): RunUsage {
  const sum = (rows: RunRow[]) => ({
    runs: rows.length,
    usage: rows.reduce<Usage>((acc, r) => addUsage(acc, r.result?.usage) ?? acc, {}),
  });
  return {
    run_id: row.id,
    run: row.result?.usage ?? {},
    session: sum(store.runs.ofSession(row.session_id)),
    tree: sum(store.runs.tree(row.id)),
  };
}
