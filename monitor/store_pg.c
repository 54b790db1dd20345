/* monitor/store_pg.c - the monitor's store interface (monitor/store.h) on
 * PostgreSQL (libpq through core/db_pg.h). The schema is SQLite's
 * (migrations/postgres/0003_monitor.sql) except that a chunk is keyed by
 * (block_id, slot) and goes with its block through a foreign key.
 *
 * Where it differs from monitor/store_sqlite.c, and why:
 *  - Round trips, not statements, are the cost here, so every operation
 *    on many rows is one statement: a block and all its chunks are one
 *    INSERT (a data-modifying WITH over unnest() of a bytea[]); ids,
 *    labels, categories and series points go in as arrays through
 *    unnest(); a window's chunks are read many blocks a statement.
 *  - Arrays and chunks travel in binary (array_recv's format, built by
 *    pgarr_* below): bytes as they are, no escaping, no hex that would
 *    double 880 MB of a 10 M-row window. Results with chunks or reference
 *    arrays are asked for in binary too (mw_pg_run_bin).
 *  - An error aborts the PostgreSQL transaction it happens in (the group
 *    commit's other batches with it): a batch's ids go in under a
 *    savepoint of their own, and a duplicate is rolled back to it and
 *    listed (ids_insert says why not ON CONFLICT).
 *  - DELETE has no LIMIT: bounded deletes select their keys in a subquery.
 *  - Block ids come from an identity sequence and are never reused; the
 *    live-window cache relies on them being drawn under core's write lock
 *    (monitor/wcache.c says why that makes them visible in id order). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "monitor/store.h"

/* Type oids of the arrays' elements (pg_type). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701
/* Chunks read per statement: bounds a result to that many chunks. */
#define CHUNKS_PER_READ 64
/* A block whose chunks take more than this is written chunk by chunk. */
#define BLOCK_ONE_STATEMENT (64u << 20)

static const char *kind_text(mon_column_kind k) {
  return k == MON_COLUMN_CATEGORICAL ? "categorical" : "numeric";
}

/* ------------------------------------------------------ binary arrays */

/* A one-dimensional array in PostgreSQL's binary format: a header (ndim,
 * has-nulls flag, element type, length, lower bound), then each element
 * as a 4-byte length (-1: NULL) and its bytes, all big-endian. */
typedef struct pgarr {
  mw_buf b;
  int32_t n;
  int nulls;
  mw_status st; /* the first failure to append */
} pgarr;

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Starts an array of oid elements (always initialised: free a.b after).
 * A failure to append is kept in a->st and ends the appends. */
static void pgarr_init(pgarr *a, uint32_t oid, size_t limit) {
  unsigned char h[20];
  put32(h, 1);
  put32(h + 4, 0);
  put32(h + 8, oid);
  put32(h + 12, 0);
  put32(h + 16, 1);
  a->n = 0;
  a->nulls = 0;
  mw_buf_init(&a->b, limit);
  a->st = mw_buf_append(&a->b, h, sizeof h);
}

static void pgarr_add(pgarr *a, const void *data, size_t len) {
  unsigned char l[4];
  if(a->st)
    return;
  assert(len <= INT32_MAX);
  put32(l, data ? (uint32_t)len : UINT32_MAX);
  a->st = mw_buf_append(&a->b, l, 4);
  if(!a->st && data && len)
    a->st = mw_buf_append(&a->b, data, len);
  a->nulls |= !data;
  a->n++;
}

static void pgarr_i64(pgarr *a, int64_t v) {
  unsigned char p[8];
  put32(p, (uint32_t)((uint64_t)v >> 32));
  put32(p + 4, (uint32_t)v);
  pgarr_add(a, p, 8);
}

/* A float8, or NULL when not finite (as SQLite's store binds it). */
static void pgarr_f8(pgarr *a, double v) {
  if(!isfinite(v)) {
    pgarr_add(a, NULL, 0);
    return;
  }
  uint64_t u;
  memcpy(&u, &v, 8);
  pgarr_i64(a, (int64_t)u);
}

static void pgarr_text(pgarr *a, const char *s) {
  pgarr_add(a, s, s ? strlen(s) : 0);
}

/* Completes the header and adds the bytes as the next parameter (for
 * $n::type[]); a.b must live until the statement ran. */
static void pgarr_finish(pgarr *a, mw_pg_params *p) {
  assert(!a->st);
  unsigned char *h = (unsigned char *)a->b.data;
  put32(h + 4, (uint32_t)a->nulls);
  put32(h + 12, (uint32_t)a->n);
  mw_pgp_bytes(p, a->b.data, a->b.len);
}

/* Reads a binary float8 column as SQLite reads a REAL one: 0 for NULL. */
static double bin_double0(const PGresult *r, int row, int col) {
  return mw_pg_null(r, row, col) ? 0.0 : mw_pg_bin_double(r, row, col);
}

/* ------------------------------------------------------------- blocks */

static void block_params(mw_pg_params *p, const mon_block *b) {
  mw_pgp_init(p);
  mw_pgp_i64(p, b->version_id);
  mw_pgp_i64(p, b->bucket);
  mw_pgp_i64(p, b->ts_min);
  mw_pgp_i64(p, b->ts_max);
  mw_pgp_i64(p, b->n);
  mw_pgp_i64(p, b->ncols);
  mw_pgp_i64(p, b->has_ids);
  mw_pgp_i64(p, b->created_at);
}

/* A block too large for one statement: its row, then a chunk a statement. */
static mw_status block_insert_each(mw_conn *c, mon_block *b,
                                   const mon_chunk *chunks, size_t nchunks) {
  mw_pg_params p;
  block_params(&p, b);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "INSERT INTO pred_blocks(version_id, bucket, ts_min, "
                          "ts_max, n, ncols, has_ids, created_at) VALUES($1, $2, "
                          "$3, $4, $5, $6, $7, $8) RETURNING id",
                          &p, &s);
  if(!r)
    return s;
  b->id = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  for(size_t slot = 0; slot < nchunks && !s; slot++) {
    mw_pgp_init(&p);
    mw_pgp_i64(&p, b->id);
    mw_pgp_i64(&p, (int64_t)slot);
    mw_pgp_bytes(&p, chunks[slot].data, chunks[slot].len);
    s = mw_pg_do(c,
                 "INSERT INTO pred_chunks(block_id, slot, data) "
                 "VALUES($1, $2::int4, $3::bytea)",
                 &p, NULL);
  }
  return s;
}

static mw_status block_insert(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                              size_t nchunks) {
  assert(mw_tx_state(c) == 1 && nchunks >= 1);
  size_t total = 0;
  for(size_t k = 0; k < nchunks; k++)
    total += chunks[k].len + 4;
  if(total > BLOCK_ONE_STATEMENT)
    return block_insert_each(c, b, chunks, nchunks);
  pgarr a;
  pgarr_init(&a, OID_BYTEA, (size_t)BLOCK_ONE_STATEMENT + 64);
  for(size_t k = 0; k < nchunks; k++)
    pgarr_add(&a, chunks[k].len ? chunks[k].data : "", chunks[k].len);
  mw_status s = a.st;
  if(s) {
    mw_buf_free(&a.b);
    return s;
  }
  mw_pg_params p;
  block_params(&p, b);
  pgarr_finish(&a, &p);
  /* One round trip: the block's row and its chunks (slot = position - 1). */
  PGresult *r = mw_pg_run(
      c,
      "WITH b AS (INSERT INTO pred_blocks(version_id, bucket, ts_min, ts_max, "
      "n, ncols, has_ids, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8) "
      "RETURNING id), c AS (INSERT INTO pred_chunks(block_id, slot, data) "
      "SELECT b.id, (s.ord - 1)::int4, s.data FROM b, unnest($9::bytea[]) "
      "WITH ORDINALITY AS s(data, ord)) SELECT id FROM b",
      &p, &s);
  mw_buf_free(&a.b);
  if(!r)
    return s;
  b->id = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return MW_OK;
}

static void read_block(const PGresult *r, int i, mon_block *b) {
  b->id = mw_pg_i64(r, i, 0, 0);
  b->version_id = mw_pg_i64(r, i, 1, 0);
  b->bucket = mw_pg_i64(r, i, 2, 0);
  b->ts_min = mw_pg_i64(r, i, 3, 0);
  b->ts_max = mw_pg_i64(r, i, 4, 0);
  b->n = mw_pg_i64(r, i, 5, 0);
  b->ncols = mw_pg_i64(r, i, 6, 0);
  b->has_ids = mw_pg_i64(r, i, 7, 0) != 0;
  b->created_at = mw_pg_i64(r, i, 8, 0);
}

#define BLOCK_COLS                                                              \
  "id, version_id, bucket, ts_min, ts_max, n, ncols, has_ids, created_at"

static mw_status blocks_list(mw_conn *c, int64_t version_id, int64_t from,
                             int64_t to, int64_t id_lo, int64_t id_hi,
                             mw_status (*fn)(void *, const mon_block *),
                             void *ctx) {
  assert(from < to);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, from / MON_BUCKET_MS);
  mw_pgp_i64(&p, (to - 1) / MON_BUCKET_MS);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_pgp_i64(&p, id_lo);
  mw_pgp_i64(&p, id_hi);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT " BLOCK_COLS " FROM pred_blocks WHERE "
                          "version_id = $1 AND bucket BETWEEN $2 AND $3 AND "
                          "ts_max >= $4 AND ts_min < $5 AND id BETWEEN $6 AND $7 "
                          "ORDER BY id",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    mon_block b;
    read_block(r, i, &b);
    s = fn(ctx, &b);
  }
  PQclear(r);
  return s;
}

/* chunks_read for ids[0..n), n <= CHUNKS_PER_READ, indexes from base. */
static mw_status chunks_read_some(mw_conn *c, int slot, const int64_t *ids,
                                  size_t n, size_t base,
                                  mw_status (*fn)(void *, size_t, const void *,
                                                  size_t),
                                  void *ctx) {
  pgarr a;
  pgarr_init(&a, OID_INT8, 64 + n * 12);
  for(size_t i = 0; i < n; i++)
    pgarr_i64(&a, ids[i]);
  mw_status s = a.st;
  if(s) {
    mw_buf_free(&a.b);
    return s;
  }
  mw_pg_params p;
  mw_pgp_init(&p);
  pgarr_finish(&a, &p);
  mw_pgp_i64(&p, slot);
  PGresult *r = mw_pg_run_bin(c,
                              "SELECT block_id, data FROM pred_chunks WHERE "
                              "block_id = ANY($1::int8[]) AND slot = $2::int4 "
                              "ORDER BY block_id",
                              &p, &s);
  mw_buf_free(&a.b);
  if(!r)
    return s;
  /* Both ascending: walk them together; a block without the chunk gets
   * NULL. */
  int row = 0, rows = PQntuples(r);
  for(size_t i = 0; i < n && !s; i++) {
    if(row < rows && mw_pg_bin_i64(r, row, 0, 0) == ids[i]) {
      size_t len;
      const void *data = mw_pg_bin_data(r, row, 1, &len);
      row++;
      s = fn(ctx, base + i, data ? data : "", len);
    } else {
      s = fn(ctx, base + i, NULL, 0);
    }
  }
  PQclear(r);
  return s;
}

static mw_status chunks_read(mw_conn *c, int slot, const int64_t *ids, size_t n,
                             mw_status (*fn)(void *, size_t, const void *, size_t),
                             void *ctx) {
  mw_status s = MW_OK;
  for(size_t i = 0; i < n && !s; i += CHUNKS_PER_READ) {
    size_t k = n - i < CHUNKS_PER_READ ? n - i : CHUNKS_PER_READ;
    for(size_t j = i + 1; j < i + k; j++)
      assert(ids[j - 1] < ids[j]);
    s = chunks_read_some(c, slot, ids + i, k, i, fn, ctx);
  }
  return s;
}

static mw_status blocks_delete(mw_conn *c, const int64_t *ids, size_t n) {
  assert(mw_tx_state(c) == 1);
  if(n == 0)
    return MW_OK;
  pgarr a;
  pgarr_init(&a, OID_INT8, 64 + n * 12);
  for(size_t i = 0; i < n; i++)
    pgarr_i64(&a, ids[i]);
  mw_status s = a.st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    pgarr_finish(&a, &p);
    /* The chunks go with their block (ON DELETE CASCADE); the epoch row
     * is updated by migration 0007's trigger. */
    s = mw_pg_do(c, "DELETE FROM pred_blocks WHERE id = ANY($1::int8[])", &p, NULL);
  }
  mw_buf_free(&a.b);
  return s;
}

static mw_status block_epoch(mw_conn *c, mon_epoch *e) {
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT gen, n, ts_max, id_max, (SELECT coalesce(max(id), "
                          "0) FROM pred_blocks) FROM pred_block_epoch WHERE id = 1",
                          NULL, &s);
  if(!r)
    return s;
  s = PQntuples(r) == 1 ? MW_OK : MW_EINTERNAL; /* migration 0007 inserts it */
  if(!s) {
    e->gen = mw_pg_i64(r, 0, 0, 0);
    e->n = mw_pg_i64(r, 0, 1, 0);
    e->del_ts_max = mw_pg_i64(r, 0, 2, 0);
    e->del_id_max = mw_pg_i64(r, 0, 3, 0);
    e->max_block = mw_pg_i64(r, 0, 4, 0);
  }
  PQclear(r);
  return s;
}

static mw_status blocks_expired(mw_conn *c, int64_t cutoff_ms, size_t max,
                                mon_expired *out, size_t *n) {
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, cutoff_ms / MON_BUCKET_MS);
  mw_pgp_i64(&p, cutoff_ms);
  mw_pgp_i64(&p, (int64_t)max);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT b.id, b.version_id, b.bucket, b.ts_min, b.ts_max, b.n, b.ncols, "
      "b.has_ids, b.created_at, v.model_id FROM pred_blocks b JOIN "
      "model_versions v ON v.id = b.version_id WHERE b.bucket < $1 AND "
      "b.ts_max < $2 ORDER BY b.bucket LIMIT $3",
      &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && *n < max; i++) {
    read_block(r, i, &out[*n].b);
    out[*n].model_id = mw_pg_i64(r, i, 9, 0);
    (*n)++;
  }
  PQclear(r);
  return MW_OK;
}

static mw_status compaction_candidate(mw_conn *c, int64_t before_bucket,
                                      int64_t small, int64_t *version_id,
                                      int64_t *bucket, int64_t *ncols, int *found) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, before_bucket);
  mw_pgp_i64(&p, small);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT version_id, bucket, ncols FROM pred_blocks WHERE "
                          "bucket < $1 AND n < $2 GROUP BY version_id, bucket, "
                          "ncols HAVING count(*) > 1 LIMIT 1",
                          &p, &s);
  if(!r)
    return s;
  *found = PQntuples(r) > 0;
  if(*found) {
    *version_id = mw_pg_i64(r, 0, 0, 0);
    *bucket = mw_pg_i64(r, 0, 1, 0);
    *ncols = mw_pg_i64(r, 0, 2, 0);
  }
  PQclear(r);
  return MW_OK;
}

static mw_status compaction_blocks(mw_conn *c, int64_t version_id, int64_t bucket,
                                   int64_t ncols, int64_t small, size_t max,
                                   mon_block *out, size_t *n) {
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, bucket);
  mw_pgp_i64(&p, ncols);
  mw_pgp_i64(&p, small);
  mw_pgp_i64(&p, (int64_t)max);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT " BLOCK_COLS " FROM pred_blocks WHERE "
                          "version_id = $1 AND bucket = $2 AND ncols = $3 AND "
                          "n < $4 ORDER BY id LIMIT $5",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && *n < max; i++)
    read_block(r, i, &out[(*n)++]);
  PQclear(r);
  return MW_OK;
}

/* ---------------------------------------------------------------- ids */

static mw_status ids_get(mw_conn *c, int64_t model_id, const char *const *ext_ids,
                         size_t n, mon_id_found *found);

/* After a refused insert: the rows whose id the model already has. */
static mw_status find_conflicts(mw_conn *c, int64_t model_id,
                                const mon_id_row *rows, size_t n,
                                uint8_t *conflict, size_t *nconflict) {
  const char **ids = calloc(n ? n : 1, sizeof *ids);
  mon_id_found *found = calloc(n ? n : 1, sizeof *found);
  mw_status s = ids && found ? MW_OK : MW_ENOMEM;
  for(size_t i = 0; !s && i < n; i++)
    ids[i] = rows[i].ext_id;
  if(!s)
    s = ids_get(c, model_id, ids, n, found);
  for(size_t i = 0; !s && i < n; i++)
    if(rows[i].ext_id && found[i].version_id >= 0) {
      conflict[i] = 1;
      (*nconflict)++;
    }
  free(ids);
  free(found);
  return s;
}

/* A plain INSERT of the ids under a savepoint of its own. Measured (1000
 * ids a statement, tests/bench/bench_ingest.sh): INSERT ... ON CONFLICT DO
 * NOTHING RETURNING takes a speculative-insertion lock per row and cost
 * 17 ms of the 18 ms a batch spent in PostgreSQL, the plain INSERT about
 * 10 ms (HTTP/COPY ratio 0.3-0.45 before, 0.53-0.55 after). A duplicate is
 * a unique violation, which aborts what it ran in: rolled back to the
 * savepoint, the transaction goes on, and the conflicting ids are looked
 * up (that path only when the batch is refused anyway). */
static mw_status ids_insert(mw_conn *c, int64_t model_id, int64_t version_id,
                            const mon_id_row *rows, size_t n, uint8_t *conflict,
                            size_t *nconflict) {
  assert(mw_tx_state(c) == 1);
  *nconflict = 0;
  memset(conflict, 0, n);
  pgarr e, t, v;
  pgarr_init(&e, OID_TEXT, (size_t)1 << 30);
  pgarr_init(&t, OID_INT8, (size_t)1 << 30);
  pgarr_init(&v, OID_FLOAT8, (size_t)1 << 30);
  size_t given = 0;
  for(size_t i = 0; i < n; i++) {
    if(!rows[i].ext_id)
      continue;
    given++;
    pgarr_text(&e, rows[i].ext_id);
    pgarr_i64(&t, rows[i].ts);
    pgarr_f8(&v, rows[i].prediction);
  }
  mw_status s = e.st ? e.st : t.st ? t.st : v.st;
  if(!s && given && !(s = mw_pg_exec(c, "SAVEPOINT mw_ids"))) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mw_pgp_i64(&p, version_id);
    pgarr_finish(&e, &p);
    pgarr_finish(&t, &p);
    pgarr_finish(&v, &p);
    s = mw_pg_do(c,
                 "INSERT INTO pred_ids(model_id, ext_id, version_id, ts, "
                 "prediction) SELECT $1, u.e, $2, u.t, u.p FROM "
                 "unnest($3::text[], $4::int8[], $5::float8[]) AS u(e, t, p)",
                 &p, NULL);
    if(s == MW_ECONFLICT && !(s = mw_pg_exec(c, "ROLLBACK TO SAVEPOINT mw_ids")))
      s = find_conflicts(c, model_id, rows, n, conflict, nconflict);
    if(!s)
      s = mw_pg_exec(c, "RELEASE SAVEPOINT mw_ids");
  }
  mw_buf_free(&e.b);
  mw_buf_free(&t.b);
  mw_buf_free(&v.b);
  return s;
}

/* ext_ids[0..n) without the NULL ones, as a text[] parameter; at[k]
 * receives the index of the array's k-th element. */
static mw_status ids_array(const char *const *ext_ids, size_t n, pgarr *a,
                           size_t *at, size_t *given) {
  pgarr_init(a, OID_TEXT, (size_t)1 << 30);
  *given = 0;
  for(size_t i = 0; i < n; i++)
    if(ext_ids[i] && ext_ids[i][0]) {
      at[(*given)++] = i;
      pgarr_text(a, ext_ids[i]);
    }
  return a->st;
}

static mw_status ids_get(mw_conn *c, int64_t model_id, const char *const *ext_ids,
                         size_t n, mon_id_found *found) {
  for(size_t i = 0; i < n; i++)
    found[i].version_id = -1;
  size_t *at = malloc((n ? n : 1) * sizeof *at), given = 0;
  pgarr a;
  mw_status s = at ? ids_array(ext_ids, n, &a, at, &given) : MW_ENOMEM;
  PGresult *r = NULL;
  if(!s && given) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    pgarr_finish(&a, &p);
    r = mw_pg_run_bin(c,
                      "SELECT u.i, p.version_id, p.ts, p.prediction FROM "
                      "unnest($2::text[]) WITH ORDINALITY AS u(e, i) JOIN "
                      "pred_ids p ON p.model_id = $1 AND p.ext_id = u.e",
                      &p, &s);
  }
  for(int k = 0; r && k < PQntuples(r); k++) {
    int64_t pos = mw_pg_bin_i64(r, k, 0, 0) - 1;
    if(pos < 0 || (size_t)pos >= given)
      continue;
    mon_id_found *f = &found[at[pos]];
    f->version_id = mw_pg_bin_i64(r, k, 1, 0);
    f->ts = mw_pg_bin_i64(r, k, 2, 0);
    f->prediction = mw_pg_bin_double(r, k, 3);
  }
  PQclear(r);
  if(at)
    mw_buf_free(&a.b);
  free(at);
  return s;
}

static mw_status ids_delete(mw_conn *c, int64_t model_id, int64_t version_id,
                            const char *const *ext_ids, size_t n) {
  size_t *at = malloc((n ? n : 1) * sizeof *at), given = 0;
  pgarr a;
  mw_status s = at ? ids_array(ext_ids, n, &a, at, &given) : MW_ENOMEM;
  if(!s && given) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mw_pgp_i64(&p, version_id);
    pgarr_finish(&a, &p);
    s = mw_pg_do(c,
                 "DELETE FROM pred_ids WHERE model_id = $1 AND version_id = $2 "
                 "AND ext_id = ANY($3::text[])",
                 &p, NULL);
  }
  if(at)
    mw_buf_free(&a.b);
  free(at);
  return s;
}

/* ------------------------------------------------------------- labels */

static mw_status labels_put(mw_conn *c, int64_t model_id, int64_t version_id,
                            const mon_label_row *rows, size_t n, int64_t at) {
  assert(mw_tx_state(c) == 1);
  if(n == 0)
    return MW_OK;
  pgarr e, t, pr, l;
  pgarr_init(&e, OID_TEXT, (size_t)1 << 30);
  pgarr_init(&t, OID_INT8, (size_t)1 << 30);
  pgarr_init(&pr, OID_FLOAT8, (size_t)1 << 30);
  pgarr_init(&l, OID_FLOAT8, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++) {
    pgarr_text(&e, rows[i].ext_id);
    pgarr_i64(&t, rows[i].ts);
    pgarr_f8(&pr, rows[i].prediction);
    pgarr_f8(&l, rows[i].label);
  }
  mw_status s = e.st ? e.st : t.st ? t.st : pr.st ? pr.st : l.st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mw_pgp_i64(&p, version_id);
    mw_pgp_i64(&p, at);
    pgarr_finish(&e, &p);
    pgarr_finish(&t, &p);
    pgarr_finish(&pr, &p);
    pgarr_finish(&l, &p);
    s = mw_pg_do(c,
                 "INSERT INTO labels(model_id, ext_id, version_id, ts, prediction, "
                 "label, at) SELECT $1, u.e, $2, u.t, u.p, u.l, $3 FROM "
                 "unnest($4::text[], $5::int8[], $6::float8[], $7::float8[]) AS "
                 "u(e, t, p, l) ON CONFLICT (model_id, ext_id) DO UPDATE SET "
                 "label = excluded.label, at = excluded.at, "
                 "prediction = excluded.prediction, ts = excluded.ts",
                 &p, NULL);
  }
  mw_buf_free(&e.b);
  mw_buf_free(&t.b);
  mw_buf_free(&pr.b);
  mw_buf_free(&l.b);
  return s;
}

static mw_status labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                              int64_t to, void (*fn)(void *, double, double),
                              void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_status s;
  PGresult *r = mw_pg_run_bin(c,
                              "SELECT prediction, label FROM labels WHERE "
                              "version_id = $1 AND ts >= $2 AND ts < $3",
                              &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r); i++)
    fn(ctx, mw_pg_bin_double(r, i, 0), mw_pg_bin_double(r, i, 1));
  PQclear(r);
  return MW_OK;
}

/* -------------------------------------------------------- dictionaries */

static mw_status categories_list(mw_conn *c, int64_t version_id, size_t col,
                                 mw_status (*fn)(void *, int64_t, const char *),
                                 void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)col);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT code, value FROM mon_categories WHERE "
                          "version_id = $1 AND col = $2 ORDER BY code",
                          &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_i64(r, i, 0, 0), mw_pg_text(r, i, 1));
  PQclear(r);
  return s;
}

static mw_status categories_add(mw_conn *c, int64_t version_id, size_t col,
                                int64_t first_code, const char *const *values,
                                size_t n) {
  assert(mw_tx_state(c) == 1);
  pgarr a;
  pgarr_init(&a, OID_TEXT, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++)
    pgarr_text(&a, values[i]);
  mw_status s = a.st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, version_id);
    mw_pgp_i64(&p, (int64_t)col);
    mw_pgp_i64(&p, first_code);
    pgarr_finish(&a, &p);
    s = mw_pg_do(c,
                 "INSERT INTO mon_categories(version_id, col, code, value) "
                 "SELECT $1, $2::int4, ($3::int8 + u.i - 1)::int4, u.v FROM "
                 "unnest($4::text[]) WITH ORDINALITY AS u(v, i)",
                 &p, NULL);
  }
  mw_buf_free(&a.b);
  return s;
}

/* ---------------------------------------------------------- references */

/* Packs n doubles little-endian (the chunk format of monitor/pack.h, which
 * SQLite's store writes too) into buf. */
static mw_status pack_f8(mw_buf *buf, const double *v, size_t n) {
  buf->len = 0;
  for(size_t i = 0; i < n; i++) {
    uint64_t u;
    unsigned char p[8];
    memcpy(&u, &v[i], 8);
    for(int k = 0; k < 8; k++)
      p[k] = (unsigned char)(u >> (8 * k));
    mw_status s = mw_buf_append(buf, p, 8);
    if(s)
      return s;
  }
  return MW_OK;
}

static mw_status refcol_insert(mw_conn *c, int64_t version_id, size_t col,
                               const char *name, const mon_refcol *r,
                               mw_buf *blob) {
  bool numeric = r->kind == MON_COLUMN_NUMERIC;
  mw_status s = numeric ? pack_f8(blob, r->sorted, r->nsorted)
                        : pack_f8(blob, r->cat_counts, r->ncat);
  if(s)
    return s;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)col);
  mw_pgp_text(&p, name);
  mw_pgp_text(&p, kind_text(r->kind));
  mw_pgp_i64(&p, r->count);
  mw_pgp_i64(&p, r->missing);
  bool moments = numeric && r->count > 0;
  mw_pgp_double(&p, moments ? r->mean : NAN);
  mw_pgp_double(&p, moments ? r->std : NAN);
  mw_pgp_double(&p, moments ? r->min : NAN);
  mw_pgp_double(&p, moments ? r->max : NAN);
  if(numeric) {
    mw_pgp_bytes(&p, blob->len ? blob->data : "", blob->len);
    if(r->has_bins)
      mw_pgp_bytes(&p, &r->bins, sizeof r->bins);
    else
      mw_pgp_null(&p);
    mw_pgp_null(&p);
  } else {
    mw_pgp_null(&p);
    mw_pgp_null(&p);
    mw_pgp_bytes(&p, blob->len ? blob->data : "", blob->len);
  }
  return mw_pg_do(c,
                  "INSERT INTO reference_columns(version_id, col, name, kind, "
                  "count, missing, mean, std, min, max, sorted, bins, "
                  "categories) VALUES($1, $2::int4, $3, $4, $5, $6, "
                  "$7::float8, $8::float8, $9::float8, $10::float8, "
                  "$11::bytea, $12::bytea, $13::bytea)",
                  &p, NULL);
}

static mw_status ref_save(mw_conn *c, int64_t version_id, const mon_ref *r,
                          const char *const *names) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s = mw_pg_do(c, "DELETE FROM reference_sets WHERE version_id = $1", &p,
                         NULL);
  if(s)
    return s;
  bool window = !strcmp(r->source, "window");
  mw_pgp_text(&p, r->source);
  mw_pgp_id(&p, window ? r->from : -1);
  mw_pgp_id(&p, window ? r->to : -1);
  mw_pgp_i64(&p, r->rows);
  mw_pgp_i64(&p, r->created_at);
  mw_pgp_text(&p, r->created_by);
  if((s = mw_pg_do(c,
                   "INSERT INTO reference_sets(version_id, source, window_from, "
                   "window_to, row_count, created_at, created_by) "
                   "VALUES($1, $2, $3::int8, $4::int8, $5, $6, $7)",
                   &p, NULL)))
    return s;
  mw_buf blob;
  mw_buf_init(&blob, (size_t)1 << 30);
  for(size_t col = 0; col < r->ncols && !s; col++)
    s = refcol_insert(c, version_id, col, names[col], &r->cols[col], &blob);
  mw_buf_free(&blob);
  return s;
}

static mw_status ref_head(mw_conn *c, int64_t version_id, mon_ref *out) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT source, window_from, window_to, row_count, "
                          "created_at, created_by FROM reference_sets WHERE "
                          "version_id = $1",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    mw_strlcpy(out->source, mw_pg_text(r, 0, 0), sizeof out->source);
    out->from = mw_pg_i64(r, 0, 1, 0);
    out->to = mw_pg_i64(r, 0, 2, 0);
    out->rows = mw_pg_i64(r, 0, 3, 0);
    out->created_at = mw_pg_i64(r, 0, 4, 0);
    mw_strlcpy(out->created_by, mw_pg_text(r, 0, 5), sizeof out->created_by);
  }
  PQclear(r);
  return s;
}

/* A packed float64 bytea (binary result) into a new array. */
static mw_status bin_doubles(const PGresult *r, int row, int col, double **out,
                             size_t *n) {
  *out = NULL;
  *n = 0;
  size_t len;
  const unsigned char *data = mw_pg_bin_data(r, row, col, &len);
  if(len % 8)
    return MW_EINTERNAL;
  *n = len / 8;
  if(!(*out = malloc((*n ? *n : 1) * sizeof **out)))
    return MW_ENOMEM;
  for(size_t i = 0; i < *n; i++) {
    uint64_t u = 0;
    for(int k = 7; k >= 0; k--)
      u = (u << 8) | data[i * 8 + (size_t)k];
    memcpy(&(*out)[i], &u, 8);
  }
  return MW_OK;
}

/* Row i of reference_columns (binary results) into out->cols. */
static mw_status ref_column(const PGresult *r, int i, bool with_data,
                            mon_ref *out) {
  int64_t col = mw_pg_bin_i64(r, i, 0, -1);
  if(col < 0 || (size_t)col >= out->ncols)
    return MW_EINTERNAL;
  mon_refcol *rc = &out->cols[col];
  rc->kind = !strcmp(PQgetvalue(r, i, 1), "categorical") ? MON_COLUMN_CATEGORICAL
                                                         : MON_COLUMN_NUMERIC;
  rc->count = mw_pg_bin_i64(r, i, 2, 0);
  rc->missing = mw_pg_bin_i64(r, i, 3, 0);
  rc->mean = bin_double0(r, i, 4);
  rc->std = bin_double0(r, i, 5);
  rc->min = bin_double0(r, i, 6);
  rc->max = bin_double0(r, i, 7);
  if(!with_data)
    return MW_OK;
  if(rc->kind != MON_COLUMN_NUMERIC)
    return bin_doubles(r, i, 10, &rc->cat_counts, &rc->ncat);
  mw_status s = bin_doubles(r, i, 8, &rc->sorted, &rc->nsorted);
  size_t len;
  const void *bins = mw_pg_bin_data(r, i, 9, &len);
  if(!s && bins && len == sizeof rc->bins) {
    memcpy(&rc->bins, bins, sizeof rc->bins);
    rc->has_bins = rc->bins.n_bins >= 1 && rc->bins.n_bins <= MON_STATS_MAX_BINS;
  }
  return s;
}

static mw_status ref_load(mw_conn *c, int64_t version_id, size_t ncols,
                          bool with_data, mon_ref *out) {
  memset(out, 0, sizeof *out);
  mw_status s = ref_head(c, version_id, out);
  if(s)
    return s;
  if(!(out->cols = calloc(ncols ? ncols : 1, sizeof *out->cols)))
    return MW_ENOMEM;
  out->ncols = ncols;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  PGresult *r =
      with_data
          ? mw_pg_run_bin(c,
                          "SELECT col::int8, kind, count, missing, mean, std, min, "
                          "max, sorted, bins, categories FROM reference_columns "
                          "WHERE version_id = $1 ORDER BY col",
                          &p, &s)
          : mw_pg_run_bin(c,
                          "SELECT col::int8, kind, count, missing, mean, std, min, "
                          "max FROM reference_columns WHERE version_id = $1 "
                          "ORDER BY col",
                          &p, &s);
  if(r) {
    for(int i = 0; i < PQntuples(r) && !s; i++)
      s = ref_column(r, i, with_data, out);
    if(!s && (size_t)PQntuples(r) != ncols)
      s = MW_EINTERNAL; /* the reference was stored under another schema */
    PQclear(r);
  }
  if(s)
    mon__ref_free(out);
  return s;
}

/* ------------------------------------------------------ drift settings */

static mw_status dcfg_get(mw_conn *c, int64_t version_id, char **json) {
  *json = NULL;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT config FROM drift_config WHERE version_id = $1", &p, &s);
  if(!r)
    return s;
  if(PQntuples(r) && !(*json = mw_pg_dup(r, 0, 0)))
    s = MW_ENOMEM;
  PQclear(r);
  return s;
}

static mw_status dcfg_put(mw_conn *c, int64_t version_id, const char *json,
                          const char *actor, int64_t now_ms) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_text(&p, json);
  mw_pgp_i64(&p, now_ms);
  mw_pgp_text(&p, actor ? actor : "");
  return mw_pg_do(c,
                  "INSERT INTO drift_config(version_id, config, updated_at, "
                  "updated_by) VALUES($1, $2, $3, $4) ON CONFLICT(version_id) DO "
                  "UPDATE SET config = excluded.config, updated_at = "
                  "excluded.updated_at, updated_by = excluded.updated_by",
                  &p, NULL);
}

/* --------------------------------------------------------- evaluations */

static mw_status series_insert(mw_conn *c, const mon_eval *e, int64_t eval_id,
                               const mon_point *pts, size_t n) {
  pgarr cols, metrics, vals;
  pgarr_init(&cols, OID_TEXT, (size_t)1 << 30);
  pgarr_init(&metrics, OID_TEXT, (size_t)1 << 30);
  pgarr_init(&vals, OID_FLOAT8, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++)
    if(isfinite(pts[i].value)) {
      pgarr_text(&cols, pts[i].col);
      pgarr_text(&metrics, pts[i].metric);
      pgarr_f8(&vals, pts[i].value);
    }
  mw_status s = cols.st ? cols.st : metrics.st ? metrics.st : vals.st;
  if(!s && vals.n) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, e->version_id);
    mw_pgp_i64(&p, e->at);
    mw_pgp_i64(&p, eval_id);
    pgarr_finish(&cols, &p);
    pgarr_finish(&metrics, &p);
    pgarr_finish(&vals, &p);
    s = mw_pg_do(c,
                 "INSERT INTO drift_series(version_id, col, metric, at, eval_id, "
                 "value) SELECT $1, u.c, u.m, $2, $3, u.v FROM "
                 "unnest($4::text[], $5::text[], $6::float8[]) AS u(c, m, v)",
                 &p, NULL);
  }
  mw_buf_free(&cols.b);
  mw_buf_free(&metrics.b);
  mw_buf_free(&vals.b);
  return s;
}

static mw_status eval_insert(mw_conn *c, const mon_eval *e, const mon_point *pts,
                             size_t n) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, e->version_id);
  mw_pgp_i64(&p, e->at);
  mw_pgp_i64(&p, e->window_from);
  mw_pgp_i64(&p, e->window_to);
  mw_pgp_i64(&p, e->row_count);
  mw_pgp_double(&p, e->drift_share);
  mw_pgp_i64(&p, e->drifted);
  mw_pgp_text(&p, e->trigger);
  mw_pgp_text(&p, e->report);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "INSERT INTO drift_evals(version_id, at, window_from, "
                          "window_to, row_count, drift_share, drifted, "
                          "trigger_kind, report) VALUES($1, $2, $3, $4, $5, "
                          "$6::float8, $7, $8, $9) RETURNING id",
                          &p, &s);
  if(!r)
    return s;
  int64_t eval_id = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return series_insert(c, e, eval_id, pts, n);
}

static mw_status eval_last_at(mw_conn *c, int64_t version_id, int64_t *at) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT max(at) FROM drift_evals WHERE version_id = $1", &p, &s);
  if(!r)
    return s;
  *at = mw_pg_i64(r, 0, 0, -1);
  PQclear(r);
  return MW_OK;
}

static mw_status series_visit(mw_conn *c, int64_t version_id, const char *col,
                              const char *metric, int64_t from, int64_t to,
                              int limit,
                              mw_status (*fn)(void *, const mon_series_row *),
                              void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_text(&p, col);
  mw_pgp_text(&p, metric);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_pgp_i64(&p, limit);
  mw_status s;
  PGresult *r = mw_pg_run_bin(
      c,
      "SELECT s.at, s.value, e.window_from, e.window_to FROM drift_series s "
      "JOIN drift_evals e ON e.id = s.eval_id WHERE s.version_id = $1 AND "
      "s.col = $2 AND s.metric = $3 AND s.at BETWEEN $4 AND $5 ORDER BY s.at "
      "LIMIT $6",
      &p, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++) {
    mon_series_row row = {mw_pg_bin_i64(r, i, 0, 0), mw_pg_bin_double(r, i, 1),
                          mw_pg_bin_i64(r, i, 2, 0), mw_pg_bin_i64(r, i, 3, 0)};
    s = fn(ctx, &row);
  }
  PQclear(r);
  return s;
}

static mw_status series_latest(mw_conn *c, int64_t version_id, const char *col,
                               const char *metric, double *value, int64_t *at) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_text(&p, col);
  mw_pgp_text(&p, metric);
  mw_status s;
  PGresult *r = mw_pg_run_bin(
      c,
      "SELECT value, at FROM drift_series WHERE version_id = $1 AND col = $2 "
      "AND metric = $3 AND eval_id = (SELECT max(id) FROM drift_evals WHERE "
      "version_id = $1)",
      &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    *value = mw_pg_bin_double(r, 0, 0);
    *at = mw_pg_bin_i64(r, 0, 1, 0);
  }
  PQclear(r);
  return s;
}

static mw_status evals_latest(mw_conn *c,
                              mw_status (*fn)(void *, const char *, int64_t,
                                              const char *),
                              void *ctx) {
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT m.name, v.version, e.report FROM drift_evals e "
                          "JOIN model_versions v ON v.id = e.version_id "
                          "JOIN models m ON m.id = v.model_id WHERE e.id IN "
                          "(SELECT max(id) FROM drift_evals GROUP BY version_id) "
                          "ORDER BY m.name, v.version",
                          NULL, &s);
  if(!r)
    return s;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_text(r, i, 0), mw_pg_i64(r, i, 1, 0), mw_pg_text(r, i, 2));
  PQclear(r);
  return s;
}

static mw_status aged_delete(mw_conn *c, int64_t cutoff_ms, int *more) {
  assert(mw_tx_state(c) == 1);
  static const char *const sql[] = {
      "DELETE FROM labels WHERE id IN (SELECT id FROM labels WHERE ts < $1 "
      "LIMIT 5000)",
      "DELETE FROM drift_series WHERE (version_id, col, metric, at, eval_id) IN "
      "(SELECT version_id, col, metric, at, eval_id FROM drift_series WHERE "
      "at < $1 LIMIT 5000)",
      "DELETE FROM drift_evals WHERE id IN (SELECT id FROM drift_evals WHERE "
      "at < $1 LIMIT 500)",
  };
  *more = 0;
  mw_status s = MW_OK;
  for(size_t k = 0; k < sizeof sql / sizeof sql[0] && !s; k++) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, cutoff_ms);
    int64_t changed = 0;
    if(!(s = mw_pg_do(c, sql[k], &p, &changed)) && changed > 0)
      *more = 1;
  }
  return s;
}

/* ------------------------------------------------------------ registry */

static mw_status version_find(mw_conn *c, const char *model, int64_t version,
                              int64_t *id, int64_t *model_id, char **schema) {
  *schema = NULL;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, model);
  mw_pgp_i64(&p, version);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT v.id, v.model_id, v.schema FROM model_versions "
                          "v JOIN models m ON m.id = v.model_id WHERE m.name = $1 "
                          "AND v.version = $2",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    *id = mw_pg_i64(r, 0, 0, 0);
    *model_id = mw_pg_i64(r, 0, 1, 0);
    if(!mw_pg_null(r, 0, 2) && !(*schema = mw_pg_dup(r, 0, 2)))
      s = MW_ENOMEM;
  }
  PQclear(r);
  return s;
}

static mw_status version_name(mw_conn *c, int64_t version_id, char *model,
                              size_t cap, int64_t *version) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT m.name, v.version FROM model_versions v JOIN "
                          "models m ON m.id = v.model_id WHERE v.id = $1",
                          &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) ? MW_OK : MW_ENOTFOUND;
  if(!s) {
    mw_strlcpy(model, mw_pg_text(r, 0, 0), cap);
    *version = mw_pg_i64(r, 0, 1, 0);
  }
  PQclear(r);
  return s;
}

static mw_status due_list(mw_conn *c, mon_due **out, size_t *n) {
  *out = NULL;
  *n = 0;
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT r.version_id, v.model_id, v.version, m.name, v.schema, c.config, "
      "(SELECT max(at) FROM drift_evals e WHERE e.version_id = r.version_id) "
      "FROM reference_sets r JOIN model_versions v ON v.id = r.version_id "
      "JOIN models m ON m.id = v.model_id LEFT JOIN drift_config c ON "
      "c.version_id = r.version_id ORDER BY r.version_id",
      NULL, &s);
  if(!r)
    return s;
  int rows = PQntuples(r);
  if(rows && !(*out = calloc((size_t)rows, sizeof **out)))
    s = MW_ENOMEM;
  for(int i = 0; i < rows && !s; i++) {
    mon_due *d = &(*out)[(*n)++];
    d->version_id = mw_pg_i64(r, i, 0, 0);
    d->model_id = mw_pg_i64(r, i, 1, 0);
    d->version = mw_pg_i64(r, i, 2, 0);
    d->model = mw_pg_dup(r, i, 3);
    d->schema = mw_pg_dup(r, i, 4);
    d->config = mw_pg_dup(r, i, 5);
    d->last_at = mw_pg_i64(r, i, 6, -1);
    if(!d->model)
      s = MW_ENOMEM;
  }
  PQclear(r);
  if(s) {
    mon__due_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return s;
}

const struct mon_store mon__store_pg = {
    .block_insert = block_insert,
    .blocks_list = blocks_list,
    .chunks_read = chunks_read,
    .blocks_delete = blocks_delete,
    .block_epoch = block_epoch,
    .blocks_expired = blocks_expired,
    .compaction_candidate = compaction_candidate,
    .compaction_blocks = compaction_blocks,
    .ids_insert = ids_insert,
    .ids_get = ids_get,
    .ids_delete = ids_delete,
    .labels_put = labels_put,
    .labels_visit = labels_visit,
    .categories_list = categories_list,
    .categories_add = categories_add,
    .ref_save = ref_save,
    .ref_load = ref_load,
    .dcfg_get = dcfg_get,
    .dcfg_put = dcfg_put,
    .eval_insert = eval_insert,
    .eval_last_at = eval_last_at,
    .series_visit = series_visit,
    .series_latest = series_latest,
    .evals_latest = evals_latest,
    .aged_delete = aged_delete,
    .version_find = version_find,
    .version_name = version_name,
    .due_list = due_list,
};
