-- An observation of an hour still in progress (or otherwise incomplete) is partial until the
-- complete count arrives; models neither train nor forecast on partial hours.
ALTER TABLE observations ADD COLUMN partial INTEGER NOT NULL DEFAULT 0;
