-- Alerting: rules with their persisted state, alert episodes, silences and
-- the notification groups of the Alertmanager model.
CREATE TABLE alert_rules (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  model            TEXT NOT NULL,
  alias            TEXT,
  version          INTEGER,
  metric           TEXT NOT NULL,
  op               TEXT NOT NULL,
  threshold        REAL NOT NULL,
  for_seconds      INTEGER NOT NULL,
  window_seconds   INTEGER NOT NULL,
  interval_seconds INTEGER NOT NULL,
  severity         TEXT NOT NULL,
  labels           TEXT NOT NULL DEFAULT '{}',
  annotations      TEXT NOT NULL DEFAULT '{}',
  channels         TEXT NOT NULL DEFAULT '[]',
  action           TEXT CHECK (action IS NULL OR action = 'rollback'),
  created_at       INTEGER NOT NULL,
  created_by       TEXT NOT NULL,
  -- evaluation state, persisted so a restart changes nothing
  state            TEXT NOT NULL DEFAULT 'inactive',
  active_since     INTEGER,
  current_alert_id INTEGER,
  next_eval_at     INTEGER NOT NULL,
  last_eval_at     INTEGER,
  last_value       REAL,
  last_version     INTEGER,
  last_error       TEXT,
  CHECK ((alias IS NULL) <> (version IS NULL))
);

-- One row per episode: created pending (or firing when for = 0), resolved
-- when the condition stops holding. A pending episode that never fires is
-- deleted, as Prometheus forgets it.
CREATE TABLE alerts (
  id             INTEGER PRIMARY KEY,
  rule_id        INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
  fingerprint    TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
  labels         TEXT NOT NULL,
  annotations    TEXT NOT NULL,
  version        INTEGER,
  value          REAL,
  threshold      REAL NOT NULL,
  started_at     INTEGER NOT NULL,
  fired_at       INTEGER,
  resolved_at    INTEGER,
  acked_at       INTEGER,
  acked_by       TEXT,
  action_result  TEXT
);
CREATE INDEX alerts_by_state ON alerts(state, id);
CREATE INDEX alerts_by_rule ON alerts(rule_id, id);

CREATE TABLE silences (
  id         INTEGER PRIMARY KEY,
  matchers   TEXT NOT NULL,
  starts_at  INTEGER NOT NULL,
  ends_at    INTEGER NOT NULL,
  comment    TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences(ends_at);

-- Alertmanager's aggregation groups: one per (channel, group key).
CREATE TABLE notify_groups (
  channel      TEXT NOT NULL,
  group_key    TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_sent_at INTEGER,
  last_digest  TEXT,
  PRIMARY KEY (channel, group_key)
);

-- Which resolved episodes each channel has been told about.
CREATE TABLE alert_resolved_sent (
  alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  channel  TEXT NOT NULL,
  PRIMARY KEY (alert_id, channel)
);
