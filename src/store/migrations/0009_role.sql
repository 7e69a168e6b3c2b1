-- 0009: a run's role (free text: planner, worker, reviewer) and its multipart input (spawn_run input_message).
ALTER TABLE runs ADD COLUMN role TEXT;
ALTER TABLE runs ADD COLUMN input_message TEXT;
CREATE INDEX IF NOT EXISTS runs_role ON runs (role);
