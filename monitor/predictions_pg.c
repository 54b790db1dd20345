/* monitor/predictions_pg.c - the logged predictions part of the monitor's
 * store on PostgreSQL (monitor/store.h, picked through monitor/store_pg.c's
 * table): blocks and their chunks, prediction ids, labels and category
 * dictionaries, and the binary arrays every PostgreSQL store file of the
 * monitor builds its parameters with. monitor/store_pg.c says why each
 * statement is shaped as it is. Costs: one round trip per block written,
 * per 64 chunks read, per batch of ids, labels or categories, and per
 * 50,000 pairs of ids_pairs (a cursor). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "monitor/store_pg.h"

/* Chunks read per statement: bounds a result to that many chunks. */
#define CHUNKS_PER_READ 64
/* A block whose chunks take more than this is written chunk by chunk. */
#define BLOCK_ONE_STATEMENT (64u << 20)

/* ------------------------------------------------------ binary arrays */

/* A one-dimensional array in PostgreSQL's binary format: a header (ndim,
 * has-nulls flag, element type, length, lower bound), then each element
 * as a 4-byte length (-1: NULL) and its bytes, all big-endian. */

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Starts an array of oid elements (always initialised: free a.b after).
 * A failure to append is kept in a->st and ends the appends. */
void mon__pgarr_init(pgarr *a, uint32_t oid, size_t limit) {
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

void mon__pgarr_add(pgarr *a, const void *data, size_t len) {
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

void mon__pgarr_i64(pgarr *a, int64_t v) {
  unsigned char p[8];
  put32(p, (uint32_t)((uint64_t)v >> 32));
  put32(p + 4, (uint32_t)v);
  mon__pgarr_add(a, p, 8);
}

/* A float8, or NULL when not finite (as SQLite's store binds it). */
void mon__pgarr_f8(pgarr *a, double v) {
  if(!isfinite(v)) {
    mon__pgarr_add(a, NULL, 0);
    return;
  }
  uint64_t u;
  memcpy(&u, &v, 8);
  mon__pgarr_i64(a, (int64_t)u);
}

void mon__pgarr_text(pgarr *a, const char *s) {
  mon__pgarr_add(a, s, s ? strlen(s) : 0);
}

/* Completes the header and adds the bytes as the next parameter (for
 * $n::type[]); a.b must live until the statement ran. */
void mon__pgarr_finish(pgarr *a, mw_pg_params *p) {
  assert(!a->st);
  unsigned char *h = (unsigned char *)a->b.data;
  put32(h + 4, (uint32_t)a->nulls);
  put32(h + 12, (uint32_t)a->n);
  mw_pgp_bytes(p, a->b.data, a->b.len);
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
static mw_status block_insert_each(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                                   size_t nchunks) {
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

mw_status mon__pg_block_insert(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                               size_t nchunks) {
  assert(mw_tx_state(c) == 1 && nchunks >= 1);
  size_t total = 0;
  for(size_t k = 0; k < nchunks; k++)
    total += chunks[k].len + 4;
  if(total > BLOCK_ONE_STATEMENT)
    return block_insert_each(c, b, chunks, nchunks);
  pgarr a;
  mon__pgarr_init(&a, OID_BYTEA, (size_t)BLOCK_ONE_STATEMENT + 64);
  for(size_t k = 0; k < nchunks; k++)
    mon__pgarr_add(&a, chunks[k].len ? chunks[k].data : "", chunks[k].len);
  mw_status s = a.st;
  if(s) {
    mw_buf_free(&a.b);
    return s;
  }
  mw_pg_params p;
  block_params(&p, b);
  mon__pgarr_finish(&a, &p);
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

#define BLOCK_COLS \
  "id, version_id, bucket, ts_min, ts_max, n, ncols, has_ids, created_at"

mw_status mon__pg_blocks_list(mw_conn *c, int64_t version_id, int64_t from,
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
static mw_status
chunks_read_some(mw_conn *c, int slot, const int64_t *ids, size_t n, size_t base,
                 mw_status (*fn)(void *, size_t, const void *, size_t), void *ctx) {
  pgarr a;
  mon__pgarr_init(&a, OID_INT8, 64 + n * 12);
  for(size_t i = 0; i < n; i++)
    mon__pgarr_i64(&a, ids[i]);
  mw_status s = a.st;
  if(s) {
    mw_buf_free(&a.b);
    return s;
  }
  mw_pg_params p;
  mw_pgp_init(&p);
  mon__pgarr_finish(&a, &p);
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

mw_status mon__pg_chunks_read(mw_conn *c, int slot, const int64_t *ids, size_t n,
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

mw_status mon__pg_blocks_delete(mw_conn *c, const int64_t *ids, size_t n) {
  assert(mw_tx_state(c) == 1);
  if(n == 0)
    return MW_OK;
  pgarr a;
  mon__pgarr_init(&a, OID_INT8, 64 + n * 12);
  for(size_t i = 0; i < n; i++)
    mon__pgarr_i64(&a, ids[i]);
  mw_status s = a.st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mon__pgarr_finish(&a, &p);
    /* The chunks go with their block (ON DELETE CASCADE); the epoch row
     * is updated by migration 0007's trigger. */
    s = mw_pg_do(c, "DELETE FROM pred_blocks WHERE id = ANY($1::int8[])", &p, NULL);
  }
  mw_buf_free(&a.b);
  return s;
}

mw_status mon__pg_block_epoch(mw_conn *c, mon_epoch *e) {
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

mw_status mon__pg_blocks_expired(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                                 size_t max, mon_expired *out, size_t *n) {
  *n = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, cutoff_ms / MON_BUCKET_MS);
  mw_pgp_i64(&p, cutoff_ms);
  mw_pgp_i64(&p, (int64_t)max);
  mw_pgp_i64(&p, model_id);
  mw_status s;
  PGresult *r = mw_pg_run(
      c,
      "SELECT b.id, b.version_id, b.bucket, b.ts_min, b.ts_max, b.n, b.ncols, "
      "b.has_ids, b.created_at, v.model_id FROM pred_blocks b JOIN "
      "model_versions v ON v.id = b.version_id WHERE b.bucket < $1 AND "
      "b.ts_max < $2 AND CASE WHEN $4::int8 = 0 THEN v.model_id NOT IN (SELECT "
      "model_id FROM model_retention) ELSE v.model_id = $4::int8 END ORDER BY "
      "b.bucket LIMIT $3",
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

mw_status mon__pg_compaction_candidate(mw_conn *c, int64_t before_bucket,
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

mw_status mon__pg_compaction_blocks(mw_conn *c, int64_t version_id, int64_t bucket,
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

/* After a refused insert: the rows whose id the version already has. */
static mw_status find_conflicts(mw_conn *c, int64_t model_id, int64_t version_id,
                                const mon_id_row *rows, size_t n, uint8_t *conflict,
                                size_t *nconflict) {
  const char **ids = calloc(n ? n : 1, sizeof *ids);
  mon_id_found *found = calloc(n ? n : 1, sizeof *found);
  mw_status s = ids && found ? MW_OK : MW_ENOMEM;
  for(size_t i = 0; !s && i < n; i++)
    ids[i] = rows[i].ext_id;
  if(!s)
    s = mon__pg_ids_get(c, model_id, version_id, ids, n, found);
  for(size_t i = 0; !s && i < n; i++)
    if(rows[i].ext_id && found[i].version_id == version_id) {
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
mw_status mon__pg_ids_insert(mw_conn *c, int64_t model_id, int64_t version_id,
                             const mon_id_row *rows, size_t n, uint8_t *conflict,
                             size_t *nconflict) {
  assert(mw_tx_state(c) == 1);
  *nconflict = 0;
  memset(conflict, 0, n);
  pgarr e, t, v;
  mon__pgarr_init(&e, OID_TEXT, (size_t)1 << 30);
  mon__pgarr_init(&t, OID_INT8, (size_t)1 << 30);
  mon__pgarr_init(&v, OID_FLOAT8, (size_t)1 << 30);
  size_t given = 0;
  for(size_t i = 0; i < n; i++) {
    if(!rows[i].ext_id)
      continue;
    given++;
    mon__pgarr_text(&e, rows[i].ext_id);
    mon__pgarr_i64(&t, rows[i].ts);
    mon__pgarr_f8(&v, rows[i].prediction);
  }
  mw_status s = e.st ? e.st : t.st ? t.st : v.st;
  if(!s && given && !(s = mw_pg_exec(c, "SAVEPOINT mw_ids"))) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mw_pgp_i64(&p, version_id);
    mon__pgarr_finish(&e, &p);
    mon__pgarr_finish(&t, &p);
    mon__pgarr_finish(&v, &p);
    s = mw_pg_do(c,
                 "INSERT INTO pred_ids(model_id, ext_id, version_id, ts, "
                 "prediction) SELECT $1, u.e, $2, u.t, u.p FROM "
                 "unnest($3::text[], $4::int8[], $5::float8[]) AS u(e, t, p)",
                 &p, NULL);
    if(s == MW_ECONFLICT && !(s = mw_pg_exec(c, "ROLLBACK TO SAVEPOINT mw_ids")))
      s = find_conflicts(c, model_id, version_id, rows, n, conflict, nconflict);
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
  mon__pgarr_init(a, OID_TEXT, (size_t)1 << 30);
  *given = 0;
  for(size_t i = 0; i < n; i++)
    if(ext_ids[i] && ext_ids[i][0]) {
      at[(*given)++] = i;
      mon__pgarr_text(a, ext_ids[i]);
    }
  return a->st;
}

mw_status mon__pg_ids_get(mw_conn *c, int64_t model_id, int64_t version_id,
                          const char *const *ext_ids, size_t n,
                          mon_id_found *found) {
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
    mon__pgarr_finish(&a, &p);
    r = mw_pg_run_bin(c,
                      "SELECT u.i, p.version_id, p.ts, p.prediction FROM "
                      "unnest($2::text[]) WITH ORDINALITY AS u(e, i) JOIN "
                      "pred_ids p ON p.model_id = $1 AND p.ext_id = u.e",
                      &p, &s);
  }
  /* An id may come back once per version that logged it (a shadow
   * candidate reuses the baseline's ids): version_id's row wins, else the
   * first. */
  for(int k = 0; r && k < PQntuples(r); k++) {
    int64_t pos = mw_pg_bin_i64(r, k, 0, 0) - 1;
    if(pos < 0 || (size_t)pos >= given)
      continue;
    mon_id_found *f = &found[at[pos]];
    int64_t row_version = mw_pg_bin_i64(r, k, 1, 0);
    if(f->version_id >= 0 && row_version != version_id)
      continue;
    f->version_id = row_version;
    f->ts = mw_pg_bin_i64(r, k, 2, 0);
    f->prediction = mw_pg_bin_double(r, k, 3);
  }
  PQclear(r);
  if(at)
    mw_buf_free(&a.b);
  free(at);
  return s;
}

mw_status mon__pg_ids_delete(mw_conn *c, int64_t model_id, int64_t version_id,
                             const char *const *ext_ids, size_t n) {
  size_t *at = malloc((n ? n : 1) * sizeof *at), given = 0;
  pgarr a;
  mw_status s = at ? ids_array(ext_ids, n, &a, at, &given) : MW_ENOMEM;
  if(!s && given) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mw_pgp_i64(&p, version_id);
    mon__pgarr_finish(&a, &p);
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

/* Pairs fetched per round trip: bounds a result (libpq holds it whole).
 * FETCH takes no parameter for its count: it is written into the SQL. */
#define PAIRS_PER_FETCH 50000
#define STR_(x) #x
#define STR(x) STR_(x)

mw_status mon__pg_ids_pairs(mw_conn *c, int64_t cand_model, int64_t cand_version,
                            int64_t base_model, int64_t base_version, int64_t from,
                            int64_t to, mw_status (*fn)(void *, double, double),
                            void *ctx) {
  assert(mw_tx_state(c) != 0); /* a cursor lives in a transaction */
  /* A cursor over one join, fetched a page at a time: a window of
   * millions of ids never sits in one result, and the join runs once (pages
   * by keyset re-sorted what was left of the window for each page: a
   * quadratic cost). The caller's read transaction is its snapshot. */
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, cand_model);
  mw_pgp_i64(&p, cand_version);
  mw_pgp_i64(&p, base_model);
  mw_pgp_i64(&p, base_version);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_status s = mw_pg_do(
      c,
      "DECLARE mw_pairs NO SCROLL CURSOR FOR SELECT p.prediction, b.prediction "
      "FROM pred_ids p JOIN pred_ids b ON b.model_id = $3::int8 AND b.ext_id = "
      "p.ext_id AND b.version_id = $4::int8 WHERE p.version_id = $2::int8 AND "
      "p.model_id = $1::int8 AND p.ts >= $5::int8 AND p.ts < $6::int8",
      &p, NULL);
  if(s)
    return s;
  mw_status fs = MW_OK; /* fn's */
  for(int rows = PAIRS_PER_FETCH; !fs && rows == PAIRS_PER_FETCH;) {
    PGresult *r =
        mw_pg_run_bin(c, "FETCH " STR(PAIRS_PER_FETCH) " FROM mw_pairs", NULL, &s);
    if(!r)
      return s; /* the transaction is aborted; its end drops the cursor */
    rows = PQntuples(r);
    for(int i = 0; i < rows && !fs; i++)
      fs = fn(ctx, mw_pg_bin_double(r, i, 0), mw_pg_bin_double(r, i, 1));
    PQclear(r);
  }
  /* Closed also when fn stopped early, so that the transaction can go on
   * (and declare it again). */
  s = mw_pg_do(c, "CLOSE mw_pairs", NULL, NULL);
  return fs ? fs : s;
}

/* ------------------------------------------------------------- labels */

mw_status mon__pg_labels_put(mw_conn *c, int64_t model_id, int64_t version_id,
                             const mon_label_row *rows, size_t n, int64_t at) {
  assert(mw_tx_state(c) == 1);
  if(n == 0)
    return MW_OK;
  pgarr e, t, pr, l;
  mon__pgarr_init(&e, OID_TEXT, (size_t)1 << 30);
  mon__pgarr_init(&t, OID_INT8, (size_t)1 << 30);
  mon__pgarr_init(&pr, OID_FLOAT8, (size_t)1 << 30);
  mon__pgarr_init(&l, OID_FLOAT8, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++) {
    mon__pgarr_text(&e, rows[i].ext_id);
    mon__pgarr_i64(&t, rows[i].ts);
    mon__pgarr_f8(&pr, rows[i].prediction);
    mon__pgarr_f8(&l, rows[i].label);
  }
  mw_status s = e.st ? e.st : t.st ? t.st : pr.st ? pr.st : l.st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mw_pgp_i64(&p, version_id);
    mw_pgp_i64(&p, at);
    mon__pgarr_finish(&e, &p);
    mon__pgarr_finish(&t, &p);
    mon__pgarr_finish(&pr, &p);
    mon__pgarr_finish(&l, &p);
    s = mw_pg_do(
        c,
        "INSERT INTO labels(model_id, ext_id, version_id, ts, prediction, "
        "label, at) SELECT $1, u.e, $2, u.t, u.p, u.l, $3 FROM "
        "unnest($4::text[], $5::int8[], $6::float8[], $7::float8[]) AS "
        "u(e, t, p, l) ON CONFLICT (model_id, ext_id, version_id) DO UPDATE SET "
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

mw_status mon__pg_labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                               int64_t to, bool with_ids,
                               void (*fn)(void *, const char *, double, double),
                               void *ctx) {
  assert(mw_tx_state(c) != 0); /* a cursor lives in a transaction */
  /* A cursor, a page at a time, as ids_pairs: libpq holds a result whole,
   * and a window's labels may be millions. Column 0 is the id or NULL. */
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, from);
  mw_pgp_i64(&p, to);
  mw_status s =
      mw_pg_do(c,
               with_ids ? "DECLARE mw_labels NO SCROLL CURSOR FOR SELECT "
                          "ext_id, prediction, label FROM labels WHERE "
                          "version_id = $1 AND ts >= $2 AND ts < $3"
                        : "DECLARE mw_labels NO SCROLL CURSOR FOR SELECT "
                          "NULL::text, prediction, label FROM labels WHERE "
                          "version_id = $1 AND ts >= $2 AND ts < $3",
               &p, NULL);
  if(s)
    return s;
  for(int rows = PAIRS_PER_FETCH; rows == PAIRS_PER_FETCH;) {
    PGresult *r =
        mw_pg_run_bin(c, "FETCH " STR(PAIRS_PER_FETCH) " FROM mw_labels", NULL, &s);
    if(!r)
      return s; /* the transaction is aborted; its end drops the cursor */
    rows = PQntuples(r);
    for(int i = 0; i < rows; i++)
      fn(ctx, PQgetisnull(r, i, 0) ? NULL : PQgetvalue(r, i, 0),
         mw_pg_bin_double(r, i, 1), mw_pg_bin_double(r, i, 2));
    PQclear(r);
  }
  return mw_pg_do(c, "CLOSE mw_labels", NULL, NULL);
}

/* -------------------------------------------------------- dictionaries */

mw_status mon__pg_categories_list(mw_conn *c, int64_t version_id, size_t col,
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

mw_status mon__pg_categories_add(mw_conn *c, int64_t version_id, size_t col,
                                 int64_t first_code, const char *const *values,
                                 size_t n) {
  assert(mw_tx_state(c) == 1);
  pgarr a;
  mon__pgarr_init(&a, OID_TEXT, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++)
    mon__pgarr_text(&a, values[i]);
  mw_status s = a.st;
  if(!s) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, version_id);
    mw_pgp_i64(&p, (int64_t)col);
    mw_pgp_i64(&p, first_code);
    mon__pgarr_finish(&a, &p);
    s = mw_pg_do(c,
                 "INSERT INTO mon_categories(version_id, col, code, value) "
                 "SELECT $1, $2::int4, ($3::int8 + u.i - 1)::int4, u.v FROM "
                 "unnest($4::text[]) WITH ORDINALITY AS u(v, i)",
                 &p, NULL);
  }
  mw_buf_free(&a.b);
  return s;
}
