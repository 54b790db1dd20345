-- Approval of versions and protected aliases.
--
-- A version's current decision lives on its row (read with it, no join);
-- every decision is also appended to version_approvals, which is never
-- updated. alias_history.approved records whether the version an alias
-- moved to was approved at that moment: an emergency rollback to a version
-- that was approved while it held the alias stays allowed even when the
-- alias is protected later or the version is rejected since.
ALTER TABLE model_versions ADD COLUMN approval_state TEXT NOT NULL DEFAULT 'none'
  CHECK (approval_state IN ('none', 'approved', 'rejected'));
ALTER TABLE model_versions ADD COLUMN approval_by TEXT;
ALTER TABLE model_versions ADD COLUMN approval_at INTEGER;
ALTER TABLE model_versions ADD COLUMN approval_comment TEXT;
-- Who uploaded the artifact: four eyes refuse that actor a decision too,
-- since it chose the bytes the decision is about.
ALTER TABLE model_versions ADD COLUMN uploaded_by TEXT;

CREATE TABLE version_approvals (
  id         INTEGER PRIMARY KEY,
  version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  decision   TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
  actor      TEXT NOT NULL,
  comment    TEXT,
  at         INTEGER NOT NULL
);
CREATE INDEX version_approvals_by_version ON version_approvals(version_id, id);

CREATE TABLE protected_aliases (
  model_id         INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias            TEXT NOT NULL,
  require_approval INTEGER NOT NULL,
  actor            TEXT NOT NULL,
  at               INTEGER NOT NULL,
  PRIMARY KEY (model_id, alias)
);

ALTER TABLE alias_history ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
