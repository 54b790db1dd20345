/* monitor/store.h - the store interface of the monitor, in the monitor's
 * own terms: blocks of logged predictions and their chunks, prediction
 * ids, labels, category dictionaries, reference sets, drift settings,
 * stored evaluations with their time series, and the registry rows the
 * monitor reads (a version's id and schema). Internal to monitor/.
 *
 * Implementations: monitor/store_sqlite.c and monitor/store_pg.c, picked
 * by mon__store() (monitor/store.c) for the connection's backend. All SQL
 * of the monitor lives in those two files; validation, the group commit,
 * report assembly and JSON live above, written once. The conventions of
 * core/store.h hold: every operation runs on the calling thread's
 * connection inside the caller's transaction (writes need the caller's
 * mw_tx_begin), strings and arrays handed to callbacks are borrowed for
 * the call, MW_ENOTFOUND for an absent thing, MW_ECONFLICT for a refused
 * uniqueness rule, and no message is set.
 *
 * A block is the unit of storage of predictions: the rows of one version
 * in one 5-minute bucket written by one request (or merged by compaction),
 * kept column by column. Its chunks are numbered by slot: MON_SLOT_TS
 * holds the rows' timestamps, mon__slot_col(k) column k of the schema
 * (prediction last), mon__slot_ids(ncols) the ids when has_ids. How slots
 * are keyed is the backend's business (SQLite: in the chunk's rowid;
 * PostgreSQL: a (block_id, slot) key). The bytes of a chunk are the packed
 * arrays of monitor/pack.h, the same on every backend.
 *
 * Operations (cost where it matters):
 *  blocks:     block_insert (one round trip on PostgreSQL), blocks_list
 *              (one index range on (version, bucket)), chunks_read (one
 *              statement per call on PostgreSQL, binary results),
 *              blocks_delete, block_epoch, blocks_expired,
 *              compaction_candidate, compaction_blocks
 *  ids:        ids_insert, ids_get, ids_delete (bulk: one statement per
 *              call on PostgreSQL), ids_pairs (one index range on (version,
 *              ts) and a primary key lookup per id; PostgreSQL: a cursor,
 *              a round trip per 50,000 pairs)
 *  labels:     labels_put (bulk), labels_visit
 *  dictionary: categories_list, categories_add
 *  reference:  ref_save, ref_load, ref_gen, refrows_put, refrows_get (one
 *              row each)
 *  settings:   dcfg_get, dcfg_put
 *  evaluation: eval_insert (with its series points), eval_last_at,
 *              series_visit, series_latest, evals_latest, aged_delete
 *  quarantine: quarantine_insert (bulk: one statement on PostgreSQL),
 *              quarantine_count,
 *              quarantine_list (by id), quarantine_cols (one index range
 *              on (version, ts)); aged out by aged_delete
 *  rollups:    rollup_candidate (a scan of the closed buckets' blocks, as
 *              compaction_candidate), rollup_put, rollups_read (one index
 *              range on (version, ncols, bucket))
 *  registry:   version_find, version_name, due_list (read only) */
#ifndef MW_MONITOR_STORE_H
#define MW_MONITOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "monitor/stats.h"

/* Blocks are cut at 5-minute boundaries, so a window finds its blocks by
 * bucket number through one index range. */
#define MON_BUCKET_MS 300000LL

/* Chunk slots of a block. */
#define MON_SLOT_TS 0
static inline int mon__slot_col(size_t col) { return (int)col + 1; }
static inline int mon__slot_ids(size_t ncols) { return (int)ncols + 1; }
/* The summary (monitor/sketch.h) of column col - quantiles of a numeric
 * column, counts by code of a categorical one - when the block has one:
 * blocks of more than MON_SKETCH_BLOCK_K rows written by ingest or
 * compaction under a schema of at most MON_SKETCH_MAX_COLS columns.
 * Chunks are written slot after slot, so a block with summaries but no ids
 * holds an empty ids chunk. A block without a summary of a column is read
 * row by row instead. */
#define MON_SKETCH_MAX_COLS 2000
static inline int mon__slot_sketch(size_t ncols, size_t col) {
  return (int)ncols + 2 + (int)col;
}

/* A block as stored. */
typedef struct mon_block {
  int64_t id; /* assigned by block_insert */
  int64_t version_id;
  int64_t bucket; /* ts_min / MON_BUCKET_MS */
  int64_t ts_min, ts_max;
  int64_t n;     /* rows */
  int64_t ncols; /* schema columns (features + prediction) */
  bool has_ids;
  int64_t created_at;
} mon_block;

/* The bytes of one chunk (borrowed). */
typedef struct mon_chunk {
  const void *data;
  size_t len;
} mon_chunk;

/* What a reader's snapshot says about deleted blocks (migration 0007) and
 * the highest block id (0 when there is none): the live-window cache
 * (monitor/wcache.c) checks its entries with it. */
typedef struct mon_epoch {
  int64_t gen, n, del_ts_max, del_id_max, max_block;
} mon_epoch;

/* An expired block with the model it belongs to (retention). */
typedef struct mon_expired {
  mon_block b;
  int64_t model_id;
} mon_expired;

/* A per-bucket rollup as stored (migration 0022, monitor/rollup.c): the
 * merged summary of one column over the blocks of (version, bucket,
 * ncols) with id <= id_max, nblocks blocks of nrows rows in all; data
 * borrowed, empty when that column has none. */
typedef struct mon_rollup {
  int64_t bucket, id_max, nblocks, nrows;
  const void *data;
  size_t len;
} mon_rollup;

/* A prediction id to store: the prediction's time and value (category
 * code for a categorical prediction; NaN when missing). */
typedef struct mon_id_row {
  const char *ext_id;
  int64_t ts;
  double prediction;
} mon_id_row;

/* A stored id as ids_get finds it: the row of the version asked for, else
 * the row of another version of the model with that id; version_id -1 when
 * there is none. */
typedef struct mon_id_found {
  int64_t version_id, ts;
  double prediction;
} mon_id_found;

/* A label to store (ext_id NULL for a label sent inline with a prediction
 * that had no id). */
typedef struct mon_label_row {
  const char *ext_id;
  int64_t ts;
  double prediction, label;
} mon_label_row;

/* A reference column as stored: what every test needs, computed once by
 * monitor/reference.c. */
typedef struct mon_refcol {
  mon_column_kind kind;
  int64_t count, missing;
  double mean, std, min, max;
  double *sorted; /* numeric: finite values ascending, owned */
  size_t nsorted;
  mon_bins bins;
  bool has_bins;
  double *cat_counts; /* categorical: count by code, owned */
  size_t ncat;        /* codes covered by cat_counts */
} mon_refcol;

typedef struct mon_ref {
  char source[8]; /* "rows" or "window" */
  int64_t from, to, rows, created_at;
  char created_by[160];
  size_t ncols;
  mon_refcol *cols;
} mon_ref;

/* Frees what r owns (NULL is fine); r is zeroed. Inline: the store
 * implementations and their callers share it without depending on a file
 * of each other. */
static inline void mon__ref_free(mon_ref *r) {
  if(!r)
    return;
  for(size_t i = 0; i < r->ncols; i++) {
    free(r->cols[i].sorted);
    free(r->cols[i].cat_counts);
  }
  free(r->cols);
  memset(r, 0, sizeof *r);
}

/* A stored evaluation (strings borrowed). */
typedef struct mon_eval {
  int64_t version_id, at, window_from, window_to, row_count;
  double drift_share;
  bool drifted;
  const char *trigger; /* "schedule" or "api" */
  const char *report;  /* the report's JSON text */
} mon_eval;

/* One point of an evaluation's time series: col "" for dataset metrics. */
typedef struct mon_point {
  const char *col, *metric;
  double value;
} mon_point;

/* A point as the history lists it. */
typedef struct mon_series_row {
  int64_t at;
  double value;
  int64_t window_from, window_to;
} mon_series_row;

/* A quarantined row (strings borrowed; migration 0020). */
typedef struct mon_qrow {
  int64_t id; /* assigned by quarantine_insert */
  int64_t ts, received_at;
  int64_t index;      /* in its request */
  const char *ext_id; /* its prediction id; NULL when it had no valid one */
  const char *row;    /* the row's JSON; NULL when it was not kept */
  int64_t row_bytes;  /* its size */
  const char *errors; /* JSON array of {field, message} */
  int64_t error_count;
  const char *cols; /* ",0,3,": schema columns with an invalid value */
} mon_qrow;

/* A version with a reference set, for the scheduled evaluation. */
typedef struct mon_due {
  int64_t version_id, model_id, version;
  char *model;
  char *schema;    /* NULL: none */
  char *config;    /* stored drift settings; NULL: none */
  int64_t last_at; /* last evaluation; -1 when never evaluated */
} mon_due;

/* Frees n rows of due_list (NULL is fine). */
static inline void mon__due_free(mon_due *d, size_t n) {
  for(size_t i = 0; d && i < n; i++) {
    free(d[i].model);
    free(d[i].schema);
    free(d[i].config);
  }
  free(d);
}

struct mon_store {
  /* ---- blocks ---- */

  /* Inserts b (b->id receives its id) and its chunks by slot:
   * chunks[0..nchunks) are slots 0..nchunks-1. */
  mw_status (*block_insert)(mw_conn *c, mon_block *b, const mon_chunk *chunks,
                            size_t nchunks);
  /* The blocks of version_id whose rows may fall in [from, to) (bucket
   * range, then ts_min < to and ts_max >= from) with id_lo <= id <= id_hi,
   * in id order: fn(ctx, b) for each; stops at fn's first non-zero
   * status. */
  mw_status (*blocks_list)(mw_conn *c, int64_t version_id, int64_t from, int64_t to,
                           int64_t id_lo, int64_t id_hi,
                           mw_status (*fn)(void *ctx, const mon_block *b),
                           void *ctx);
  /* The chunks of one slot of ids[0..n) (ascending): fn(ctx, i, data, len)
   * once for each i in order, data NULL when block ids[i] has no such
   * chunk; stops at fn's first non-zero status. */
  mw_status (*chunks_read)(mw_conn *c, int slot, const int64_t *ids, size_t n,
                           mw_status (*fn)(void *ctx, size_t i, const void *data,
                                           size_t len),
                           void *ctx);
  /* Deletes blocks ids[0..n) with their chunks. */
  mw_status (*blocks_delete)(mw_conn *c, const int64_t *ids, size_t n);
  /* The delete epoch and the highest block id, in the caller's snapshot. */
  mw_status (*block_epoch)(mw_conn *c, mon_epoch *e);
  /* Up to max blocks whose rows all lie before cutoff_ms, oldest bucket
   * first, into out[] (*n): of model model_id, or with model_id 0 of every
   * model without a retention of its own (migration 0019). */
  mw_status (*blocks_expired)(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                              size_t max, mon_expired *out, size_t *n);
  /* A (version, bucket, ncols) below before_bucket with more than one
   * block of fewer than small rows: *found 0 when there is none. */
  mw_status (*compaction_candidate)(mw_conn *c, int64_t before_bucket, int64_t small,
                                    int64_t *version_id, int64_t *bucket,
                                    int64_t *ncols, int *found);
  /* The blocks of that candidate with fewer than small rows, in id order,
   * at most max, into out[] (*n). */
  mw_status (*compaction_blocks)(mw_conn *c, int64_t version_id, int64_t bucket,
                                 int64_t ncols, int64_t small, size_t max,
                                 mon_block *out, size_t *n);

  /* ---- prediction ids (unique per version; migration 0015) ---- */

  /* Inserts rows[0..n) for model_id/version_id. An id the version already
   * has is not inserted: conflict[i] is set to 1 for it (0 otherwise) and
   * *nconflict counts them; no error, so that the caller can list them
   * all (the caller's transaction then holds the others: roll back). The
   * same id under another version of the model is no conflict (a shadow
   * candidate logs the baseline's ids). */
  mw_status (*ids_insert)(mw_conn *c, int64_t model_id, int64_t version_id,
                          const mon_id_row *rows, size_t n, uint8_t *conflict,
                          size_t *nconflict);
  /* Looks ext_ids[0..n) (NULL or "" entries are skipped) up for model_id
   * into found[0..n): version_id's row of each, else another version's row
   * (so that a label sent to the wrong version is told which one logged
   * it). */
  mw_status (*ids_get)(mw_conn *c, int64_t model_id, int64_t version_id,
                       const char *const *ext_ids, size_t n, mon_id_found *found);
  /* Deletes the ids ext_ids[0..n) of version_id (NULL or "" entries are
   * skipped). */
  mw_status (*ids_delete)(mw_conn *c, int64_t model_id, int64_t version_id,
                          const char *const *ext_ids, size_t n);
  /* Pairs the ids of cand_version (of cand_model) whose prediction time is
   * in [from, to) with the rows of base_version (of base_model) carrying
   * the same id, whatever their time: fn(ctx, cand_prediction,
   * base_prediction) for each pair (NaN for a missing prediction), in no
   * particular order; stops at fn's first non-zero status. Ids the
   * baseline never logged are left out. Read in the caller's transaction
   * (one snapshot). */
  mw_status (*ids_pairs)(mw_conn *c, int64_t cand_model, int64_t cand_version,
                         int64_t base_model, int64_t base_version, int64_t from,
                         int64_t to, mw_status (*fn)(void *ctx, double, double),
                         void *ctx);

  /* ---- labels ---- */

  /* Inserts rows[0..n), replacing the label of an id version_id has one
   * for (ext_ids unique within rows). at: when they arrived. */
  mw_status (*labels_put)(mw_conn *c, int64_t model_id, int64_t version_id,
                          const mon_label_row *rows, size_t n, int64_t at);
  /* fn(ctx, ext_id, prediction, label) for every label of version_id
   * whose prediction time is in [from, to) (prediction NaN when missing).
   * ext_id is the label's id when with_ids (NULL for a label sent inline
   * without one), always NULL otherwise (performance does not need ids,
   * segments pair labels with rows by them). Streams: a page at a time on
   * PostgreSQL (a cursor), one stepped statement on SQLite, so a window of
   * millions of labels is never held in one result. */
  mw_status (*labels_visit)(mw_conn *c, int64_t version_id, int64_t from, int64_t to,
                            bool with_ids,
                            void (*fn)(void *ctx, const char *ext_id,
                                       double prediction, double label),
                            void *ctx);

  /* ---- categorical dictionaries: value <-> code per version column ---- */

  /* fn(ctx, code, value) in code order; stops at fn's first non-zero
   * status. */
  mw_status (*categories_list)(mw_conn *c, int64_t version_id, size_t col,
                               mw_status (*fn)(void *ctx, int64_t code,
                                               const char *value),
                               void *ctx);
  /* Stores values[0..n) as codes first_code.. */
  mw_status (*categories_add)(mw_conn *c, int64_t version_id, size_t col,
                              int64_t first_code, const char *const *values,
                              size_t n);

  /* ---- reference sets ---- */

  /* Replaces version_id's reference by r; names[k] names column k. */
  mw_status (*ref_save)(mw_conn *c, int64_t version_id, const mon_ref *r,
                        const char *const *names);
  /* Loads version_id's reference (ncols columns) into out (caller frees
   * with mon__ref_free); with_data loads the sorted values and counts too.
   * MW_ENOTFOUND when there is none, MW_EINTERNAL when its columns do not
   * match ncols (stored under another schema). */
  mw_status (*ref_load)(mw_conn *c, int64_t version_id, size_t ncols, bool with_data,
                        mon_ref *out);
  /* The generation of version_id's reference (reference_sets.gen,
   * migration 0023: new at every write to the set, its columns or its
   * rows), for the reference cache (monitor/rcache.c). MW_ENOTFOUND when
   * there is none. */
  mw_status (*ref_gen)(mw_conn *c, int64_t version_id, int64_t *gen);

  /* The reference's column col in row order (packed float64 bytes,
   * data[0..len)), for segments; inside ref_save's transaction, after it
   * (ref_save's replacement of the set removes the old rows). */
  mw_status (*refrows_put)(mw_conn *c, int64_t version_id, size_t col,
                           const void *data, size_t len);
  /* Column col of the reference's rows into *vals (malloc'd, *n values);
   * MW_ENOTFOUND when the reference has none (stored before segments). */
  mw_status (*refrows_get)(mw_conn *c, int64_t version_id, size_t col, double **vals,
                           size_t *n);

  /* ---- drift settings (a JSON document stored as text) ---- */

  /* *json: malloc'd text (caller frees), NULL when nothing is stored. */
  mw_status (*dcfg_get)(mw_conn *c, int64_t version_id, char **json);
  mw_status (*dcfg_put)(mw_conn *c, int64_t version_id, const char *json,
                        const char *actor, int64_t now_ms);

  /* ---- evaluations and their time series ---- */

  /* Inserts e and its points pts[0..n) (non-finite values are skipped). */
  mw_status (*eval_insert)(mw_conn *c, const mon_eval *e, const mon_point *pts,
                           size_t n);
  /* When version_id was last evaluated (*at -1: never). */
  mw_status (*eval_last_at)(mw_conn *c, int64_t version_id, int64_t *at);
  /* Points of (version_id, col, metric) with at in [from, to], oldest
   * first, at most limit: fn(ctx, row) for each. */
  mw_status (*series_visit)(mw_conn *c, int64_t version_id, const char *col,
                            const char *metric, int64_t from, int64_t to, int limit,
                            mw_status (*fn)(void *ctx, const mon_series_row *r),
                            void *ctx);
  /* The point of (version_id, col, metric) in the version's latest
   * evaluation; MW_ENOTFOUND when it has none. */
  mw_status (*series_latest)(mw_conn *c, int64_t version_id, const char *col,
                             const char *metric, double *value, int64_t *at);
  /* The latest evaluation of every version by model name and version:
   * fn(ctx, model, version, report JSON text). */
  mw_status (*evals_latest)(mw_conn *c,
                            mw_status (*fn)(void *ctx, const char *model,
                                            int64_t version, const char *report),
                            void *ctx);
  /* Deletes a bounded number of labels, series points and evaluations
   * older than cutoff_ms of model model_id (0: of every model without a
   * retention of its own); *more is set when it deleted any (call
   * again). */
  mw_status (*aged_delete)(mw_conn *c, int64_t model_id, int64_t cutoff_ms,
                           int *more);

  /* ---- quarantine ---- */

  /* Inserts rows[0..n) for version_id (ids are not reported back). */
  mw_status (*quarantine_insert)(mw_conn *c, int64_t version_id,
                                 const mon_qrow *rows, size_t n);
  /* The rows version_id holds. */
  mw_status (*quarantine_count)(mw_conn *c, int64_t version_id, int64_t *n);
  /* Rows of version_id with ts in [from, to) and id > after_id, by id, at
   * most limit: fn(ctx, row) for each; stops at fn's first non-zero
   * status. */
  mw_status (*quarantine_list)(mw_conn *c, int64_t version_id, int64_t from,
                               int64_t to, int64_t after_id, int limit,
                               mw_status (*fn)(void *ctx, const mon_qrow *r),
                               void *ctx);
  /* Deletes the rows of model_id's versions carrying ext_ids[0..n)
   * (erasure); *deleted counts them. */
  mw_status (*quarantine_erase)(mw_conn *c, int64_t model_id,
                                const char *const *ext_ids, size_t n,
                                int64_t *deleted);
  /* fn(ctx, cols) for every row of version_id with ts in [from, to). */
  mw_status (*quarantine_cols)(mw_conn *c, int64_t version_id, int64_t from,
                               int64_t to,
                               mw_status (*fn)(void *ctx, const char *cols),
                               void *ctx);

  /* ---- the registry's rows, read only ---- */

  /* A version by model name and number; *schema malloc'd or NULL. */
  mw_status (*version_find)(mw_conn *c, const char *model, int64_t version,
                            int64_t *id, int64_t *model_id, char **schema);
  /* The model name (into model[cap]) and number of a version row id. */
  mw_status (*version_name)(mw_conn *c, int64_t version_id, char *model, size_t cap,
                            int64_t *version);
  /* Every version with a reference set, with its model, schema, settings
   * and last evaluation, by version id (caller frees with mon__due_free). */
  mw_status (*due_list)(mw_conn *c, mon_due **out, size_t *n);

  /* ---- privacy (migration 0019; monitor/privacy_sqlite.c, _pg.c) ---- */

  /* A model's row id by name (MW_ENOTFOUND: none). */
  mw_status (*model_find)(mw_conn *c, const char *name, int64_t *model_id);
  /* A model's own retention in days (*days 0: none, the server's). */
  mw_status (*retention_get)(mw_conn *c, int64_t model_id, int64_t *days);
  /* Sets it (days 0 removes it). In the caller's write transaction. */
  mw_status (*retention_put)(mw_conn *c, int64_t model_id, int64_t days,
                             int64_t now);
  /* fn(ctx, model_id, days) for every model with a retention of its own. */
  mw_status (*retention_list)(mw_conn *c,
                              mw_status (*fn)(void *ctx, int64_t, int64_t),
                              void *ctx);
  /* fn(ctx, version_id, version) for every version of model_id. */
  mw_status (*model_versions)(mw_conn *c, int64_t model_id,
                              mw_status (*fn)(void *ctx, int64_t, int64_t),
                              void *ctx);
  /* Delete the prediction ids / labels of model_id (every version) whose
   * id is among ext_ids[0..n) (distinct, non-empty): fn(ctx, version_id)
   * for each row deleted. One statement per id on SQLite, one in all on
   * PostgreSQL. */
  mw_status (*ids_erase)(mw_conn *c, int64_t model_id, const char *const *ext_ids,
                         size_t n, void (*fn)(void *ctx, int64_t), void *ctx);
  mw_status (*labels_erase)(mw_conn *c, int64_t model_id, const char *const *ext_ids,
                            size_t n, void (*fn)(void *ctx, int64_t), void *ctx);
  /* Replaces the text of dictionary entry code of (version_id, col). */
  mw_status (*category_replace)(mw_conn *c, int64_t version_id, size_t col,
                                int64_t code, const char *value);
  /* Takes what an erasure deleted out of the database's files, outside any
   * transaction: stage 0 before it, stage 1 after it commits. SQLite:
   * secure_delete on, then a TRUNCATE checkpoint and secure_delete off.
   * PostgreSQL: nothing, then a VACUUM of the tables it touched. */
  mw_status (*erase_scrub)(mw_conn *c, int stage);
  /* The sealed privacy key (*sealed malloc'd; MW_ENOTFOUND: none yet). */
  mw_status (*privacy_key_get)(mw_conn *c, char **sealed);
  /* Stores it unless one is there already (then nothing changes: the
   * caller reads the one that won). In the caller's write transaction. */
  mw_status (*privacy_key_put)(mw_conn *c, const char *sealed, int64_t now);

  /* ---- per-bucket rollups (migration 0022; monitor/rollup.c) ---- */

  /* A (version, bucket, ncols) below before_bucket, ncols <= max_cols,
   * with more than one block and no rollup covering its highest block id
   * (none, or one written before later blocks came): the most recent such
   * bucket first. *found 0 when there is none. */
  mw_status (*rollup_candidate)(mw_conn *c, int64_t before_bucket, int64_t max_cols,
                                int64_t *version_id, int64_t *bucket, int64_t *ncols,
                                int *found);
  /* Replaces the rollups of (version_id, r->bucket, ncols) by one row per
   * column: cols[k] (empty: none of column k), each with r's id_max,
   * nblocks and nrows. In the caller's write transaction. */
  mw_status (*rollup_put)(mw_conn *c, int64_t version_id, size_t ncols,
                          const mon_rollup *r, const mon_chunk *cols, int64_t now);
  /* The rollups of column col of (version_id, ncols) with bucket in [lo,
   * hi], by bucket: fn(ctx, r) for each; stops at fn's first non-zero
   * status. */
  mw_status (*rollups_read)(mw_conn *c, int64_t version_id, size_t ncols, size_t col,
                            int64_t lo, int64_t hi,
                            mw_status (*fn)(void *ctx, const mon_rollup *r),
                            void *ctx);
};

extern const struct mon_store mon__store_sqlite;
extern const struct mon_store mon__store_pg;

/* The implementation for c's backend. */
const struct mon_store *mon__store(mw_conn *c);

/* "model 'fraud' version 3" for a version row id, into buf (for log lines:
 * operators know versions by model and number, row ids mean nothing to
 * them); the row id when the lookup fails. */
void mon__version_label(mw_conn *c, int64_t version_id, char *buf, size_t cap);

#endif
