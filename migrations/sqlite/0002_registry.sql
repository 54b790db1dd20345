-- Registry: models, versions, aliases with append-only history, serving
-- nodes, and the outbox of everything that leaves the process.
CREATE TABLE models (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  tags        TEXT NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

CREATE TABLE model_versions (
  id          INTEGER PRIMARY KEY,
  model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  source      TEXT,
  run_id      TEXT,
  tags        TEXT NOT NULL DEFAULT '{}',
  metrics     TEXT NOT NULL DEFAULT '{}',
  params      TEXT NOT NULL DEFAULT '{}',
  schema      TEXT,
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready')),
  sha256      TEXT,
  size        INTEGER,
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL,
  UNIQUE (model_id, version)
);

CREATE TABLE aliases (
  model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias      TEXT NOT NULL,
  version_id INTEGER NOT NULL REFERENCES model_versions(id),
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (model_id, alias)
);

-- Append-only: one row per move (version NULL when the alias was deleted).
-- kind is 'set', 'rollback' or 'delete'; rollbacks walk back through the
-- sets as through a stack (see registry/aliases.c).
CREATE TABLE alias_history (
  id               INTEGER PRIMARY KEY,
  model_id         INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias            TEXT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind IN ('set', 'rollback', 'delete')),
  version          INTEGER,
  previous_version INTEGER,
  actor            TEXT NOT NULL,
  reason           TEXT,
  at               INTEGER NOT NULL
);
CREATE INDEX alias_history_by_alias ON alias_history(model_id, alias, id);

CREATE TABLE nodes (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  url          TEXT NOT NULL,
  secret       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER
);

-- A node serves a model and follows one of its aliases (default production).
CREATE TABLE node_models (
  node_id  INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias    TEXT NOT NULL DEFAULT 'production',
  PRIMARY KEY (node_id, model_id)
);
CREATE INDEX node_models_by_model ON node_models(model_id);

-- What each node last reported loading, per model.
CREATE TABLE node_status (
  node_id     INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  model_name  TEXT NOT NULL,
  version     INTEGER,
  state       TEXT NOT NULL,
  reported_at INTEGER NOT NULL,
  PRIMARY KEY (node_id, model_name)
);

-- Everything that leaves the process, written in the transaction of the
-- change that caused it; delivered at least once by alerts/delivery.c.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  msg_id          TEXT NOT NULL UNIQUE,
  kind            TEXT NOT NULL,
  target_type     TEXT NOT NULL,
  target_name     TEXT NOT NULL,
  url             TEXT NOT NULL,
  payload         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'failed', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  delivered_at    INTEGER,
  last_status     INTEGER,
  last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

CREATE TABLE delivery_attempts (
  id          INTEGER PRIMARY KEY,
  outbox_id   INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
  at          INTEGER NOT NULL,
  status_code INTEGER,
  latency_ms  INTEGER,
  error       TEXT
);
CREATE INDEX delivery_attempts_by_outbox ON delivery_attempts(outbox_id);
