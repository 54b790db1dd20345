/* monitor/internal.h - what the files of monitor/ share: the context, the
 * schema, the staging of an ingested batch, block packing, windows,
 * reference sets, drift settings and the store functions (all SQL of the
 * subsystem lives in monitor/store.c). Not for other subsystems; unit tests
 * include it to reach the pieces. Prefix mon__. */
#ifndef MW_MONITOR_INTERNAL_H
#define MW_MONITOR_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "monitor/monitor.h"
#include "monitor/stats.h"

/* Blocks are cut at 5-minute boundaries so a window finds its blocks by
 * bucket number through one index range. */
#define MON_BUCKET_MS 300000LL
/* A chunk's rowid is block * MON_SLOTS + slot: slot 0 holds timestamps,
 * 1..ncols the schema columns (prediction last), ncols + 1 the ids. */
#define MON_SLOTS 4096LL
#define MON_SLOT_TS 0
#define MON_MAX_COLS 4000
#define MON_CHUNK_ROWID(block, slot) ((block) * MON_SLOTS + (slot))
/* Limits that keep one request bounded. */
#define MON_MAX_BATCH 100000
#define MON_MAX_ID_LEN 256
#define MON_MAX_CAT_LEN 1024
#define MON_MAX_CATEGORIES 10000
#define MON_MAX_ERRORS 10000
/* Scheduled evaluations only look at versions that log, at most so many
 * per pass. */
#define MON_FUTURE_SLACK_MS (24LL * 3600 * 1000)

struct mon_ctx {
  mw_db *db;
  mon_options opt;
  /* Serialises the monitor's write transactions in-process: waiting on a
   * mutex wakes immediately, where SQLite's busy handler sleeps 1-100 ms. */
  pthread_mutex_t write_lock;
  /* Group commit of ingested batches (monitor/ingest.c). */
  pthread_mutex_t q_mu;
  pthread_cond_t q_cv;
  struct mon_wjob *q_head, *q_tail;
  int q_leader;
  /* Counters for /metrics (atomic builtins). */
  uint64_t n_predictions;
  uint64_t n_labels;
  uint64_t n_rejected;
  uint64_t n_evaluations;
  uint64_t n_retained_blocks;
  uint64_t n_batches, n_commits; /* group commit: batches per transaction */
  uint64_t lock_wait_ns, lock_held_ns; /* write lock contention */
  int64_t lock_t0;                     /* when the holder took it */
  /* Drift reports running now: at most opt.workers at a time, so the
   * memory in flight is bounded by workers x drift_memory_mb whatever the
   * number of concurrent requests (drift.c). */
  pthread_mutex_t report_mu;
  pthread_cond_t report_cv;
  int reports_running;
  /* The live-window cache (wcache.c): entries, their bytes, counters. */
  pthread_mutex_t wc_mu;
  pthread_cond_t wc_cv;
  struct mon_wentry *wc_head;
  size_t wc_bytes;
  uint64_t wc_hits, wc_misses, wc_evictions;
  /* Background thread. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running;
  int stop;
};

/* Takes / releases the write lock; NULL m does nothing. */
void mon__lock(mon_ctx *m);
void mon__unlock(mon_ctx *m);
/* One compaction transaction (see mon__store_compact) under the lock. */
mw_status mon__compact_step(mon_ctx *m, mw_conn *c, int64_t before_bucket,
                            int64_t *merged);
/* Defaults of every option that is 0 in opt. */
void mon__options_fill(mon_options *opt);

/* ---- schema (schema.c) ---- */

typedef struct mon_column {
  char *name;
  mon_column_kind kind;
} mon_column;

/* The version's columns: features in schema order, then the prediction. */
typedef struct mon_schema {
  size_t ncols;
  mon_column *cols;
} mon_schema;

/* Parses a registry schema {"features": [{name, type}], "prediction":
 * {type}}. NULL json -> MW_EVALIDATION ("no schema"). Caller frees with
 * mon__schema_free (also after a failure). */
mw_status mon__schema_parse(const char *json, const mon_version *v,
                            mon_schema *out, mw_err *err);
void mon__schema_free(mon_schema *s);
/* Column index of name (len bytes), or -1. */
long mon__schema_find(const mon_schema *s, const char *name, size_t len);
/* "numeric" or "categorical". */
const char *mon__kind_name(mon_column_kind k);

/* ---- categorical dictionaries (schema.c) ---- */

/* value <-> code for one column; codes are 0..n-1 in order of first sight. */
typedef struct mon_dict {
  size_t n, cap;
  char **values;   /* by code, owned */
  uint32_t *slots; /* open addressing: code + 1, 0 = empty */
  size_t nslots;
  size_t nloaded;  /* codes that were already stored */
} mon_dict;

void mon__dict_init(mon_dict *d);
void mon__dict_free(mon_dict *d);
/* Code of value or -1. */
long mon__dict_find(const mon_dict *d, const char *s);
/* Code of value, adding it when new. MW_ETOOBIG past MON_MAX_CATEGORIES. */
mw_status mon__dict_intern(mon_dict *d, const char *s, long *code);

/* ---- errors listed in details.errors ---- */

typedef struct mon_errors {
  cJSON *list;  /* array, owned until handed to mw_err */
  size_t count; /* all errors, also those past MON_MAX_ERRORS */
} mon_errors;

void mon__errors_init(mon_errors *e);
/* Adds {index, field, message}; index < 0 leaves index out. */
void mon__errors_add(mon_errors *e, long index, const char *field,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Moves the list into err->details {errors, error_count, truncated} and
 * returns MW_EVALIDATION with msg. */
mw_status mon__errors_fail(mon_errors *e, mw_err *err, const char *msg);
void mon__errors_free(mon_errors *e);

/* ---- a parsed batch (ingest.c) ---- */

typedef struct mon_batch {
  size_t n, ncols;
  int64_t *ts;        /* n */
  double *vals;       /* ncols * n, column-major; NaN = missing; categorical
                         columns hold codes after mon__batch_encode */
  const char **cats;  /* ncols * n; categorical text, NULL = missing */
  const char **ids;   /* n; NULL = no id */
  bool *has_label;    /* n */
  double *labels;     /* n; numeric label, or code after encoding */
  const char **label_cats; /* n; categorical label text */
  bool any_ids, any_labels, any_cats;
  char **arena;       /* strings made from numbers, freed with the batch */
  size_t narena, arena_cap;
} mon_batch;

/* Validates the array of rows against s into b. for_reference: rows need
 * only features and prediction (id, timestamp, label are ignored).
 * Problems are added to errs; returns MW_ENOMEM on allocation failure
 * only. Caller frees b with mon__batch_free. */
mw_status mon__batch_parse(const mon_schema *s, const cJSON *rows,
                           bool for_reference, int64_t now_ms, mon_batch *b,
                           mon_errors *errs);
/* Assigns dictionary codes to categorical values and labels, inserting new
 * categories for version_id (inside the caller's write transaction). */
mw_status mon__batch_encode(mw_conn *c, int64_t version_id,
                            const mon_schema *s, mon_batch *b,
                            mon_errors *errs);
void mon__batch_free(mon_batch *b);

/* Interprets a JSON value for a numeric column: numbers as they are; null
 * and the strings NaN, Infinity, -Infinity (any case, also inf) as missing
 * (NaN). Returns 0 for anything else. */
int mon__json_number(const cJSON *it, double *out);
/* Canonical text of a categorical JSON value into buf: strings as they
 * are (returned borrowed), integers in decimal, other numbers with %.17g,
 * booleans "true"/"false". *missing is set for null. NULL when the value
 * cannot be a category (object, array, too long). */
const char *mon__json_category(const cJSON *it, char *buf, size_t cap,
                               bool *missing);

/* Adds a number when it is finite (never NaN or infinities in JSON). */
void mon__json_add_number(cJSON *obj, const char *key, double v);
void mon__json_append_number(cJSON *arr, double v);

/* ---- blocks (pack.c) ---- */

/* Packs n doubles / int64s / ids into buf (replacing its contents) as a
 * chunk: little-endian 8-byte values; ids as NUL-terminated strings (""
 * when absent). */
mw_status mon__pack_doubles(mw_buf *buf, const double *v, const size_t *rows,
                            size_t n);
mw_status mon__pack_i64(mw_buf *buf, const int64_t *v, const size_t *rows,
                        size_t n);
mw_status mon__pack_ids(mw_buf *buf, const char *const *ids, const size_t *rows,
                        size_t n);
/* Reads value i of a packed chunk of 8-byte values. */
double mon__chunk_double(const void *chunk, size_t i);
int64_t mon__chunk_i64(const void *chunk, size_t i);
/* Splits a packed ids chunk of n ids into pointers into chunk (borrowed).
 * Returns 0 when the chunk is malformed. */
int mon__unpack_ids(const char *chunk, size_t len, size_t n, const char **out);

/* ---- windows (store.c) ---- */

typedef struct mon_wblock {
  int64_t id, ts_min, ts_max, n;
  uint8_t *mask;   /* NULL: every row is in the window; else 1 per row */
  int64_t nsel;    /* rows in the window */
} mon_wblock;

typedef struct mon_window {
  int64_t from, to;
  size_t ncols;
  size_t nblocks;
  mon_wblock *blocks;
  int64_t count;   /* rows in the window */
} mon_window;

/* Starts a read transaction (a consistent snapshot for the whole report). */
mw_status mon__read_begin(mw_conn *c);
void mon__read_end(mw_conn *c);
/* Lists the blocks of version_id overlapping [from, to) and builds masks for
 * those that straddle a boundary. Caller frees with mon__window_free. */
mw_status mon__window_open(mw_conn *c, int64_t version_id, size_t ncols,
                           int64_t from, int64_t to, mon_window *w);
/* The same, only blocks with id_lo <= id <= id_hi (the live-window cache
 * reads what changed since it last looked). */
mw_status mon__window_open_ids(mw_conn *c, int64_t version_id, size_t ncols,
                               int64_t from, int64_t to, int64_t id_lo,
                               int64_t id_hi, mon_window *w);
void mon__window_free(mon_window *w);
/* What a reader's snapshot says about deleted blocks (migration 0007) and
 * the highest block id (0 when there is none). */
typedef struct mon_epoch {
  int64_t gen, n, del_ts_max, del_id_max, max_block;
} mon_epoch;
/* Reads it in the caller's read transaction. */
mw_status mon__store_block_epoch(mw_conn *c, mon_epoch *e);
/* Visits column col (0-based schema column) of the window block by block:
 * fn(ctx, values, nvalues) receives the selected rows' values of one block
 * in row order. Returns fn's first non-zero status. */
typedef mw_status (*mon_visit_fn)(void *ctx, const double *v, size_t n);
mw_status mon__window_visit(mw_conn *c, const mon_window *w, size_t col,
                            mon_visit_fn fn, void *ctx);

/* ---- the live-window cache (wcache.c) ---- */

/* One column of a cached window. */
typedef struct mon_wcol {
  double *vals;    /* numeric: the window's finite values, sorted */
  size_t n;
  double *counts;  /* categorical: rows per code */
  size_t ncounts;
  int64_t missing; /* rows whose value is missing */
} mon_wcol;

/* A cached window: the rows of blocks with id <= max_block whose ts is in
 * [from, to), as seen in epoch. busy while one report uses it. */
typedef struct mon_wentry {
  struct mon_wentry *next;
  int64_t version_id, from, to, max_block, epoch, gen, count;
  size_t ncols;
  mon_wcol *cols;
  size_t bytes;  /* charged to drift_cache_mb */
  int64_t used_ms; /* monotonic ms of the last use: LRU order and expiry */
  bool busy;
  bool empty;    /* a placeholder or reset entry: holds no rows yet */
} mon_wentry;

/* What a report takes out of and puts into its entry: rows at either end
 * that leave or enter the window, and rows of blocks written since. */
#define MON_WPLAN_REM 2
#define MON_WPLAN_ADD 3
typedef struct mon_wplan {
  mon_wentry *e; /* NULL: no cache; the report streams the window */
  mon_window rem[MON_WPLAN_REM], add[MON_WPLAN_ADD];
  int64_t nrem, nadd; /* rows in rem, add */
  int64_t from, to, max_block, epoch, gen, count; /* the entry after it */
  bool reset; /* the entry was emptied (or new): keep it only if filled */
} mon_wplan;

/* Before the report's read transaction: the cached window of version_id
 * that the window [from, to) can continue from at the least cost, or a new
 * empty placeholder, marked busy (waits while another report holds it);
 * NULL when the cache is off. Pass it to mon__wcache_plan. */
mon_wentry *mon__wcache_acquire(mon_ctx *m, int64_t version_id, size_t ncols,
                                int64_t from, int64_t to);
/* In the read transaction: opens the windows of rows to remove and add (e
 * may be NULL: a new entry over the whole window), or leaves p->e NULL when
 * the window is not cached (cache off, more than max_rows rows, over the
 * budget). Takes e over in every case. On success with p->e set, the caller
 * feeds every column through mon__wcol_apply / mon__wcol_count and ends with
 * mon__wcache_done. */
mw_status mon__wcache_plan(mon_ctx *m, mw_conn *c, mon_wentry *e,
                           int64_t version_id, size_t ncols, size_t nnumeric,
                           int64_t from, int64_t to, int64_t max_rows,
                           mon_wplan *p);
/* Releases the plan: with ok the entry now holds the new window; otherwise
 * (a column failed) it is dropped. */
void mon__wcache_done(mon_ctx *m, mon_wplan *p, bool ok, size_t nnumeric);
/* Frees every entry (none may be busy). */
void mon__wcache_clear(mon_ctx *m);
/* Removes the values rem[0..nrem) from a numeric column and adds
 * add[0..nadd) (both raw, any order, non-finite counted as missing); both
 * arrays are consumed (freed). MW_EINTERNAL if a value to remove is not
 * there (the column is then unusable), MW_ENOMEM. */
int mon__wcol_apply(mon_wcol *w, double *rem, size_t nrem, double *add,
                    size_t nadd);
/* mon_visit_fn adding (sign 1) or removing (sign -1) rows per code of a
 * categorical column. */
typedef struct mon_wcount {
  mon_wcol *col;
  int sign;
} mon_wcount;
mw_status mon__wcol_count(void *ctx, const double *v, size_t n);

/* Collects a column's values from mon__window_visit: every stride-th row
 * into vals (at most cap), and, with aggregate, exact streaming counts,
 * moments, extremes and reference-bin counts over every row. */
typedef struct mon_gather {
  double *vals;
  size_t n, cap, stride, seen;
  bool aggregate;
  const mon_bins *bins; /* may be NULL */
  double bin_counts[MON_STATS_MAX_BINS];
  int64_t count, missing; /* finite / non-finite values seen */
  double mean, m2, min, max;
} mon_gather;

void mon__gather_init(mon_gather *g, double *vals, size_t cap, size_t stride,
                      bool aggregate, const mon_bins *bins);
mw_status mon__gather_visit(void *ctx, const double *v, size_t n);

/* ---- the store (store.c) ---- */

/* Writes rows[0..nrows) of b as one block of version_id. */
mw_status mon__store_block(mw_conn *c, int64_t version_id, const mon_batch *b,
                           const size_t *rows, size_t nrows, int64_t now_ms,
                           mw_buf *scratch);
/* Inserts an id; MW_ECONFLICT when the model already has it. */
mw_status mon__store_id(mw_conn *c, int64_t model_id, const char *ext_id,
                        int64_t version_id, int64_t ts, double prediction);
/* 1 when the model has a prediction with this id (read only). */
mw_status mon__store_id_exists(mw_conn *c, int64_t model_id, const char *ext_id,
                               int *exists);
/* Finds a stored id: its version, timestamp and prediction. */
mw_status mon__store_id_get(mw_conn *c, int64_t model_id, const char *ext_id,
                            int64_t *version_id, int64_t *ts, double *prediction);
/* Inserts or replaces a label (ext_id may be NULL). */
mw_status mon__store_label(mw_conn *c, int64_t model_id, const char *ext_id,
                           int64_t version_id, int64_t ts, double prediction,
                           double label, int64_t now_ms);
/* Loads the stored dictionary of (version_id, col) into d (fresh). */
mw_status mon__store_dict_load(mw_conn *c, int64_t version_id, size_t col,
                               mon_dict *d);
/* Inserts the codes of d from d->nloaded on; marks them stored. */
mw_status mon__store_dict_save(mw_conn *c, int64_t version_id, size_t col,
                               mon_dict *d);

/* Calls fn(ctx, prediction, label) for every label of version_id whose
 * prediction time is in [from, to) (prediction NaN when missing). */
mw_status mon__store_labels_visit(mw_conn *c, int64_t version_id, int64_t from,
                                  int64_t to,
                                  void (*fn)(void *, double, double), void *ctx);
/* Latest stored evaluation of every version: fn(ctx, model, version,
 * report JSON text); stops at fn's first non-zero status. */
mw_status mon__store_latest_evals(mw_conn *c,
                                  mw_status (*fn)(void *, const char *, int64_t,
                                                  const char *),
                                  void *ctx);
/* Calls fn(ctx, column, metric, value) for every metric of a report
 * (column "" for dataset metrics); the names of mon_drift_history. */
void mon__report_metrics(const cJSON *report,
                         void (*fn)(void *, const char *, const char *, double),
                         void *ctx);

/* The stored name of a series metric (names of mon_drift_history; the
 * alias dataset_drift_share for drift_share), or NULL when unknown. */
const char *mon__metric_name(const char *column, const char *metric);

/* ---- reference sets (reference.c / store.c) ---- */

typedef struct mon_refcol {
  mon_column_kind kind;
  int64_t count, missing;
  double mean, std, min, max;
  double *sorted;      /* numeric: finite values ascending, owned */
  size_t nsorted;
  mon_bins bins;
  bool has_bins;
  double *cat_counts;  /* categorical: count by code, owned */
  size_t ncat;         /* codes covered by cat_counts */
} mon_refcol;

typedef struct mon_ref {
  char source[8];
  int64_t from, to, rows, created_at;
  char created_by[160];
  size_t ncols;
  mon_refcol *cols;
} mon_ref;

/* Builds column data from n values (NaN = missing; categorical: codes);
 * vals is reordered. */
mw_status mon__refcol_build(mon_column_kind kind, double *vals, size_t n,
                            mon_refcol *out);
void mon__ref_free(mon_ref *r);
/* Replaces the stored reference of version_id by r (inside a write tx). */
mw_status mon__store_ref_save(mw_conn *c, int64_t version_id,
                              const mon_schema *s, const mon_ref *r);
/* Loads version_id's reference; with_data loads the sorted values and
 * counts too. MW_ENOTFOUND when none. */
mw_status mon__store_ref_load(mw_conn *c, int64_t version_id, size_t ncols,
                              bool with_data, mon_ref *out);

/* ---- drift settings (settings.c) ---- */

typedef struct mon_colcfg {
  mon_drift_method method; /* AUTO = default choice */
  double threshold;        /* 0 = the method's default */
} mon_colcfg;

typedef struct mon_dcfg {
  double drift_share;
  int interval_seconds;
  int window_seconds;
  bool schedule;
  size_t ncols;
  mon_colcfg *cols; /* by schema column */
} mon_dcfg;

/* Loads the stored settings of v (defaults from m's options when nothing
 * is stored). Caller frees with mon__dcfg_free. */
mw_status mon__dcfg_load(mon_ctx *m, mw_conn *c, const mon_version *v,
                         const mon_schema *s, mon_dcfg *out);
/* Parses a settings document; errors go to errs. */
mw_status mon__dcfg_parse(const mon_ctx *m, const cJSON *doc,
                          const mon_schema *s, mon_dcfg *out, mon_errors *errs);
void mon__dcfg_free(mon_dcfg *d);
/* JSON of d (columns by name). */
cJSON *mon__dcfg_json(const mon_dcfg *d, const mon_schema *s);
/* Method names as used in reports ("ks", "wasserstein", "psi",
 * "jensen_shannon", "chi2", "z") and parsing (also the stats names). */
const char *mon__method_name(mon_drift_method m);
int mon__method_parse(const char *s, mon_drift_method *out);
mw_status mon__store_dcfg_get(mw_conn *c, int64_t version_id, char **json);
mw_status mon__store_dcfg_put(mw_conn *c, int64_t version_id, const char *json,
                              const char *actor, int64_t now_ms);

/* ---- reports and series (drift.c, series.c) ---- */

/* Computes the report of [from, to) for v into *out. */
mw_status mon__report(mon_ctx *m, mw_conn *c, const mon_version *v,
                      int64_t from, int64_t to, cJSON **out, mw_err *err);
/* Stores a report as an evaluation and its series (inside a write tx). */
mw_status mon__store_eval(mw_conn *c, int64_t version_id, int64_t at,
                          const cJSON *report, const char *trigger);
/* Deletes expired rows; see mon_retention_step. */
mw_status mon__store_retention(mw_conn *c, int64_t cutoff_ms, int max_blocks,
                               int64_t *deleted);

/* Looks a version up by model name and number (registry tables, read
 * only); *schema is malloc'd or NULL. */
mw_status mon__store_version(mw_conn *c, const char *model, int64_t version,
                             int64_t *id, int64_t *model_id, char **schema);

/* Merges the small blocks (< 1024 rows) of one (version, bucket) whose
 * bucket number is below before_bucket into one block, inside the caller's
 * write transaction: single-prediction requests otherwise leave a block per
 * row. *merged: blocks merged (0 when nothing is left to do). */
mw_status mon__store_compact(mw_conn *c, int64_t before_bucket, int64_t *merged);

/* One row of a version due for scheduled evaluation. */
typedef struct mon_due {
  int64_t version_id, model_id, version;
  char *model;
  char *schema;
  char *config;
  int64_t last_at; /* -1 when never evaluated by the scheduler */
} mon_due;
/* Every version with a reference set, with its model, schema, settings and
 * last scheduled evaluation. Caller frees with mon__due_free. */
mw_status mon__store_due(mw_conn *c, mon_due **out, size_t *n);
void mon__due_free(mon_due *d, size_t n);

#endif
