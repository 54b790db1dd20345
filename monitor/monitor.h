/* monitor/monitor.h - the monitor subsystem: prediction and label ingest,
 * reference sets, drift reports over time windows, performance metrics,
 * scheduled evaluation with its time series, retention of raw rows.
 *
 * Model versions are named by a mon_version that the caller resolved (web/
 * goes through the registry); the monitor never includes registry code.
 * Every function takes the calling thread's connection. On failure a
 * function returns a negative mw_status, fills err (may be NULL) with a
 * message for the API client (and, for validation failures, err->details
 * {"errors": [{index, field, message}]}), and leaves *out NULL. JSON results
 * are new objects the caller frees with cJSON_Delete.
 *
 * What is exact and what is approximate in a drift report: every statistic
 * is computed on all rows of the window, exactly, as long as one numeric
 * column of the window fits the memory budget (--drift-memory-mb,
 * default 256 MB: 32 M rows). Above that, a report merges the quantile
 * summaries stored with every block (monitor/sketch.h) instead of reading
 * every row: count, missing, mean, std, min and max stay exact, KS,
 * Wasserstein, quantiles and bin counts come within the bounds the column
 * states in "approximate" {method, rank_error, ...} (docs/drift.md).
 * Categorical columns are always exact (counts by code per block). A
 * comparison of two versions samples instead (mon_drift_compare).
 *
 * Decisions a client can see:
 *  - Missing values: null, and for numeric columns the strings "NaN",
 *    "Infinity", "-Infinity" (any case, also "inf") and the bare tokens NaN,
 *    Infinity, -Infinity that Python's json module writes, are stored as
 *    missing; they count in stats.missing and are left out of the tests
 *    (docs/drift.md). A column key that is absent is an error (send null).
 *  - Categorical values are strings; numbers and booleans are accepted and
 *    become their text ("3", "true"). At most 10,000 distinct values per
 *    column and version (a wider column is not a category).
 *  - A version without a schema cannot log predictions (422 saying so): a
 *    guessed schema would silently decide the tests.
 *  - Prediction ids are optional, unique per version while the prediction
 *    is retained (migration 0015; they were unique per model): a shadow
 *    candidate may log its predictions under the baseline's ids, and GET
 *    .../shadow pairs the two by id. Labels find their prediction by id,
 *    must be sent to the version that logged it (else 422 naming the
 *    version that did), and replace earlier ones of that version.
 *  - GET .../drift with no reference set: 409. An empty window: 200 with
 *    window.count 0 and every column "status": "no_data", "drifted": false.
 *    Each column has a status: "ok", "no_data" (no values in the window) or
 *    "insufficient_data" (with a "reason": constant, empty reference...);
 *    only "ok" columns count towards dataset.drift_share.
 *  - A column's "statistic" is the deciding method's statistic (KS D,
 *    normalised Wasserstein, PSI, Jensen-Shannon distance, chi-squared or
 *    z); "p_value" is present for ks, chi2 and z, and "threshold" applies to
 *    the p-value for those and to the statistic otherwise. The "score" of a
 *    column (history, alerts, modelwatch_drift_score) is that p-value or
 *    that distance.
 *  - Retention (--retention-days) deletes raw predictions, their ids and
 *    labels, and stored evaluations older than the cut-off; a background
 *    pass also merges the small blocks single-row requests leave behind. */
#ifndef MW_MONITOR_H
#define MW_MONITOR_H

#include <stdbool.h>

#include "core/core.h"

/* A model version as the monitor sees it. Strings are borrowed. */
typedef struct mon_version {
  int64_t id;              /* model_versions.id */
  int64_t model_id;        /* models.id */
  const char *model;       /* model name (for messages and labels) */
  int64_t version;         /* version number */
  const char *schema_json; /* the version's schema; NULL when it has none */
} mon_version;

typedef struct mon_options {
  int eval_interval_seconds; /* scheduled evaluation period; 0 = never */
  int eval_window_seconds;   /* window a scheduled evaluation looks at */
  int retention_days;        /* raw predictions kept; 0 = forever */
  int drift_memory_mb;       /* column data in flight during a report */
  int workers;               /* threads computing columns (default 2) */
  int drift_cache_mb;        /* live-window cache; < 0 = off (default 256) */
  /* The replicas sharing the database (borrowed; NULL: this process always
   * leads). Scheduled evaluation, retention and compaction run only on the
   * leader, so a fleet evaluates once per interval. */
  const mw_cluster *cluster;
} mon_options;

/* Shared state of the subsystem: options, counters for /metrics, the
 * group commit of ingest, the live-window cache and the scheduler
 * thread (monitor/context.h). */
typedef struct mon_ctx mon_ctx;

/* Creates the context for db (borrowed: must outlive the context). opt may
 * be NULL for defaults (300 s, 3600 s, 30 days, 256 MB, 2 workers). Caller
 * frees with mon_ctx_free. */
mw_status mon_ctx_new(mw_db *db, const mon_options *opt, mon_ctx **out);
/* Stops the scheduler if running and frees m; NULL is fine. No report or
 * ingest may be running. */
void mon_ctx_free(mon_ctx *m);
/* Starts the background thread that runs scheduled evaluations, deletes
 * raw rows older than the retention in small transactions and merges
 * small blocks, each pass only while this replica leads (opt.cluster). */
mw_status mon_scheduler_start(mon_ctx *m);
/* Stops and joins the background thread (waits for a running evaluation).
 * Safe to call when it was never started. */
void mon_scheduler_stop(mon_ctx *m);

/* ---- request bodies ---- */

/* A parsed JSON document whose nodes live in one arena (monitor/json.c):
 * ingest batches parse several times faster than with cJSON_Parse. */
typedef struct mon_doc mon_doc;

/* Caps on a document (an HTTP body): nesting of arrays and objects,
 * length of a string or key in bytes, items in one array or object. */
typedef struct mon_doc_limits {
  int max_depth;
  size_t max_string;
  size_t max_items;
} mon_doc_limits;

/* Why mon_doc_parse failed. */
enum mon_doc_error {
  MON_DOC_SYNTAX = 1, /* not JSON */
  MON_DOC_DEPTH,      /* nested deeper than max_depth */
  MON_DOC_STRING,     /* a string longer than max_string */
  MON_DOC_KEY,        /* a key longer than max_string */
  MON_DOC_ITEMS,      /* an array or object with more than max_items */
};

/* Parses text[0..len) (text[len] must be '\0'), decoding strings in place:
 * text is modified and must outlive the document. Accepts RFC 8259 JSON
 * plus the tokens NaN, Infinity, -Infinity, read as null. lim may be NULL
 * (depth 256, no other cap). Fails with MW_EINVAL (syntax), MW_EVALIDATION
 * (depth, string or key past the caps) or MW_ETOOBIG (too many items);
 * *why (may be NULL) says which (enum mon_doc_error) and *err_offset (may be
 * NULL) where. Caller frees with mon_doc_free. */
mw_status mon_doc_parse(char *text, size_t len, const mon_doc_limits *lim,
                        mon_doc **out, int *why, size_t *err_offset);
/* The root: ordinary cJSON nodes, read-only (never modified or passed to
 * cJSON_Delete); borrowed until mon_doc_free. */
const cJSON *mon_doc_root(const mon_doc *d);
void mon_doc_free(mon_doc *d);

/* ---- ingest ---- */

/* Logs a batch {predictions: [{id?, timestamp?, features: {col: value},
 * prediction, label?}]} for version v. The whole batch is validated first
 * (types against the schema, unknown and missing columns, timestamps, ids
 * unique in the batch and against the version's stored ids); any bad row
 * gives MW_EVALIDATION with every error in err->details and stores nothing.
 * Numbers may be null or "NaN"/"Infinity"/"-Infinity" strings: stored as
 * missing. A version without schema is refused (MW_EVALIDATION). On MW_OK
 * the rows are committed (durable as the database's synchronous setting)
 * and *accepted holds their count. m may be NULL (no group commit, no
 * counters). */
mw_status mon_ingest_predictions(mon_ctx *m, mw_conn *c, const mon_version *v,
                                 const cJSON *body, int64_t *accepted, mw_err *err);

/* What ingest does with invalid rows: refuse the whole batch (the default,
 * as mon_ingest_predictions), or store the valid rows and keep the invalid
 * ones with their errors in the version's quarantine. */
typedef enum mon_on_invalid {
  MON_INVALID_REJECT = 0,
  MON_INVALID_QUARANTINE
} mon_on_invalid;

/* Parses "reject" / "quarantine"; 0 when it is neither. */
int mon_on_invalid_parse(const char *s, mon_on_invalid *out);

/* The rows a version's quarantine holds at most: a batch whose invalid
 * rows would pass it is refused whole (MW_EVALIDATION, nothing stored),
 * as with MON_INVALID_REJECT. */
#define MON_MAX_QUARANTINE 10000
/* A quarantined row's JSON text is kept up to this size; a larger row is
 * kept as its errors and size only (row_kept false). */
#define MON_MAX_QUARANTINE_ROW 65536

/* mon_ingest_predictions with a choice of what invalid rows do. With
 * MON_INVALID_QUARANTINE, rows with errors of their own (types, missing
 * or unknown columns, timestamps, ids duplicated in the batch or already
 * stored) go to the quarantine in the same transaction as the valid rows;
 * *quarantined receives their count. Errors of the batch as a whole (the
 * body's shape), a full quarantine, more than MON_MAX_QUARANTINE invalid
 * rows, or a dictionary overflow while writing still refuse the whole
 * batch (MW_EVALIDATION, nothing stored). */
mw_status mon_ingest_predictions_ex(mon_ctx *m, mw_conn *c, const mon_version *v,
                                    const cJSON *body, mon_on_invalid mode,
                                    int64_t *accepted, int64_t *quarantined,
                                    mw_err *err);

/* GET .../quarantine: {rows: [{id, timestamp, received_at, index, row?,
 * row_kept, row_bytes, errors, error_count}], count, next_page_token} of
 * the rows with timestamp in [from_ms, to_ms), by id, at most limit
 * (1..1000) with id > after_id (the page token: the last id of the
 * previous page; 0 for the first). count: rows the version holds. */
mw_status mon_quarantine_list(mw_conn *c, const mon_version *v, int64_t from_ms,
                              int64_t to_ms, int limit, int64_t after_id,
                              cJSON **out, mw_err *err);
/* Attaches ground truth {labels: [{id, label}]} to logged predictions of v
 * by id; a label replaces an earlier one. All or nothing, like ingest:
 * unknown ids, ids of another version and wrong types are listed in
 * err->details. */
mw_status mon_ingest_labels(mon_ctx *m, mw_conn *c, const mon_version *v,
                            const cJSON *body, int64_t *accepted, mw_err *err);

/* ---- reference sets ---- */

/* Replaces v's reference set with {rows: [{features, prediction}]} (validated
 * like ingest) or {from, to} (RFC 3339; the predictions logged in [from,
 * to)). Precomputes and stores per column what the tests need. out: as
 * mon_reference_get. MW_EVALIDATION when the body or the range is empty. */
mw_status mon_reference_put(mon_ctx *m, mw_conn *c, const mon_version *v,
                            const cJSON *body, const char *actor, cJSON **out,
                            mw_err *err);
/* {version, source, from?, to?, count, created_at, created_by, columns:
 * [{name, type, count, missing, mean?, std?, min?, max?, categories?}]};
 * MW_ENOTFOUND when v has no reference. */
mw_status mon_reference_get(mw_conn *c, const mon_version *v, cJSON **out,
                            mw_err *err);

/* ---- drift ---- */

/* The stored drift settings of v with defaults filled in: {columns: {name:
 * {method, threshold}}, drift_share, interval_seconds, window_seconds,
 * schedule}. */
mw_status mon_drift_config_get(mon_ctx *m, mw_conn *c, const mon_version *v,
                               cJSON **out, mw_err *err);
/* Validates and replaces v's drift settings (same shape as the answer of
 * mon_drift_config_get; every key optional). out: the new settings. */
mw_status mon_drift_config_put(mon_ctx *m, mw_conn *c, const mon_version *v,
                               const cJSON *body, const char *actor, cJSON **out,
                               mw_err *err);
/* Computes the drift report of the window [from_ms, to_ms) against v's
 * reference (the JSON shape of GET .../drift, web/static/openapi.json). MW_ECONFLICT when
 * v has no reference set. Nothing is stored. */
mw_status mon_drift_report(mon_ctx *m, mw_conn *c, const mon_version *v,
                           int64_t from_ms, int64_t to_ms, cJSON **out, mw_err *err);
/* The drift report of the window [from_ms, to_ms) against the window of
 * the same length just before it, [2 from - to, from), of the same version
 * (GET .../drift?baseline=previous_window): computed as mon_drift_compare
 * computes a comparison (two-sample tests, the version's own settings and
 * correction), with "baseline": {type: "previous_window", version, from,
 * to, count, sampled?} instead of "reference", and the version's
 * performance as in mon_drift_report. No reference set is needed. An empty
 * previous window makes every column "no_data". Nothing is stored. */
mw_status mon_drift_report_previous(mon_ctx *m, mw_conn *c, const mon_version *v,
                                    int64_t from_ms, int64_t to_ms, cJSON **out,
                                    mw_err *err);
/* MW_OK when column is a categorical column of v's schema (a segment
 * column); else MW_EVALIDATION saying what it is. */
mw_status mon_segment_column_check(const mon_version *v, const char *column,
                                   mw_err *err);
/* The drift report of [from_ms, to_ms) (against the reference, or with
 * previous against the previous window: mon_drift_report_previous) with
 * "segment": {column, top | value, baseline, sampled?, baseline_sampled?}
 * and "segments": [{value, count, reference: {count}, dataset, columns,
 * performance?}]: per value of the categorical column, the window's rows
 * of that value against the reference's (or previous window's) rows of
 * that value, with v's methods, thresholds and correction (monitor/
 * segments.c). value NULL: the MON_SEGMENTS_TOP values with most rows in
 * the window (value null for missing values) and "__other__" for the
 * rest; else that value only (alert rules). The segment column is left out
 * of its segments' columns. MW_EVALIDATION for a column that is unknown
 * or numeric; MW_ECONFLICT when there is no reference set, or it was
 * stored before segments existed (migration 0021: PUT it again). Nothing
 * is stored. */
mw_status mon_drift_report_segments(mon_ctx *m, mw_conn *c, const mon_version *v,
                                    int64_t from_ms, int64_t to_ms, bool previous,
                                    const char *column, const char *value,
                                    cJSON **out, mw_err *err);
/* The report of one segment for an alert rule: segment is {"column":
 * "value"} as JSON text; mon_drift_report_segments with that value, then
 * the segment's count, dataset, columns and performance in place of the
 * whole window's (window.count is the segment's rows), "segment" saying
 * which. Errors as mon_drift_report_segments. */
mw_status mon_drift_report_segment(mon_ctx *m, mw_conn *c, const mon_version *v,
                                   int64_t from_ms, int64_t to_ms,
                                   const char *segment, cJSON **out, mw_err *err);
/* What a window says without a reference set: {model, version, window:
 * {from, to, count}, note, performance} (performance only when labels fall
 * in the window; note says why drift is missing). Lets alert rules on prediction_count and on performance metrics
 * run for versions that have no reference. Nothing is stored. */
mw_status mon_window_summary(mon_ctx *m, mw_conn *c, const mon_version *v,
                             int64_t from_ms, int64_t to_ms, cJSON **out,
                             mw_err *err);
/* mon_drift_report for a version named by model name and number (looked
 * up here), for callers that hold no mon_version, such as alert rules.
 * MW_ENOTFOUND when the version does not exist. */
mw_status mon_drift_report_for(mon_ctx *m, mw_conn *c, const char *model,
                               int64_t version, int64_t from_ms, int64_t to_ms,
                               cJSON **out, mw_err *err);
/* As mon_drift_report, then stores the report and its metrics as one point
 * of v's time series (trigger: "schedule" or "api"); with actor non-NULL
 * also an audit row (drift.evaluate), in the same transaction. */
mw_status mon_drift_evaluate(mon_ctx *m, mw_conn *c, const mon_version *v,
                             int64_t from_ms, int64_t to_ms, const char *trigger,
                             const char *actor, cJSON **out, mw_err *err);
/* {column, metric, points: [{at, value, window: {from, to}}]} of stored
 * evaluations in [from_ms, to_ms], oldest first, at most limit (1..10000)
 * points. column NULL or "" selects dataset metrics (drift_share,
 * drifted_columns, prediction_count, accuracy, precision, recall, f1, mae,
 * rmse, labelled_count); a column has score, statistic, p_value, drifted,
 * ks_d, ks_p_value, wasserstein, wasserstein_norm, psi, jensen_shannon,
 * chi2_statistic, chi2_p_value, z, z_p_value, count, missing, mean, std,
 * min, max (dataset_drift_share is accepted for drift_share). MW_EVALIDATION
 * for an unknown metric; an unknown column simply has no points. */
mw_status mon_drift_history(mw_conn *c, const mon_version *v, const char *column,
                            const char *metric, int64_t from_ms, int64_t to_ms,
                            int limit, cJSON **out, mw_err *err);
/* The value of a metric (names as for mon_drift_history) in the latest
 * stored evaluation of version_id, and when it was taken (at_ms may be
 * NULL). MW_ENOTFOUND when there is none (no evaluation, unknown metric, or
 * a statistic the latest evaluation did not have). */
mw_status mon_metric_latest(mw_conn *c, int64_t version_id, const char *column,
                            const char *metric, double *value, int64_t *at_ms);

/* ---- comparing two versions (canary and shadow rollouts) ---- */

/* Drift of cand's window [from_ms, to_ms) against base's window [from_ms,
 * to_ms) as the reference: the statistics, methods and thresholds of
 * cand's drift settings, computed as mon_drift_report computes them, with
 * base's window read into an in-memory reference (never stored; no
 * live-window cache). Columns are matched by name and kind; a column of
 * cand that base lacks, or has with another kind, is "insufficient_data"
 * with a reason. Categorical codes are mapped by value (values only base
 * has count as categories cand never saw). An empty window on either side
 * is no error: its columns are "no_data" and drift_share 0. The shape of
 * GET .../drift (web/static/openapi.json, DriftComparison) with
 * "baseline": {version, count, sampled?} instead of "reference" and no
 * performance. Memory: the window gets half the drift memory budget (read
 * as a report reads it, sampled beyond, "sampled" on the column), base's
 * numeric columns a quarter between them (an evenly strided sample beyond,
 * baseline.sampled: rows kept per column). m may be NULL (defaults, no
 * admission). Nothing is stored. */
mw_status mon_drift_compare(mon_ctx *m, mw_conn *c, const mon_version *base,
                            const mon_version *cand, int64_t from_ms, int64_t to_ms,
                            cJSON **out, mw_err *err);
/* Pairs cand's predictions logged in [from_ms, to_ms) with base's
 * predictions of the same ids (whenever base logged them), in one read
 * snapshot, and answers {model, version, baseline: {version}, window:
 * {from, to}, pairs, missing, kind: "categorical"|"numeric"}, plus for a
 * categorical prediction agreement (share of pairs whose predictions are
 * the same value; null without pairs), for a numeric one mean_abs_diff
 * (null without pairs) and rank_correlation (Spearman, average ranks for
 * ties; null with fewer than 2 pairs or a constant side) and, when the
 * correlation used an evenly strided sample of more than 2 M pairs,
 * sampled (pairs used). Pairs where either prediction is missing are left
 * out of everything and counted in missing. MW_ECONFLICT when one version
 * predicts categories and the other numbers; MW_EVALIDATION when either
 * has no schema. Nothing is stored. */
mw_status mon_shadow_compare(mw_conn *c, const mon_version *base,
                             const mon_version *cand, int64_t from_ms, int64_t to_ms,
                             cJSON **out, mw_err *err);

/* ---- operations ---- */

/* Appends the monitor's Prometheus text: ingest counters and, from each
 * version's latest stored evaluation, modelwatch_drift_score{model, version,
 * column, method} and modelwatch_dataset_drift_share{model, version}.
 * m may be NULL (no counters). */
mw_status mon_metrics_render(mon_ctx *m, mw_conn *c, mw_buf *out);
/* Deletes at most max_blocks prediction blocks (with their ids), and labels
 * and evaluations, older than cutoff_ms in one transaction. *deleted
 * receives the number of blocks removed (0 when nothing is left). */
mw_status mon_retention_step(mon_ctx *m, mw_conn *c, int64_t cutoff_ms,
                             int max_blocks, int64_t *deleted);
/* The same for model model_id alone (a model with a retention of its
 * own). mon_retention_step leaves such models out. */
mw_status mon_retention_step_model(mon_ctx *m, mw_conn *c, int64_t model_id,
                                   int64_t cutoff_ms, int max_blocks,
                                   int64_t *deleted);

/* ---- privacy (monitor/privacy.c, monitor/erasure.c) ---- */

/* Most ids one erasure takes. */
#define MON_ERASE_MAX_IDS 10000
/* Longest retention a model may be given, in days (100 years). */
#define MON_RETENTION_MAX_DAYS 36500

/* A model's own retention in days (*days 0: none, --retention-days
 * applies). MW_ENOTFOUND for an unknown model. */
mw_status mon_model_retention_get(mw_conn *c, const char *model, int64_t *days);
/* PUT /api/v1/models/{name}/retention: body {days: 1..36500 | null} (null
 * removes the model's own retention). Audited (model.retention). out:
 * {model, retention_days (null: none), default_retention_days}. */
mw_status mon_model_retention_put(mon_ctx *m, mw_conn *c, const char *model,
                                  const cJSON *body, const char *actor, cJSON **out,
                                  mw_err *err);
/* POST /api/v1/models/{name}/erasure: body {ids: [1..MON_ERASE_MAX_IDS
 * strings or integers]}. Removes the predictions and labels with those
 * ids from every version of the model in one transaction - rows of
 * blocks (rewritten without them), prediction ids, labels, and dictionary
 * values no row of the version uses any more - then takes the deleted
 * bytes out of the database files (monitor/store.h: erase_scrub).
 * Audited (model.erasure, with the counts, never the ids). out: {model,
 * ids, found, versions: [{version, predictions, labels}], predictions,
 * labels, categories}. */
mw_status mon_erase(mon_ctx *m, mw_conn *c, const char *model, const cJSON *body,
                    const char *actor, cJSON **out, mw_err *err);

#endif
