-- 0008: questions a caller asks a person (request_confirmation), kept until a person answers.
CREATE TABLE confirmations (
  id TEXT PRIMARY KEY,
  question TEXT NOT NULL,
  details TEXT,
  options TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','answered','expired')),
  decision TEXT,
  decided_by TEXT,
  asked_by TEXT NOT NULL,
  run_id TEXT,
  created_at TEXT NOT NULL,
  deadline TEXT,
  decided_at TEXT
);
CREATE INDEX confirmations_status ON confirmations (status, created_at);
CREATE INDEX confirmations_run ON confirmations (run_id);
