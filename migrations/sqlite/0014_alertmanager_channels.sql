-- Alertmanager as a channel type. SQLite cannot change a CHECK constraint
-- in place: the table is rebuilt with the same rows (nothing references
-- channels by id; rules and notification groups name them).
CREATE TABLE channels_new (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  type       TEXT NOT NULL
             CHECK (type IN ('webhook', 'slack', 'mattermost', 'discord', 'teams',
                             'alertmanager')),
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
INSERT INTO channels_new(id, name, type, url, secret, created_at)
  SELECT id, name, type, url, secret, created_at FROM channels;
DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;
