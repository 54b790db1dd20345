/* monitor/privacy_pg.c - the operations of monitor/store.h for privacy on
 * PostgreSQL (migration 0019): a model's own retention, and what an
 * erasure by id deletes besides blocks (ids, labels, dictionary values),
 * with the VACUUM that follows it. One round trip per statement; the ids
 * travel as one text[] parameter. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/db_pg.h"
#include "monitor/store_pg.h"

mw_status mon__pg_model_find(mw_conn *c, const char *name, int64_t *model_id) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, name);
  mw_status s;
  PGresult *r = mw_pg_run(c, "SELECT id FROM models WHERE name = $1", &p, &s);
  if(!r)
    return s;
  s = PQntuples(r) == 1 ? MW_OK : MW_ENOTFOUND;
  if(!s)
    *model_id = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return s;
}

mw_status mon__pg_retention_get(mw_conn *c, int64_t model_id, int64_t *days) {
  *days = 0;
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT days FROM model_retention WHERE model_id = $1", &p, &s);
  if(!r)
    return s;
  if(PQntuples(r) == 1)
    *days = mw_pg_i64(r, 0, 0, 0);
  PQclear(r);
  return MW_OK;
}

mw_status mon__pg_retention_put(mw_conn *c, int64_t model_id, int64_t days,
                                int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  if(days <= 0)
    return mw_pg_do(c, "DELETE FROM model_retention WHERE model_id = $1", &p, NULL);
  mw_pgp_i64(&p, days);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO model_retention(model_id, days, updated_at) "
                  "VALUES($1, $2, $3) ON CONFLICT(model_id) DO UPDATE SET days = "
                  "excluded.days, updated_at = excluded.updated_at",
                  &p, NULL);
}

/* fn(ctx, a, b) for the two integer columns of every row of r. */
static mw_status visit_pairs(PGresult *r, mw_status (*fn)(void *, int64_t, int64_t),
                             void *ctx) {
  mw_status s = MW_OK;
  for(int i = 0; i < PQntuples(r) && !s; i++)
    s = fn(ctx, mw_pg_i64(r, i, 0, 0), mw_pg_i64(r, i, 1, 0));
  PQclear(r);
  return s;
}

mw_status mon__pg_retention_list(mw_conn *c,
                                 mw_status (*fn)(void *, int64_t, int64_t),
                                 void *ctx) {
  mw_status s;
  PGresult *r = mw_pg_run(
      c, "SELECT model_id, days FROM model_retention ORDER BY model_id", NULL, &s);
  return r ? visit_pairs(r, fn, ctx) : s;
}

mw_status mon__pg_model_versions(mw_conn *c, int64_t model_id,
                                 mw_status (*fn)(void *, int64_t, int64_t),
                                 void *ctx) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_i64(&p, model_id);
  mw_status s;
  PGresult *r = mw_pg_run(c,
                          "SELECT id, version FROM model_versions WHERE model_id = "
                          "$1 ORDER BY version",
                          &p, &s);
  return r ? visit_pairs(r, fn, ctx) : s;
}

/* One DELETE ... WHERE ext_id = ANY($2) RETURNING version_id: fn(ctx,
 * version_id) for each row deleted. */
static mw_status erase_by_id(mw_conn *c, const char *sql, int64_t model_id,
                             const char *const *ext_ids, size_t n,
                             void (*fn)(void *, int64_t), void *ctx) {
  assert(mw_tx_state(c) == 1);
  pgarr a;
  mon__pgarr_init(&a, OID_TEXT, (size_t)1 << 30);
  for(size_t i = 0; i < n; i++)
    mon__pgarr_text(&a, ext_ids[i]);
  mw_status s = a.st;
  PGresult *r = NULL;
  if(!s && n) {
    mw_pg_params p;
    mw_pgp_init(&p);
    mw_pgp_i64(&p, model_id);
    mon__pgarr_finish(&a, &p);
    r = mw_pg_run(c, sql, &p, &s);
  }
  for(int i = 0; r && i < PQntuples(r); i++)
    fn(ctx, mw_pg_i64(r, i, 0, 0));
  PQclear(r);
  mw_buf_free(&a.b);
  return s;
}

mw_status mon__pg_ids_erase(mw_conn *c, int64_t model_id, const char *const *ext_ids,
                            size_t n, void (*fn)(void *, int64_t), void *ctx) {
  return erase_by_id(c,
                     "DELETE FROM pred_ids WHERE model_id = $1 AND ext_id = "
                     "ANY($2::text[]) RETURNING version_id",
                     model_id, ext_ids, n, fn, ctx);
}

mw_status mon__pg_labels_erase(mw_conn *c, int64_t model_id,
                               const char *const *ext_ids, size_t n,
                               void (*fn)(void *, int64_t), void *ctx) {
  return erase_by_id(c,
                     "DELETE FROM labels WHERE model_id = $1 AND ext_id = "
                     "ANY($2::text[]) RETURNING version_id",
                     model_id, ext_ids, n, fn, ctx);
}

mw_status mon__pg_category_replace(mw_conn *c, int64_t version_id, size_t col,
                                   int64_t code, const char *value) {
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, value);
  mw_pgp_i64(&p, version_id);
  mw_pgp_i64(&p, (int64_t)col);
  mw_pgp_i64(&p, code);
  return mw_pg_do(c,
                  "UPDATE mon_categories SET value = $1 WHERE version_id = $2 AND "
                  "col = $3 AND code = $4",
                  &p, NULL);
}

/* A deleted row stays in its heap page (and its chunk's TOAST pages) until
 * VACUUM prunes it; after the erasure commits, a plain VACUUM of the
 * tables it touched removes the dead tuples and their index entries
 * without blocking readers or writers. What it does not do: overwrite the
 * page space the tuples leave (it is reused by later rows), the WAL
 * segments, archives and backups (docs/privacy.md). */
mw_status mon__pg_erase_scrub(mw_conn *c, int stage) {
  assert(mw_tx_state(c) == 0);
  if(stage == 0)
    return MW_OK;
  return mw_pg_do(c,
                  "VACUUM pred_blocks, pred_chunks, pred_rollups, pred_ids, "
                  "labels, mon_categories",
                  NULL, NULL);
}

mw_status mon__pg_privacy_key_get(mw_conn *c, char **sealed) {
  *sealed = NULL;
  mw_status s;
  PGresult *r =
      mw_pg_run(c, "SELECT secret FROM privacy_key WHERE id = 1", NULL, &s);
  if(!r)
    return s;
  s = PQntuples(r) == 1 ? MW_OK : MW_ENOTFOUND;
  if(!s && !(*sealed = strdup(mw_pg_text(r, 0, 0))))
    s = MW_ENOMEM;
  PQclear(r);
  return s;
}

mw_status mon__pg_privacy_key_put(mw_conn *c, const char *sealed, int64_t now) {
  assert(mw_tx_state(c) == 1);
  mw_pg_params p;
  mw_pgp_init(&p);
  mw_pgp_text(&p, sealed);
  mw_pgp_i64(&p, now);
  return mw_pg_do(c,
                  "INSERT INTO privacy_key(id, name, secret, created_at) VALUES(1, "
                  "'privacy', $1, $2) ON CONFLICT(id) DO NOTHING",
                  &p, NULL);
}
