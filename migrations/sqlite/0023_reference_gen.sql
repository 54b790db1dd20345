-- The reference cache of drift reports (monitor/rcache.c) keeps each
-- version's reference columns in memory instead of loading them for every
-- report. A report reads the reference's generation in its own read
-- snapshot and uses the cached columns only when they were loaded under the
-- same generation, so that a reference replaced (PUT .../reference), deleted
-- with its version, or changed in place by any process sharing the database
-- is never served from memory. gen changes with every such write:
--   - a new reference set (a replacement deletes the old row and inserts
--     this one) draws a random 64-bit generation;
--   - any insert, update or delete of the set's columns or rows, and any
--     update of the set's own row, draws a new one.
-- random() makes a repeat after a delete and an insert (which SQLite's
-- reuse of version ids would otherwise allow) a 2^-64 event.
ALTER TABLE reference_sets ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
UPDATE reference_sets SET gen = random();
CREATE TRIGGER reference_sets_gen_insert AFTER INSERT ON reference_sets BEGIN
  UPDATE reference_sets SET gen = random() WHERE version_id = new.version_id;
END;
CREATE TRIGGER reference_sets_gen_update AFTER UPDATE ON reference_sets
  WHEN new.gen = old.gen BEGIN
  UPDATE reference_sets SET gen = random() WHERE version_id = new.version_id;
END;
CREATE TRIGGER reference_columns_gen_insert AFTER INSERT ON reference_columns BEGIN
  UPDATE reference_sets SET gen = random() WHERE version_id = new.version_id;
END;
CREATE TRIGGER reference_columns_gen_update AFTER UPDATE ON reference_columns BEGIN
  UPDATE reference_sets SET gen = random()
  WHERE version_id IN (old.version_id, new.version_id);
END;
CREATE TRIGGER reference_columns_gen_delete AFTER DELETE ON reference_columns BEGIN
  UPDATE reference_sets SET gen = random() WHERE version_id = old.version_id;
END;
CREATE TRIGGER reference_rows_gen_insert AFTER INSERT ON reference_rows BEGIN
  UPDATE reference_sets SET gen = random() WHERE version_id = new.version_id;
END;
CREATE TRIGGER reference_rows_gen_update AFTER UPDATE ON reference_rows BEGIN
  UPDATE reference_sets SET gen = random()
  WHERE version_id IN (old.version_id, new.version_id);
END;
CREATE TRIGGER reference_rows_gen_delete AFTER DELETE ON reference_rows BEGIN
  UPDATE reference_sets SET gen = random() WHERE version_id = old.version_id;
END;
