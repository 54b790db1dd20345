-- What the live-window caches of every replica need to stay exact when any
-- replica deletes blocks (see migrations/sqlite/0007_block_epoch.sql): a
-- row updated in the transaction of every block delete. Ids come from a
-- sequence and are never reused, so id_max only ever grows.
CREATE TABLE pred_block_epoch (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  n      BIGINT NOT NULL,
  ts_max BIGINT NOT NULL,
  id_max BIGINT NOT NULL,
  gen    BIGINT NOT NULL
);
INSERT INTO pred_block_epoch(id, n, ts_max, id_max, gen)
  VALUES (1, 0, -9223372036854775808,
          0, (random() * 9007199254740991)::bigint);

CREATE FUNCTION pred_blocks_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE pred_block_epoch SET n = n + 1, ts_max = greatest(ts_max, OLD.ts_max),
                              id_max = greatest(id_max, OLD.id)
  WHERE id = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER pred_blocks_epoch AFTER DELETE ON pred_blocks
  FOR EACH ROW EXECUTE FUNCTION pred_blocks_epoch();
