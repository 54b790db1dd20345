-- The replicas sharing this database (core/cluster.c): each refreshes its
-- row every second; rows not refreshed for a while belong to replicas that
-- are gone. cluster_leader names the replica that last won leadership.
CREATE TABLE replicas (
  id         TEXT PRIMARY KEY,
  listen     TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL
);

CREATE TABLE cluster_leader (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  replica_id TEXT NOT NULL,
  since      INTEGER NOT NULL
);
