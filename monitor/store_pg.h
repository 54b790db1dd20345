/* monitor/store_pg.h - what the PostgreSQL files of the monitor's store
 * share (monitor/store_pg.c, monitor/predictions_pg.c): the operations of
 * monitor/store.h that predictions_pg.c implements, for store_pg.c's
 * table, and the binary one-dimensional arrays their statements take as
 * parameters (array_recv's format: a header, then each element as a
 * 4-byte length, -1 for NULL, and its bytes, all big-endian; bytes travel
 * as they are, with no escaping). Only for those files. */
#ifndef MW_MONITOR_STORE_PG_H
#define MW_MONITOR_STORE_PG_H

#include "core/buf.h"
#include "monitor/store.h"

/* Type oids of the arrays' elements (pg_type). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701

typedef struct pgarr {
  mw_buf b;
  int32_t n;
  int nulls;
  mw_status st; /* the first failure to append */
} pgarr;

struct mw_pg_params;

/* Starts an array of oid elements (always initialised: free a->b after).
 * A failure to append is kept in a->st and ends the appends. */
void mon__pgarr_init(pgarr *a, uint32_t oid, size_t limit);
/* Appends an element (data NULL: SQL NULL). */
void mon__pgarr_add(pgarr *a, const void *data, size_t len);
void mon__pgarr_i64(pgarr *a, int64_t v);
/* A float8, or NULL when not finite (as SQLite's store binds it). */
void mon__pgarr_f8(pgarr *a, double v);
void mon__pgarr_text(pgarr *a, const char *s); /* NULL: SQL NULL */
/* Completes the header and adds the bytes as the next parameter of p (for
 * $n::type[]); a->b must live until the statement ran. */
void mon__pgarr_finish(pgarr *a, struct mw_pg_params *p);

/* The operations of predictions_pg.c (contracts in monitor/store.h). */
mw_status mon__pg_block_insert(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                               size_t nchunks);
mw_status mon__pg_blocks_list(mw_conn *c, int64_t version_id, int64_t from,
                              int64_t to, int64_t id_lo, int64_t id_hi,
                              mw_status (*fn)(void *, const mon_block *), void *ctx);
mw_status mon__pg_chunks_read(mw_conn *c, int slot, const int64_t *ids, size_t n,
                              mw_status (*fn)(void *, size_t, const void *, size_t),
                              void *ctx);
mw_status mon__pg_blocks_delete(mw_conn *c, const int64_t *ids, size_t n);
mw_status mon__pg_block_epoch(mw_conn *c, mon_epoch *e);
mw_status mon__pg_blocks_expired(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                                 size_t max, mon_expired *out, size_t *n);
mw_status mon__pg_compaction_candidate(mw_conn *c, int64_t before_bucket,
                                       int64_t small, int64_t *version_id,
                                       int64_t *bucket, int64_t *ncols, int *found);
mw_status mon__pg_compaction_blocks(mw_conn *c, int64_t version_id, int64_t bucket,
                                    int64_t ncols, int64_t small, size_t max,
                                    mon_block *out, size_t *n);
mw_status mon__pg_ids_insert(mw_conn *c, int64_t model_id, int64_t version_id,
                             const mon_id_row *rows, size_t n, uint8_t *conflict,
                             size_t *nconflict);
mw_status mon__pg_ids_get(mw_conn *c, int64_t model_id, int64_t version_id,
                          const char *const *ext_ids, size_t n, mon_id_found *found);
mw_status mon__pg_ids_pairs(mw_conn *c, int64_t cand_model, int64_t cand_version,
                            int64_t base_model, int64_t base_version, int64_t from,
                            int64_t to, mw_status (*fn)(void *, double, double),
                            void *ctx);
mw_status mon__pg_ids_delete(mw_conn *c, int64_t model_id, int64_t version_id,
                             const char *const *ext_ids, size_t n);
mw_status mon__pg_labels_put(mw_conn *c, int64_t model_id, int64_t version_id,
                             const mon_label_row *rows, size_t n, int64_t at);
mw_status mon__pg_labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                               int64_t to, bool with_ids,
                               void (*fn)(void *, const char *, double, double),
                               void *ctx);
mw_status mon__pg_categories_list(mw_conn *c, int64_t version_id, size_t col,
                                  mw_status (*fn)(void *, int64_t, const char *),
                                  void *ctx);
mw_status mon__pg_categories_add(mw_conn *c, int64_t version_id, size_t col,
                                 int64_t first_code, const char *const *values,
                                 size_t n);

/* monitor/privacy_pg.c */
mw_status mon__pg_model_find(mw_conn *c, const char *name, int64_t *model_id);
mw_status mon__pg_retention_get(mw_conn *c, int64_t model_id, int64_t *days);
mw_status mon__pg_retention_put(mw_conn *c, int64_t model_id, int64_t days,
                                int64_t now);
mw_status mon__pg_retention_list(mw_conn *c,
                                 mw_status (*fn)(void *, int64_t, int64_t),
                                 void *ctx);
mw_status mon__pg_model_versions(mw_conn *c, int64_t model_id,
                                 mw_status (*fn)(void *, int64_t, int64_t),
                                 void *ctx);
mw_status mon__pg_ids_erase(mw_conn *c, int64_t model_id, const char *const *ext_ids,
                            size_t n, void (*fn)(void *, int64_t), void *ctx);
mw_status mon__pg_labels_erase(mw_conn *c, int64_t model_id,
                               const char *const *ext_ids, size_t n,
                               void (*fn)(void *, int64_t), void *ctx);
mw_status mon__pg_category_replace(mw_conn *c, int64_t version_id, size_t col,
                                   int64_t code, const char *value);
mw_status mon__pg_erase_scrub(mw_conn *c, int stage);

mw_status mon__pg_privacy_key_get(mw_conn *c, char **sealed);
mw_status mon__pg_privacy_key_put(mw_conn *c, const char *sealed, int64_t now);

/* monitor/rollup_pg.c */
mw_status mon__pg_rollup_candidate(mw_conn *c, int64_t before_bucket,
                                   int64_t max_cols, int64_t *version_id,
                                   int64_t *bucket, int64_t *ncols, int *found);
mw_status mon__pg_rollup_put(mw_conn *c, int64_t version_id, size_t ncols,
                             const mon_rollup *r, const mon_chunk *cols,
                             int64_t now);
mw_status mon__pg_rollups_read(mw_conn *c, int64_t version_id, size_t ncols,
                               size_t col, int64_t lo, int64_t hi,
                               mw_status (*fn)(void *, const mon_rollup *),
                               void *ctx);

#endif
