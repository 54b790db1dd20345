-- Artifacts kept in the database (--artifact-store database, see
-- registry/blobs_db.c), so that every replica sharing it serves every
-- artifact. A blob is written in chunks of 1 MiB while its upload streams
-- in, each chunk in a short write transaction of its own, under a row with
-- no name yet; the transaction that marks a version ready names it by its
-- verified sha256. Rows still without a name belong to uploads in progress
-- or interrupted ones (the collector removes those older than its grace
-- period, by touched_at). Model versions name blobs by sha256, as they name
-- files of the directory store.
CREATE TABLE artifact_blobs (
  id         INTEGER PRIMARY KEY,
  sha256     TEXT UNIQUE,
  size       INTEGER NOT NULL DEFAULT 0,
  touched_at INTEGER NOT NULL
);
CREATE INDEX artifact_blobs_unnamed ON artifact_blobs(touched_at)
  WHERE sha256 IS NULL;

-- A rowid table: rows of 1 MiB sit in overflow pages, which a WITHOUT
-- ROWID table would copy through its index b-tree.
CREATE TABLE artifact_chunks (
  blob_id INTEGER NOT NULL REFERENCES artifact_blobs(id) ON DELETE CASCADE,
  seq     INTEGER NOT NULL,
  data    BLOB NOT NULL,
  PRIMARY KEY (blob_id, seq)
);

-- (On PostgreSQL this migration also indexes models by name in byte order
-- for the registry's listing; SQLite compares text that way already.)
