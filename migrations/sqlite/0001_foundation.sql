-- Foundation: migration history, API tokens and the audit log.
CREATE TABLE schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at INTEGER NOT NULL
);

-- A token is "mw_<prefix>_<secret>"; the prefix finds the row, the sha256 of
-- the whole token is compared in constant time.
CREATE TABLE tokens (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL UNIQUE,
  hash         TEXT NOT NULL,
  scopes       INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  created_by   TEXT NOT NULL,
  last_used_at INTEGER
);

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT,
  details TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
