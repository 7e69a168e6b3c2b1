-- 0006: run trees (runs started by a sub-agent through baton) are walked by parent.
CREATE INDEX runs_by_parent ON runs (parent_run_id);
