-- Placeholder so that this branch's 0010 is in sequence: number 0009 is
-- the registry's migration (artifacts in the database), which replaces
-- this file when the branches meet. It changes nothing.
SELECT 1;
