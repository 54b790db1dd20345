-- Event subscriptions: URLs that receive registry and alert events (signed
-- per Standard Webhooks with their own secret, through the outbox as
-- target_type 'subscription'). events and models are JSON arrays of
-- patterns as given; models NULL means every model.
CREATE TABLE subscriptions (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  events     TEXT NOT NULL,
  models     TEXT,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
