-- Dashboard sessions: a browser signs in with a token and gets a session
-- cookie (its sha256 is stored) plus a CSRF token its forms must echo.
CREATE TABLE sessions (
  id         INTEGER PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  token_id   INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
  csrf       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
