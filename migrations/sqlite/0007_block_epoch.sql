-- The live-window cache of drift reports (monitor/wcache.c) keeps the sorted
-- values of recent windows in memory and brings them up to date from the
-- blocks written since. That is only sound while the blocks it has seen stay
-- as they were: blocks are never updated, but retention, compaction and the
-- deletion of a version or model delete them, and a deleted block's id may
-- be handed out again. Every such delete updates this row in the same
-- transaction, so a reader sees in its own snapshot whether anything it
-- cached may have changed:
--   n       deletes so far,
--   ts_max  the latest ts_max of a deleted block (a cached window starting
--           after it held none of the deleted rows: retention never
--           invalidates a recent window),
--   id_max  the highest deleted id (ids can only be reused above it),
--   gen     a random number of this database, so a cache never mistakes a
--           restored database for the one it read.
CREATE TABLE pred_block_epoch (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  n      INTEGER NOT NULL,
  ts_max INTEGER NOT NULL,
  id_max INTEGER NOT NULL,
  gen    INTEGER NOT NULL
);
INSERT INTO pred_block_epoch(id, n, ts_max, id_max, gen)
  VALUES (1, 0, -9223372036854775808, 0, random());
CREATE TRIGGER pred_blocks_epoch AFTER DELETE ON pred_blocks BEGIN
  UPDATE pred_block_epoch SET n = n + 1, ts_max = max(ts_max, old.ts_max),
                              id_max = max(id_max, old.id)
  WHERE id = 1;
END;
