-- The live-window cache of drift reports (monitor/wcache.c) keeps the sorted
-- values of recent windows in memory and brings them up to date from the
-- blocks written since. That is only sound while the blocks it has seen stay
-- as they were: blocks are never updated, but retention, compaction and the
-- deletion of a version or model delete them (and a deleted block's id may
-- be handed out again). Every such delete bumps this counter, in the same
-- transaction, so a reader sees in its own snapshot whether anything it
-- cached may have changed.
CREATE TABLE pred_block_epoch (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n  INTEGER NOT NULL
);
INSERT INTO pred_block_epoch(id, n) VALUES (1, 0);
CREATE TRIGGER pred_blocks_epoch AFTER DELETE ON pred_blocks BEGIN
  UPDATE pred_block_epoch SET n = n + 1 WHERE id = 1;
END;
