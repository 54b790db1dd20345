-- Per-bucket rollups of the block summaries (monitor/rollup.c says why):
-- for each (version, closed 5-minute bucket, schema width) with several
-- blocks, one merged and pruned summary per column (monitor/sketch.h bytes;
-- empty data: no rollup of that column, read its blocks), covering the
-- bucket's blocks of that width with id <= id_max: nblocks of them, nrows
-- rows. Compaction writes them; a drift report beyond the memory budget
-- merges a rollup instead of its bucket's block summaries when the blocks
-- its window lists in that bucket up to id_max are exactly those.
--
-- A rollup is only ever true of blocks that all still exist: every delete
-- of a block (retention, compaction, erasure's rewrite, a version or model
-- delete) removes the rollups of its bucket in the same transaction, so a
-- reader's snapshot never holds a rollup of a block it cannot see.
CREATE TABLE pred_rollups (
  version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  bucket     INTEGER NOT NULL,
  ncols      INTEGER NOT NULL,
  col        INTEGER NOT NULL,
  id_max     INTEGER NOT NULL,
  nblocks    INTEGER NOT NULL,
  nrows      INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  data       BLOB NOT NULL,
  PRIMARY KEY (version_id, ncols, bucket, col)
);

CREATE TRIGGER pred_blocks_rollups AFTER DELETE ON pred_blocks BEGIN
  DELETE FROM pred_rollups WHERE version_id = old.version_id
    AND ncols = old.ncols AND bucket = old.bucket;
END;
