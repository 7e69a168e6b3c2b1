-- 0004: what a run changed in its git repository, and the work tree it got (isolation "worktree").
ALTER TABLE runs ADD COLUMN isolation TEXT NOT NULL DEFAULT 'none' CHECK (isolation IN ('none','worktree'));
-- {"repo": main work tree, "path": the run's work tree, "branch": its branch, "discarded": bool}
ALTER TABLE runs ADD COLUMN worktree TEXT;
-- The git work tree root the run works in, and its content (a tree id) when the run started and ended.
ALTER TABLE runs ADD COLUMN repo_root TEXT;
ALTER TABLE runs ADD COLUMN base_tree TEXT;
ALTER TABLE runs ADD COLUMN end_tree TEXT;
