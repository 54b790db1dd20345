-- The reference cache of drift reports (monitor/rcache.c) uses a version's
-- cached reference columns only while the generation the report reads in
-- its own snapshot is the one they were loaded under (see
-- migrations/sqlite/0023_reference_gen.sql). Here generations come from a
-- sequence: never repeated, whichever replica writes.
CREATE SEQUENCE reference_gen;
ALTER TABLE reference_sets ADD COLUMN gen BIGINT NOT NULL DEFAULT 0;
UPDATE reference_sets SET gen = nextval('reference_gen');
ALTER TABLE reference_sets ALTER COLUMN gen SET DEFAULT nextval('reference_gen');

CREATE FUNCTION reference_sets_gen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.gen = OLD.gen THEN
    NEW.gen := nextval('reference_gen');
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER reference_sets_gen BEFORE UPDATE ON reference_sets
  FOR EACH ROW EXECUTE FUNCTION reference_sets_gen();

-- A change to a set's columns or rows moves the set to a new generation
-- (the update above draws it).
CREATE FUNCTION reference_part_gen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE reference_sets SET gen = nextval('reference_gen')
    WHERE version_id = OLD.version_id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    UPDATE reference_sets SET gen = nextval('reference_gen')
    WHERE version_id = NEW.version_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER reference_columns_gen AFTER INSERT OR UPDATE OR DELETE
  ON reference_columns FOR EACH ROW EXECUTE FUNCTION reference_part_gen();
CREATE TRIGGER reference_rows_gen AFTER INSERT OR UPDATE OR DELETE
  ON reference_rows FOR EACH ROW EXECUTE FUNCTION reference_part_gen();
