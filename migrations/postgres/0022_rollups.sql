-- Per-bucket rollups of the block summaries: see
-- migrations/sqlite/0022_rollups.sql and monitor/rollup.c. Every delete of
-- a block removes the rollups of its bucket in the deleting transaction
-- (a trigger, also when a version or model delete cascades), so every
-- snapshot that holds a rollup holds every block it covers.
CREATE TABLE pred_rollups (
  version_id BIGINT NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  bucket     BIGINT NOT NULL,
  ncols      INTEGER NOT NULL,
  col        INTEGER NOT NULL,
  id_max     BIGINT NOT NULL,
  nblocks    BIGINT NOT NULL,
  nrows      BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  data       BYTEA NOT NULL,
  PRIMARY KEY (version_id, ncols, bucket, col)
);

CREATE FUNCTION pred_blocks_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pred_rollups WHERE version_id = OLD.version_id
    AND ncols = OLD.ncols AND bucket = OLD.bucket;
  RETURN NULL;
END $$;
CREATE TRIGGER pred_blocks_rollups AFTER DELETE ON pred_blocks
  FOR EACH ROW EXECUTE FUNCTION pred_blocks_rollups();
