-- Privacy (issue 19): retention per model, and the key of hashed columns.
--
-- model_retention: a model's own retention in days, overriding
-- --retention-days for its predictions, labels and drift history (no row:
-- the server's default). Set with PUT /api/v1/models/{name}/retention.
CREATE TABLE model_retention (
  model_id   BIGINT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
  days       INTEGER NOT NULL CHECK (days >= 1),
  updated_at BIGINT NOT NULL
);

-- privacy_key: the key of the HMAC-SHA256 that a feature with
-- "privacy": "hash" stores instead of its value. Random, made once (the
-- first time a hashed value is written), and kept sealed under the secret
-- key like every credential ("enc:v1:..."; core/secrets.h, column
-- privacy_key.secret of row 'privacy'): rotate-key re-encrypts it and the
-- hashes stay what they were, so no hashed column drifts after a rotation.
CREATE TABLE privacy_key (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  name       TEXT NOT NULL,
  secret     TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
