-- Rollouts (rollouts/): a candidate version brought onto an alias step by
-- step (canary: a share of the traffic; shadow: a copy of it), judged at
-- the end of each step on the candidate's own drift and performance, then
-- promoted or aborted. Everything a controller needs to resume after a
-- restart is in these rows; `revision` grows with every change, and a
-- controller applies a decision only when the row still has the revision
-- it decided on (so no rollout promotes or aborts twice).
CREATE TABLE rollouts (
  id                INTEGER PRIMARY KEY,
  model_id          INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias             TEXT NOT NULL,
  mode              TEXT NOT NULL CHECK (mode IN ('canary', 'shadow')),
  baseline_version  INTEGER NOT NULL,
  candidate_version INTEGER NOT NULL,
  state             TEXT NOT NULL
                    CHECK (state IN ('running', 'paused', 'promoted', 'aborted')),
  step              INTEGER NOT NULL,  -- index into config.steps
  weight_percent    INTEGER NOT NULL,  -- what the nodes were last told
  step_started_at   INTEGER NOT NULL,  -- ms; the analysis window starts here
  config            TEXT NOT NULL,     -- JSON {steps, analysis}
  results           TEXT NOT NULL,     -- JSON [per step {checks, ...}]
  reason            TEXT,
  revision          INTEGER NOT NULL,
  created_by        TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  ended_at          INTEGER
);
-- One running (or paused) rollout per alias.
CREATE UNIQUE INDEX rollouts_active ON rollouts(model_id, alias)
  WHERE state IN ('running', 'paused');
CREATE INDEX rollouts_by_model ON rollouts(model_id, id);
CREATE INDEX rollouts_by_state ON rollouts(state);

-- The timeline of a rollout: started, each step and its weight, checks,
-- pauses, the outcome.
CREATE TABLE rollout_events (
  id             INTEGER PRIMARY KEY,
  rollout_id     INTEGER NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
  at             INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  step           INTEGER NOT NULL,
  weight_percent INTEGER NOT NULL,
  actor          TEXT NOT NULL,
  detail         TEXT  -- JSON or NULL
);
CREATE INDEX rollout_events_by_rollout ON rollout_events(rollout_id, id);

-- What a node last reported of a candidate it runs beside the baseline.
ALTER TABLE node_status ADD COLUMN candidate_version INTEGER;
ALTER TABLE node_status ADD COLUMN candidate_state TEXT;
ALTER TABLE node_status ADD COLUMN candidate_weight INTEGER;

-- History kind 'rollout': a move made by a promoted rollout. SQLite cannot
-- change a CHECK in place: the table is rebuilt with the same rows
-- (nothing references alias_history).
CREATE TABLE alias_history_new (
  id               INTEGER PRIMARY KEY,
  model_id         INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias            TEXT NOT NULL,
  kind             TEXT NOT NULL
                   CHECK (kind IN ('set', 'rollback', 'delete', 'rollout')),
  version          INTEGER,
  previous_version INTEGER,
  actor            TEXT NOT NULL,
  reason           TEXT,
  at               INTEGER NOT NULL,
  approved         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO alias_history_new(id, model_id, alias, kind, version, previous_version,
                              actor, reason, at, approved)
  SELECT id, model_id, alias, kind, version, previous_version, actor, reason, at,
         approved FROM alias_history;
DROP TABLE alias_history;
ALTER TABLE alias_history_new RENAME TO alias_history;
CREATE INDEX alias_history_by_alias ON alias_history(model_id, alias, id);
