-- 0003: the program of a terminal run started with spawn_run `command` (JSON argv).
ALTER TABLE runs ADD COLUMN command TEXT;
