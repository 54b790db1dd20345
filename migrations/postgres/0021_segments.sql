-- Segments (GET .../drift?segment=<column>): a segment of the window is
-- compared with the same segment of the reference, so the reference keeps
-- its rows as they were, column by column in row order (packed float64,
-- NaN = missing, category codes for categorical columns), beside the
-- sorted values and counts of reference_columns. A reference stored
-- before this migration has none: segments ask for it to be PUT again.
CREATE TABLE reference_rows (
  version_id BIGINT NOT NULL REFERENCES reference_sets(version_id) ON DELETE CASCADE,
  col        INTEGER NOT NULL,
  data       BYTEA NOT NULL,
  PRIMARY KEY (version_id, col)
);

-- An alert rule may judge one segment: {"column": "value"} as JSON text.
ALTER TABLE alert_rules ADD COLUMN segment TEXT;
