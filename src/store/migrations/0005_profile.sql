-- 0005: the profile a run was started with: {"name", "values": the settings it applied}.
ALTER TABLE runs ADD COLUMN profile TEXT;
