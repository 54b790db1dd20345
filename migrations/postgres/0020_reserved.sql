-- Number 0020 is reserved for data quality and quarantine, which is being
-- written at the same time as 0021. Migrations are numbered without gaps,
-- so this empty step keeps the sequence whole until that migration
-- replaces it (same number; no database outside development has applied
-- this file).
SELECT 1;
