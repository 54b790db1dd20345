/* monitor/store_sqlite.h - the operations of monitor/store.h that
 * monitor/predictions_sqlite.c implements, for the table of
 * monitor/store_sqlite.c (contracts in monitor/store.h). Only for those
 * two files. */
#ifndef MW_MONITOR_STORE_SQLITE_H
#define MW_MONITOR_STORE_SQLITE_H

#include "monitor/store.h"

mw_status mon__sqlite_block_insert(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                                   size_t nchunks);
mw_status mon__sqlite_blocks_list(mw_conn *c, int64_t version_id, int64_t from,
                                  int64_t to, int64_t id_lo, int64_t id_hi,
                                  mw_status (*fn)(void *, const mon_block *),
                                  void *ctx);
mw_status mon__sqlite_chunks_read(mw_conn *c, int slot, const int64_t *ids, size_t n,
                                  mw_status (*fn)(void *, size_t, const void *,
                                                  size_t),
                                  void *ctx);
mw_status mon__sqlite_blocks_delete(mw_conn *c, const int64_t *ids, size_t n);
mw_status mon__sqlite_block_epoch(mw_conn *c, mon_epoch *e);
mw_status mon__sqlite_blocks_expired(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                                     size_t max, mon_expired *out, size_t *n);
mw_status mon__sqlite_compaction_candidate(mw_conn *c, int64_t before_bucket,
                                           int64_t small, int64_t *version_id,
                                           int64_t *bucket, int64_t *ncols,
                                           int *found);
mw_status mon__sqlite_compaction_blocks(mw_conn *c, int64_t version_id,
                                        int64_t bucket, int64_t ncols, int64_t small,
                                        size_t max, mon_block *out, size_t *n);
mw_status mon__sqlite_ids_insert(mw_conn *c, int64_t model_id, int64_t version_id,
                                 const mon_id_row *rows, size_t n, uint8_t *conflict,
                                 size_t *nconflict);
mw_status mon__sqlite_ids_get(mw_conn *c, int64_t model_id, int64_t version_id,
                              const char *const *ext_ids, size_t n,
                              mon_id_found *found);
mw_status mon__sqlite_ids_pairs(mw_conn *c, int64_t cand_model, int64_t cand_version,
                                int64_t base_model, int64_t base_version,
                                int64_t from, int64_t to,
                                mw_status (*fn)(void *, double, double), void *ctx);
mw_status mon__sqlite_ids_delete(mw_conn *c, int64_t model_id, int64_t version_id,
                                 const char *const *ext_ids, size_t n);
mw_status mon__sqlite_labels_put(mw_conn *c, int64_t model_id, int64_t version_id,
                                 const mon_label_row *rows, size_t n, int64_t at);
mw_status mon__sqlite_labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                                   int64_t to, bool with_ids,
                                   void (*fn)(void *, const char *, double, double),
                                   void *ctx);
mw_status mon__sqlite_categories_list(mw_conn *c, int64_t version_id, size_t col,
                                      mw_status (*fn)(void *, int64_t, const char *),
                                      void *ctx);
mw_status mon__sqlite_categories_add(mw_conn *c, int64_t version_id, size_t col,
                                     int64_t first_code, const char *const *values,
                                     size_t n);

/* monitor/privacy_sqlite.c */
mw_status mon__sqlite_model_find(mw_conn *c, const char *name, int64_t *model_id);
mw_status mon__sqlite_retention_get(mw_conn *c, int64_t model_id, int64_t *days);
mw_status mon__sqlite_retention_put(mw_conn *c, int64_t model_id, int64_t days,
                                    int64_t now);
mw_status mon__sqlite_retention_list(mw_conn *c,
                                     mw_status (*fn)(void *, int64_t, int64_t),
                                     void *ctx);
mw_status mon__sqlite_model_versions(mw_conn *c, int64_t model_id,
                                     mw_status (*fn)(void *, int64_t, int64_t),
                                     void *ctx);
mw_status mon__sqlite_ids_erase(mw_conn *c, int64_t model_id,
                                const char *const *ext_ids, size_t n,
                                void (*fn)(void *, int64_t), void *ctx);
mw_status mon__sqlite_labels_erase(mw_conn *c, int64_t model_id,
                                   const char *const *ext_ids, size_t n,
                                   void (*fn)(void *, int64_t), void *ctx);
mw_status mon__sqlite_category_replace(mw_conn *c, int64_t version_id, size_t col,
                                       int64_t code, const char *value);
mw_status mon__sqlite_erase_scrub(mw_conn *c, int stage);

mw_status mon__sqlite_privacy_key_get(mw_conn *c, char **sealed);
mw_status mon__sqlite_privacy_key_put(mw_conn *c, const char *sealed, int64_t now);

/* monitor/rollup_sqlite.c */
mw_status mon__sqlite_rollup_candidate(mw_conn *c, int64_t before_bucket,
                                       int64_t max_cols, int64_t *version_id,
                                       int64_t *bucket, int64_t *ncols, int *found);
mw_status mon__sqlite_rollup_put(mw_conn *c, int64_t version_id, size_t ncols,
                                 const mon_rollup *r, const mon_chunk *cols,
                                 int64_t now);
mw_status mon__sqlite_rollups_read(mw_conn *c, int64_t version_id, size_t ncols,
                                   size_t col, int64_t lo, int64_t hi,
                                   mw_status (*fn)(void *, const mon_rollup *),
                                   void *ctx);

#endif
