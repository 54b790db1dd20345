-- placeholder until the ids-per-version migration merges
SELECT 1;
