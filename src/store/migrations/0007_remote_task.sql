-- 0007: runs of remote (A2A) agents keep the remote task id, to follow the task again after a restart.
ALTER TABLE runs ADD COLUMN remote_task_id TEXT;
