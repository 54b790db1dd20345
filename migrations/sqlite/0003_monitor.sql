-- Monitor: logged predictions and labels, reference sets, drift configuration
-- and the time series of drift evaluations.
--
-- Storage layout of predictions: per-window column blocks.
-- An ingested batch is split by 5-minute time bucket into blocks; a block
-- is one row of pred_blocks plus one pred_chunks row per column holding that
-- column's values for the block's rows as a packed array (little-endian
-- float64; categorical values as their dictionary code; NaN = missing),
-- a chunk of int64 millisecond timestamps, and a chunk of prediction ids
-- when any row carried one. A chunk's rowid is block_id * 4096 + slot
-- (0 = timestamps, 1.. = schema columns, prediction last, then ids), so
-- reading column k of a window is one rowid lookup per block and no
-- secondary index is needed.
--
-- Chosen by measurement: build/tests/bench/bench_layout --batches 200
-- (tests/bench/bench_layout.c; 200 batches of 1000 rows, 10 features +
-- prediction, WAL, synchronous=FULL, on this 2-core machine while other
-- work ran; figures vary by about +-30% from run to run):
--   one row per prediction, 12 REAL columns       460-690 k rows/s insert,   6-9 M values/s scanning one column
--   one packed BLOB row per prediction + (version, ts) index
--                                                  410-520 k rows/s,          4-5 M values/s
--   per-window column blocks (this layout)       1.4-1.5 M rows/s,        150-190 M values/s
-- Blocks insert 2-3x faster than the plain table and read one column of a
-- window 20-30x faster; a window of 10 M rows is read column by column (80
-- MB at a time) instead of row by row.
--
-- Prediction ids are the one per-row index (they must be unique within a
-- model, and labels find their prediction through them). The same bench
-- measured it: ids that grow (counters, time-ordered UUIDv7/ULID) insert at
-- ~530-590 k/s, random UUIDv4 ids at ~16-30 k/s once the index outgrows the
-- page cache (each insert dirties a random page): send ordered ids.

CREATE TABLE pred_blocks (
  id         INTEGER PRIMARY KEY,
  version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  bucket     INTEGER NOT NULL,  -- ts_min / 300000 (5-minute buckets)
  ts_min     INTEGER NOT NULL,
  ts_max     INTEGER NOT NULL,
  n          INTEGER NOT NULL,  -- rows in the block
  ncols      INTEGER NOT NULL,  -- schema columns (features + prediction)
  has_ids    INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX pred_blocks_window ON pred_blocks(version_id, bucket);
CREATE INDEX pred_blocks_bucket ON pred_blocks(bucket);

-- rowid = block id * 4096 + slot; see above.
CREATE TABLE pred_chunks (
  id   INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);

-- Chunks have no column to hang a foreign key on: this trigger removes them
-- with their block (also when a version or model delete cascades).
CREATE TRIGGER pred_blocks_delete AFTER DELETE ON pred_blocks BEGIN
  DELETE FROM pred_chunks WHERE id BETWEEN old.id * 4096 AND old.id * 4096 + 4095;
END;

-- Prediction ids, unique within a model. The prediction (value or category
-- code) and timestamp are kept here so a label never needs the block.
CREATE TABLE pred_ids (
  model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  ext_id     TEXT NOT NULL,
  version_id INTEGER NOT NULL,
  ts         INTEGER NOT NULL,
  prediction REAL,
  PRIMARY KEY (model_id, ext_id)
) WITHOUT ROWID;

-- Ground truth. ext_id is NULL for labels sent inline with a prediction that
-- had no id. ts is the prediction's timestamp, so performance over a window
-- reads one index range.
CREATE TABLE labels (
  id         INTEGER PRIMARY KEY,
  model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  ext_id     TEXT,
  version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  ts         INTEGER NOT NULL,
  prediction REAL,
  label      REAL NOT NULL,
  at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX labels_by_id ON labels(model_id, ext_id);
CREATE INDEX labels_window ON labels(version_id, ts);
CREATE INDEX labels_ts ON labels(ts);

-- Dictionary of categorical values per version and column (col: position in
-- the schema, prediction last); labels of a categorical prediction share
-- the prediction column's dictionary.
CREATE TABLE mon_categories (
  version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  col        INTEGER NOT NULL,
  code       INTEGER NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (version_id, col, code),
  UNIQUE (version_id, col, value)
) WITHOUT ROWID;

-- A version's reference set: what every drift test needs, computed once.
CREATE TABLE reference_sets (
  version_id  INTEGER PRIMARY KEY REFERENCES model_versions(id) ON DELETE CASCADE,
  source      TEXT NOT NULL CHECK (source IN ('rows', 'window')),
  window_from INTEGER,
  window_to   INTEGER,
  row_count   INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL
);

-- Per column: numeric columns keep their finite values sorted (float64
-- array) with moments and PSI quantile bins (a mon_bins struct); categorical
-- ones keep (code, count) pairs as a float64 array.
CREATE TABLE reference_columns (
  version_id INTEGER NOT NULL REFERENCES reference_sets(version_id) ON DELETE CASCADE,
  col        INTEGER NOT NULL,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('numeric', 'categorical')),
  count      INTEGER NOT NULL,  -- non-missing values
  missing    INTEGER NOT NULL,
  mean       REAL,
  std        REAL,
  min        REAL,
  max        REAL,
  sorted     BLOB,
  bins       BLOB,
  categories BLOB,
  PRIMARY KEY (version_id, col)
) WITHOUT ROWID;

-- Per-version drift settings (JSON as accepted by PUT .../drift/config).
CREATE TABLE drift_config (
  version_id INTEGER PRIMARY KEY REFERENCES model_versions(id) ON DELETE CASCADE,
  config     TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);

-- Stored evaluations (scheduled or requested) with their full report.
CREATE TABLE drift_evals (
  id           INTEGER PRIMARY KEY,
  version_id   INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  at           INTEGER NOT NULL,
  window_from  INTEGER NOT NULL,
  window_to    INTEGER NOT NULL,
  row_count    INTEGER NOT NULL,
  drift_share  REAL NOT NULL,
  drifted      INTEGER NOT NULL,
  trigger_kind TEXT NOT NULL,
  report       TEXT NOT NULL
);
CREATE INDEX drift_evals_by_version ON drift_evals(version_id, at);
CREATE INDEX drift_evals_at ON drift_evals(at);

-- The time series behind GET .../drift/history and alert rules: one value
-- per (column, metric) per evaluation; column '' holds dataset metrics
-- (drift_share, prediction_count, accuracy, ...).
CREATE TABLE drift_series (
  version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  col        TEXT NOT NULL,
  metric     TEXT NOT NULL,
  at         INTEGER NOT NULL,
  eval_id    INTEGER NOT NULL,
  value      REAL NOT NULL,
  PRIMARY KEY (version_id, col, metric, at, eval_id)
) WITHOUT ROWID;
CREATE INDEX drift_series_at ON drift_series(at);
