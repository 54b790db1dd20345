-- Prediction ids unique per version instead of per model. In a shadow
-- rollout a serving node logs the candidate version's predictions under the
-- same ids as the baseline version's (both answered the same request), so the
-- candidate's batch must not be refused as duplicates; and pairing the two
-- versions' predictions by id (GET .../shadow) needs both rows kept.
-- PostgreSQL changes the constraint in place (SQLite rebuilds the table).
-- version_id goes last in the key, so one id's rows of every version stay
-- next to each other: a label's lookup (its version's row, else another
-- version's to name it in the error) is one short index range.
ALTER TABLE pred_ids DROP CONSTRAINT pred_ids_pkey;
ALTER TABLE pred_ids ADD PRIMARY KEY (model_id, ext_id, version_id);

-- A version's ids by time: the shadow comparison reads the candidate's ids
-- of a window through it and finds the baseline's row of each id by the
-- primary key.
CREATE INDEX pred_ids_by_version ON pred_ids(version_id, ts);

-- A label belongs to the prediction of one version: the same id may carry a
-- label under the baseline and another under the candidate.
DROP INDEX labels_by_id;
CREATE UNIQUE INDEX labels_by_id ON labels(model_id, ext_id, version_id);
