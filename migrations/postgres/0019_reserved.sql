-- Number 0019 is reserved for per-column privacy (hashing or dropping
-- values), which is being written at the same time as 0020. Migrations are
-- numbered without gaps, so this empty step keeps the sequence whole until
-- that migration replaces it (same number; no database outside development
-- has applied this file).
SELECT 1;
