-- Number 0022 is reserved for a migration being written at the same time as
-- 0023 (the reference generation). Migrations are numbered without gaps, so
-- this empty step keeps the sequence whole until that migration replaces it
-- (same number; no database outside development has applied this file).
SELECT 1;
