-- What a notification tells. An episode keeps the value it fired with
-- apart from the latest one (`value`) and from the one it resolved with,
-- and the version that value was measured on (after a rollback it is not
-- the version that fired). Which channels were told that an episode fired
-- is recorded, so an episode that fired and resolved before its group was
-- sent is told as fired, then resolved.
ALTER TABLE alerts ADD COLUMN fired_value REAL;
ALTER TABLE alerts ADD COLUMN resolved_value REAL;
ALTER TABLE alerts ADD COLUMN resolved_version INTEGER;
UPDATE alerts SET fired_value = value WHERE fired_at IS NOT NULL;
UPDATE alerts SET resolved_value = value WHERE state = 'resolved';

CREATE TABLE alert_fired_sent (
  alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  channel  TEXT NOT NULL,
  PRIMARY KEY (alert_id, channel)
);
-- Episodes that fired before this migration count as told: none is
-- announced again as a firing after the upgrade.
INSERT INTO alert_fired_sent(alert_id, channel)
  SELECT a.id, rc.channel FROM alerts a
  JOIN alert_rule_channels rc ON rc.rule_id = a.rule_id
  WHERE a.fired_at IS NOT NULL;

-- Email channels: the type, and what a channel of a type needs beyond its
-- URL: settings (JSON text: an email channel's {to, from}) and the
-- credentials it logs in with (username, password: a secret, never
-- returned by the API). SQLite cannot change a CHECK constraint in place:
-- the table is rebuilt with the same rows (nothing references channels by
-- id; rules and notification groups name them).
CREATE TABLE channels_new (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  type       TEXT NOT NULL
             CHECK (type IN ('webhook', 'slack', 'mattermost', 'discord', 'teams',
                             'alertmanager', 'email')),
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  settings   TEXT,
  username   TEXT,
  password   TEXT
);
INSERT INTO channels_new(id, name, type, url, secret, created_at)
  SELECT id, name, type, url, secret, created_at FROM channels;
DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;
