-- 0001: runs, sessions, events, permission requests.
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  cwd TEXT NOT NULL,
  agent_session_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  label TEXT UNIQUE,
  agent TEXT NOT NULL,
  session_id TEXT NOT NULL REFERENCES sessions(id),
  parent_run_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued','starting','running','waiting','completed','failed','cancelled','timed_out','interrupted')),
  cwd TEXT NOT NULL,
  prompt TEXT NOT NULL,
  policy TEXT NOT NULL CHECK (policy IN ('ask','auto_edit','allow_all','deny_all')),
  model TEXT,
  timeout_ms INTEGER NOT NULL,
  output_schema TEXT,
  metadata TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  waiting_for TEXT,
  result TEXT,
  error TEXT,
  last_seq INTEGER NOT NULL DEFAULT 0,
  host_pid INTEGER,
  host_start TEXT,
  agent_pid INTEGER,
  agent_start TEXT
);
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs (status);
CREATE INDEX runs_by_session ON runs (session_id, created_at);

CREATE TABLE events (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  artifact_refs TEXT,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE permission_requests (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs(id),
  title TEXT NOT NULL,
  tool_call TEXT,
  options TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','answered','expired','cancelled')),
  option_id TEXT,
  answered_by TEXT,
  created_at TEXT NOT NULL,
  deadline TEXT NOT NULL,
  resolved_at TEXT
);
CREATE INDEX permission_requests_by_run ON permission_requests (run_id, status);
