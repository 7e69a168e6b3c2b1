-- 0002: who may answer a run's permission requests (spawn_run `approver`).
ALTER TABLE runs ADD COLUMN approver TEXT NOT NULL DEFAULT 'any' CHECK (approver IN ('any','caller','human'));
