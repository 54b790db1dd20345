-- Tokens limited to models: the model names or prefixes ("churn-*") a
-- token may see, one per line; NULL: every model.
ALTER TABLE tokens ADD COLUMN models TEXT;
