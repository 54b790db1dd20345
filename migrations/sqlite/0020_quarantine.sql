-- Quarantine (POST .../predictions?on_invalid=quarantine): the rows of a
-- batch that failed validation, kept with their errors instead of being
-- refused with the rest of the batch. A row's values are stored as the JSON
-- it was sent as (row_json; NULL when it was larger than the cap, with its
-- size in row_bytes), because an invalid row may not fit the column blocks
-- at all (a string in a numeric column, a missing feature). ts is the row's
-- timestamp, or its time of arrival when the timestamp itself was invalid:
-- retention deletes by it, and a drift report counts the rows of its window
-- per column (cols: the schema columns with an invalid value, as
-- ",0,3,") in the quality's invalid_count. A hashed column's value is
-- stored hashed and a dropped one not at all (monitor/quarantine.c), as in
-- the column blocks; ext_id is the row's prediction id when it had a valid
-- one, for erasure.
CREATE TABLE mon_quarantine (
  id          INTEGER PRIMARY KEY,
  version_id  INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  ts          INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  idx         INTEGER NOT NULL,
  ext_id      TEXT,
  row_json    TEXT,
  row_bytes   INTEGER NOT NULL,
  errors      TEXT NOT NULL,
  error_count INTEGER NOT NULL,
  cols        TEXT NOT NULL
);
CREATE INDEX mon_quarantine_window ON mon_quarantine(version_id, ts);
CREATE INDEX mon_quarantine_ts ON mon_quarantine(ts);
-- Erasure by prediction id (POST /api/v1/models/{name}/erasure) deletes the
-- quarantined rows that carried the id too.
CREATE INDEX mon_quarantine_ids ON mon_quarantine(ext_id);
