-- Secrets at rest (core/secrets.h): every stored credential - the url and
-- secret of channels, nodes and subscriptions - is kept as
-- "enc:v1:<key id>:<base64>", AES-256-GCM under a key that lives outside
-- the database (<data-dir>/secret.key or --secret-key-file). This row says
-- which key that is, so that a server given another key refuses to start
-- instead of failing on each value, and so that a first start of a binary
-- with this migration knows it still has to encrypt what an older one
-- stored in plain text (no row yet: that pass has not run).
--
-- The outbox no longer keeps a delivery's full URL: only its scheme, host
-- and port (what GET /api/v1/deliveries shows); the delivery worker reads
-- the URL and the secret from the target when it sends. Older rows are
-- cut down by the same first-start pass.
CREATE TABLE secret_key (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  key_id   TEXT NOT NULL,
  since    INTEGER NOT NULL
);
