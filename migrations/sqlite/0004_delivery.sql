-- Delivery: notification channels, and what the delivery worker
-- (alerts/delivery.c) needs to claim outbox rows and budget their attempts.

-- A chat or webhook receiver of alert notifications. secret is the
-- Standard Webhooks signing secret ("whsec_<base64>"), shown once at
-- creation. Slack/Discord/Teams URLs carry their own credentials too.
CREATE TABLE channels (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  type       TEXT NOT NULL
             CHECK (type IN ('webhook', 'slack', 'mattermost', 'discord', 'teams')),
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- A worker owns a row while claim_until (ms) is in the future and
-- claim_token is its own; a worker that dies leaves a claim that simply
-- expires, after which the row is sent again (at-least-once).
ALTER TABLE outbox ADD COLUMN claim_token TEXT;
ALTER TABLE outbox ADD COLUMN claim_until INTEGER;
-- The attempt budget restarts when a delivery is re-queued by hand:
-- attempts made since then, and when "then" was (NULL: created_at).
ALTER TABLE outbox ADD COLUMN cycle_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN cycle_started_at INTEGER;

-- The queue of each target: what is not yet delivered or dead, in order.
-- The worker walks it target by target (first row per target only), so a
-- claim costs O(targets * log n) however long a backlog grows.
CREATE INDEX outbox_queue ON outbox(target_type, target_name, id)
  WHERE state IN ('pending', 'failed');
