/* monitor/report.c - the drift report of a window against the version's
 * reference (monitor/report.h): columns are read one at a time from their
 * column blocks in one read transaction (so every column sees the same
 * rows), or brought up to date from the live-window cache, handed to a
 * small pool of threads that compute them (monitor/columns.c) under a
 * memory budget that bounds the values in flight, and assembled into the
 * JSON of GET .../drift. See monitor/monitor.h for what is exact and what
 * is sampled.
 *
 * Operations: mon__report and the public mon_drift_report,
 * mon_drift_report_for, mon_drift_compare, mon_window_summary (nothing is
 * stored). Cost: one read of every column of the window (or of the
 * difference to a cached window), one sort per numeric column; a
 * comparison also reads the baseline's window once and sorts its numeric
 * columns; at most opt.workers reports run at once. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/baseline.h"
#include "monitor/columns.h"
#include "monitor/context.h"
#include "monitor/quarantine.h"
#include "monitor/rcache.h"
#include "monitor/reference.h"
#include "monitor/report.h"
#include "monitor/settings.h"
#include "monitor/sketch_block.h"
#include "monitor/sketch_report.h"

/* Windows smaller than this (rows x columns) are computed on the calling
 * thread: starting threads would cost more than it saves. */
#define MON_PARALLEL_MIN_VALUES 200000

/* Admits at most opt.workers reports at once: each may hold up to
 * drift_memory_mb of window values, and under load (a dashboard per
 * operator, alert rules, the scheduler) unbounded concurrency multiplied
 * that (measured: 870 MB RSS at 64 connections with 2% drift queries).
 * Waiting reports queue on a condition variable. A report takes its slot
 * after its live-window cache entry, so one waiting for an entry holds no
 * slot (the holder of an entry never waits for another entry). */
static void admit(mon_ctx *m) {
  if(!m)
    return;
  int limit = m->opt.workers > 0 ? m->opt.workers : 1;
  pthread_mutex_lock(&m->report_mu);
  while(m->reports_running >= limit)
    pthread_cond_wait(&m->report_cv, &m->report_mu);
  m->reports_running++;
  pthread_mutex_unlock(&m->report_mu);
}

static void leave(mon_ctx *m) {
  if(!m)
    return;
  pthread_mutex_lock(&m->report_mu);
  assert(m->reports_running > 0);
  m->reports_running--;
  pthread_cond_signal(&m->report_cv);
  pthread_mutex_unlock(&m->report_mu);
}

/* {model, version, window: {from, to, count}}: how every report starts. */
static cJSON *report_head(const mon_version *v, int64_t from, int64_t to,
                          int64_t count) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", v->model);
  cJSON_AddNumberToObject(o, "version", (double)v->version);
  cJSON *jw = cJSON_AddObjectToObject(o, "window");
  mw_json_add_time(jw, "from", from);
  mw_json_add_time(jw, "to", to);
  cJSON_AddNumberToObject(jw, "count", (double)count);
  return o;
}

/* One report in the making. */
struct rep {
  mon_ctx *m;
  mw_conn *c;
  const mon_version *v;
  int64_t from, to;
  mon_options opt;
  mon_schema s;
  /* The reference: the cached stored one (borrowed through rent) or, for
   * a comparison, own_ref built from the baseline's window. */
  const mon_ref *ref;
  mon_rentry *rent;
  mon_ref own_ref;
  mon_dcfg cfg;
  mon_window w; /* the window, when it is streamed (not cached) */
  mon_wplan wp; /* the cached window, when wp.e */
  mon_job *jobs;
  mon_pool pool;
  int threads;
  size_t nnumeric;
  size_t budget;   /* doubles in flight */
  size_t cap_rows; /* rows of a column that are read whole (else sampled) */
  int64_t count;   /* rows in the window */
  /* Quarantined rows of v in the window: all, and by column invalid in */
  int64_t quarantined;
  int64_t *invalid;
  cJSON *perf;
  /* mon_drift_compare: the baseline version whose window [from, to) is the
   * reference (NULL: the stored reference), its schema, and per column of
   * v: the dictionary of v extended by the baseline's values (categorical
   * columns), why the column cannot be compared (NULL: it can), and the
   * rows each numeric reference column was sampled to (0: every row). */
  const mon_version *base;
  /* The baseline's window: [from, to) for a comparison of two versions;
   * with previous, base is v itself and [bfrom, bto) the window of the
   * same length just before (?baseline=previous_window). */
  int64_t bfrom, bto;
  bool previous;
  /* The window whose labels the performance covers (monitor/baseline.h:
   * moved back by the version's label delay). */
  int64_t pfrom, pto;
  mon_schema bs;
  mon_dict *dicts;
  char **unmatched;
  size_t ref_sampled;
};

/* Reads column col of the window for a cached entry: the rows leaving go
 * out of a categorical column's counts at once, a numeric column gets them
 * (and the rows entering) as arrays that mon__column_compute merges. */
static mw_status read_cached(mw_conn *c, mon_wplan *wp, mon_job *jb) {
  mw_status st = MW_OK;
  if(jb->column->kind == MON_COLUMN_CATEGORICAL) {
    mon_wcount out = {jb->w, -1}, in = {jb->w, 1};
    for(int k = 0; k < MON_WPLAN_REM && !st; k++)
      st = mon__window_visit(c, &wp->rem[k], jb->col, mon__wcol_count, &out);
    for(int k = 0; k < MON_WPLAN_ADD && !st; k++)
      st = mon__window_visit(c, &wp->add[k], jb->col, mon__wcol_count, &in);
    return st;
  }
  size_t nrem = (size_t)wp->nrem, nadd = (size_t)wp->nadd;
  jb->rem = malloc((nrem ? nrem : 1) * sizeof *jb->rem);
  jb->add = malloc((nadd ? nadd : 1) * sizeof *jb->add);
  if(!jb->rem || !jb->add)
    return MW_ENOMEM;
  mon_gather g;
  mon__gather_init(&g, jb->rem, nrem, 1, false, NULL);
  for(int k = 0; k < MON_WPLAN_REM && !st; k++)
    st = mon__window_visit(c, &wp->rem[k], jb->col, mon__gather_visit, &g);
  jb->nrem = g.n;
  mon__gather_init(&g, jb->add, nadd, 1, false, NULL);
  for(int k = 0; k < MON_WPLAN_ADD && !st; k++)
    st = mon__window_visit(c, &wp->add[k], jb->col, mon__gather_visit, &g);
  jb->nadd = g.n;
  if(st)
    return st;
  /* The merge touches the whole column once. */
  jb->reserve = jb->nrem + jb->nadd + jb->w->n;
  return MW_OK;
}

/* Reads a streamed numeric column: every row when it fits half the
 * budget, else an evenly strided sample with exact aggregates. */
static mw_status read_streamed(struct rep *r, mon_job *jb) {
  size_t stride = 1, rows = (size_t)r->w.count;
  if(rows > r->cap_rows) {
    stride = (rows + r->cap_rows - 1) / r->cap_rows;
    rows = (rows + stride - 1) / stride;
    jb->sampled = rows;
  }
  /* The values and the sort's scratch (4 MiB for large columns). */
  jb->reserve = (rows ? rows : 1) + mon_stats_sort_scratch(rows);
  if(r->threads)
    mon__pool_reserve(&r->pool, jb->reserve);
  if(!(jb->vals =
           r->threads ? mon__pool_vals(&r->pool, rows) : mon__vals_alloc(rows)))
    return MW_ENOMEM;
  jb->vals_mapped = true;
  mon__gather_init(&jb->agg, jb->vals, rows, stride, jb->sampled > 0,
                   jb->ref->has_bins ? &jb->ref->bins : NULL);
  if(jb->ref->nsorted > 0)
    mon__gather_range(&jb->agg, jb->ref->min, jb->ref->max);
  mw_status st =
      mon__window_visit(r->c, &r->w, jb->col, mon__gather_visit, &jb->agg);
  jb->n = jb->agg.n;
  if(jb->sampled)
    jb->sampled = jb->n;
  return st;
}

/* A categorical column: counts are tiny, computed here with the category
 * names (which only the reading thread can look up). */
static mw_status categorical_column(struct rep *r, mon_job *jb) {
  mw_status st = MW_OK;
  if(!r->wp.e && !r->base && (size_t)r->w.count > r->cap_rows) {
    /* Beyond the memory budget: the blocks' exact counts by code
     * (monitor/sketch_block.h) rather than every row. */
    st = mon__sketch_counts(r->c, &r->w, jb->col, jb->w);
  } else if(!r->wp.e) {
    mon_wcount in = {jb->w, 1};
    st = mon__window_visit(r->c, &r->w, jb->col, mon__wcol_count, &in);
  }
  mon_dict d;
  /* The names come from the database: a failed read fails the report. A
   * comparison has them already, with the baseline's own values after
   * v's (the codes its reference was counted under). */
  if(st || (!r->base && (st = mon__dict_load(r->c, r->v->id, jb->col, &d))))
    return st;
  /* Before the computation, which frees a streamed column's counts. */
  cJSON *hist = mon__column_histogram(jb, r->base ? &r->dicts[jb->col] : &d);
  if(!r->base)
    mon__dict_free(&d);
  mon__column_compute(jb);
  st = jb->st ? jb->st : hist ? MW_OK : MW_ENOMEM;
  if(jb->json && hist)
    cJSON_AddItemToObject(jb->json, "histogram", hist);
  else
    cJSON_Delete(hist);
  return st;
}

/* Reads column col and computes it, or queues it for the pool. */
static mw_status report_column(struct rep *r, size_t col) {
  mon_job *jb = &r->jobs[col];
  jb->col = col;
  jb->column = &r->s.cols[col];
  jb->ref = &r->ref->cols[col];
  jb->opt.method = r->cfg.cols[col].method;
  jb->opt.threshold = r->cfg.cols[col].threshold;
  jb->opt.all_pvalues = true;
  /* Against another version's live window, not an exact reference. */
  jb->opt.two_sample = r->base != NULL;
  jb->w = r->wp.e ? &r->wp.e->cols[col] : &jb->own;
  jb->baseline = r->base != NULL;
  jb->baseline_empty = r->base && r->ref->rows == 0;
  jb->unmatched = r->unmatched ? r->unmatched[col] : NULL;
  jb->invalid = r->invalid[col];
  mw_status st = MW_OK;
  if(r->wp.e && (st = read_cached(r->c, &r->wp, jb)))
    return st;
  if(jb->column->kind == MON_COLUMN_CATEGORICAL)
    return categorical_column(r, jb);
  /* Beyond the memory budget: the blocks' merged quantile summaries
   * (monitor/sketch_report.c), with their error bounds. */
  if(!r->wp.e && !r->base && (size_t)r->w.count > r->cap_rows)
    return mon__sketch_job(r->c, &r->w, jb);
  if(!r->wp.e) {
    jb->w = NULL;
    if((st = read_streamed(r, jb)))
      return st;
  } else if(r->threads) {
    mon__pool_reserve(&r->pool, jb->reserve);
  }
  if(r->threads) {
    mon__pool_submit(&r->pool, jb);
    return MW_OK;
  }
  mon__column_compute(jb);
  return jb->st;
}

/* Why a column of v cannot be compared with the baseline's column bk (-1:
 * none of that name; else one of another kind), malloc'd (NULL when memory
 * runs out). */
static char *unmatched_reason(const struct rep *r, long bk) {
  char why[200];
  if(bk < 0)
    snprintf(why, sizeof why, "version %lld has no column of this name",
             (long long)r->base->version);
  else
    snprintf(why, sizeof why, "the column is %s in version %lld",
             mon__kind_name(r->bs.cols[bk].kind), (long long)r->base->version);
  return strdup(why);
}

/* The dictionary of v's categorical column col extended by the values of
 * the baseline's column bk, which get fresh codes after v's own (in the
 * baseline's code order), into r->dicts[col]; map[c] (nmap entries, caller
 * frees) receives the code under which the baseline's code c is counted.
 * MW_ETOOBIG when the two together pass MON_MAX_CATEGORIES. */
static mw_status map_categories(struct rep *r, size_t col, size_t bk, long **map,
                                size_t *nmap) {
  *map = NULL;
  *nmap = 0;
  mon_dict bd;
  mw_status st = mon__dict_load(r->c, r->base->id, bk, &bd);
  if(st)
    return st;
  if(!(*map = malloc((bd.n ? bd.n : 1) * sizeof **map)))
    st = MW_ENOMEM;
  for(size_t k = 0; !st && k < bd.n; k++)
    st = mon__dict_intern(&r->dicts[col], bd.values[k], &(*map)[k]);
  if(!st)
    *nmap = bd.n;
  mon__dict_free(&bd);
  return st;
}

/* mon_drift_compare's reference, in the report's snapshot: the baseline's
 * window read column by column into reference columns matched to v's by
 * name and kind (monitor/reference.c builds them as it builds a stored
 * one), held in memory for this report only. Its numeric columns share a
 * quarter of the memory budget (half is the window's, report_run): each
 * keeps at most that share's rows, an evenly strided sample beyond. */
static mw_status compare_reference(struct rep *r, size_t budget) {
  size_t n = r->s.ncols, nnumeric = 0;
  r->dicts = calloc(n, sizeof *r->dicts);
  r->unmatched = calloc(n, sizeof *r->unmatched);
  r->own_ref.cols = calloc(n, sizeof *r->own_ref.cols);
  long *bcol = malloc(n * sizeof *bcol);
  r->ref = &r->own_ref;
  mw_status st =
      r->dicts && r->unmatched && r->own_ref.cols && bcol ? MW_OK : MW_ENOMEM;
  if(!st)
    r->own_ref.ncols = n;
  mw_strlcpy(r->own_ref.source, "window", sizeof r->own_ref.source);
  r->own_ref.from = r->bfrom;
  r->own_ref.to = r->bto;
  for(size_t k = 0; !st && k < n; k++) {
    const mon_column *cc = &r->s.cols[k];
    r->own_ref.cols[k].kind = cc->kind;
    long bk = mon__schema_find(&r->bs, cc->name, strlen(cc->name));
    if(bk < 0 || r->bs.cols[bk].kind != cc->kind) {
      if(!(r->unmatched[k] = unmatched_reason(r, bk)))
        st = MW_ENOMEM;
      bk = -1;
    }
    bcol[k] = bk;
    if(!st && cc->kind == MON_COLUMN_CATEGORICAL)
      st = mon__dict_load(r->c, r->v->id, k, &r->dicts[k]);
    nnumeric += bcol[k] >= 0 && cc->kind == MON_COLUMN_NUMERIC;
  }
  mon_window bw;
  memset(&bw, 0, sizeof bw);
  if(!st)
    st = mon__window_open(r->c, r->base->id, r->bs.ncols, r->bfrom, r->bto, &bw);
  r->own_ref.rows = bw.count;
  size_t max_rows = budget / 4 / (nnumeric ? nnumeric : 1);
  if(max_rows > MON_MAX_REF_ROWS)
    max_rows = MON_MAX_REF_ROWS;
  if(max_rows < 1)
    max_rows = 1;
  for(size_t k = 0; !st && k < n; k++) {
    if(bcol[k] < 0)
      continue;
    long *map = NULL;
    size_t nmap = 0, sampled = 0;
    if(r->s.cols[k].kind == MON_COLUMN_CATEGORICAL &&
       (st = map_categories(r, k, (size_t)bcol[k], &map, &nmap)) == MW_ETOOBIG) {
      char why[200];
      snprintf(why, sizeof why,
               "more than %d categories in this version and version %lld "
               "together",
               MON_MAX_CATEGORIES, (long long)r->base->version);
      st = (r->unmatched[k] = strdup(why)) ? MW_OK : MW_ENOMEM;
      free(map);
      continue;
    }
    if(!st)
      st = mon__refcol_from_window(r->c, &bw, (size_t)bcol[k], r->s.cols[k].kind,
                                   max_rows, map, nmap, &r->own_ref.cols[k],
                                   &sampled);
    if(sampled > r->ref_sampled)
      r->ref_sampled = sampled;
    free(map);
  }
  mon__window_free(&bw);
  free(bcol);
  return st;
}

/* Everything the report reads, in one read transaction: the reference (or
 * the baseline's window) and settings, the window (or its difference to
 * the cache entry), every column and the performance. Columns computing on
 * the pool may still run when it returns. */
static mw_status report_read(struct rep *r, bool use_cache, size_t budget,
                             mw_err *err) {
  mw_status st = r->base ? compare_reference(r, budget)
                         : mon__rcache_get(r->m ? &r->m->wc : NULL, r->c, r->v->id,
                                           r->s.ncols, &r->ref, &r->rent);
  /* The reference first: without one nothing is read or cached (alert
   * rules on such versions ask every evaluation). */
  if(st == MW_ENOTFOUND && !r->base)
    return mw_errf(err, MW_ECONFLICT,
                   "version %lld of model '%s' has no reference set: PUT "
                   ".../versions/%lld/reference first",
                   (long long)r->v->version, r->v->model, (long long)r->v->version);
  if(st == MW_EINTERNAL && !r->base)
    mon__ref_mismatch(r->c, r->v->id);
  if(st || (st = mon__dcfg_load(&r->opt, r->c, r->v, &r->s, &r->cfg)))
    return st;
  if(use_cache) {
    mon_wentry *we = r->wp.e;
    r->wp.e = NULL;
    if((st = mon__wcache_plan(r->m ? &r->m->wc : NULL, r->c, we, r->v->id,
                              r->s.ncols, r->nnumeric, r->from, r->to,
                              (int64_t)r->cap_rows, &r->wp)))
      return st;
  }
  if(!r->wp.e &&
     (st = mon__window_open(r->c, r->v->id, r->s.ncols, r->from, r->to, &r->w)))
    return st;
  r->count = r->wp.e ? r->wp.count : r->w.count;
  if(!(r->jobs = calloc(r->s.ncols, sizeof *r->jobs)) ||
     !(r->invalid = calloc(r->s.ncols, sizeof *r->invalid)))
    return MW_ENOMEM;
  /* The quality's invalid counts: v's quarantined rows of the window. */
  if((st = mon__quarantine_invalid(r->c, r->v->id, r->from, r->to, r->invalid,
                                   r->s.ncols, &r->quarantined)))
    return st;
  if((double)r->count * (double)r->s.ncols >= MON_PARALLEL_MIN_VALUES)
    r->threads = mon__pool_start(&r->pool, r->opt.workers, r->budget);
  for(size_t col = 0; col < r->s.ncols && !st; col++)
    st = report_column(r, col);
  /* A comparison of two versions is about the two windows' data; v's own
   * performance is its ordinary report's (which previous_window is). */
  mon__label_window(r->from, r->to, (int64_t)r->cfg.label_delay_seconds * 1000,
                    mw_now_ms(), &r->pfrom, &r->pto);
  if(!st && (!r->base || r->previous))
    st = mon__performance(r->c, r->v->id, &r->s.cols[r->s.ncols - 1], r->pfrom,
                          r->pto, &r->perf);
  return st;
}

/* "performance_window" {from, to, label_delay_seconds}: the window whose
 * labels a report's performance covers when the version has a label
 * delay (said also when no label fell in it, so performance is absent). */
static void add_performance_window(cJSON *o, int64_t from, int64_t to, int delay) {
  cJSON *j = cJSON_AddObjectToObject(o, "performance_window");
  mw_json_add_time(j, "from", from);
  mw_json_add_time(j, "to", to);
  cJSON_AddNumberToObject(j, "label_delay_seconds", delay);
}

/* Applies the version's multiple-testing correction to the computed
 * columns (their JSON and verdicts) before the dataset verdict. */
static mw_status correct(struct rep *r) {
  size_t n = r->s.ncols;
  if(r->cfg.correction == MON_CORRECTION_NONE || n == 0)
    return MW_OK;
  cJSON **cols = malloc(n * sizeof *cols);
  bool *ev = malloc(n * sizeof *ev), *dr = malloc(n * sizeof *dr);
  mw_status st = cols && ev && dr ? MW_OK : MW_ENOMEM;
  for(size_t k = 0; !st && k < n; k++) {
    cols[k] = r->jobs[k].json;
    ev[k] = r->jobs[k].evaluated;
    dr[k] = r->jobs[k].drifted;
  }
  if(!st && !(st = mon__correction_apply(r->cfg.correction, cols, ev, dr, n)))
    for(size_t k = 0; k < n; k++)
      r->jobs[k].drifted = dr[k];
  free(cols);
  free(ev);
  free(dr);
  return st;
}

/* The report's JSON from its computed columns (takes them over). */
static cJSON *report_json(struct rep *r, int64_t t0) {
  cJSON *o = report_head(r->v, r->from, r->to, r->count);
  cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(o, "window"),
                          "quarantined", (double)r->quarantined);
  if(r->previous) {
    cJSON *jb = cJSON_AddObjectToObject(o, "baseline");
    cJSON_AddStringToObject(jb, "type", "previous_window");
    cJSON_AddNumberToObject(jb, "version", (double)r->v->version);
    mw_json_add_time(jb, "from", r->bfrom);
    mw_json_add_time(jb, "to", r->bto);
    cJSON_AddNumberToObject(jb, "count", (double)r->ref->rows);
    if(r->ref_sampled)
      cJSON_AddNumberToObject(jb, "sampled", (double)r->ref_sampled);
  } else if(r->base) {
    cJSON *jb = cJSON_AddObjectToObject(o, "baseline");
    cJSON_AddNumberToObject(jb, "version", (double)r->base->version);
    cJSON_AddNumberToObject(jb, "count", (double)r->ref->rows);
    if(r->ref_sampled)
      cJSON_AddNumberToObject(jb, "sampled", (double)r->ref_sampled);
  } else {
    cJSON *jr = cJSON_AddObjectToObject(o, "reference");
    cJSON_AddNumberToObject(jr, "count", (double)r->ref->rows);
    cJSON_AddStringToObject(jr, "source", r->ref->source);
    mw_json_add_time(jr, "created_at", r->ref->created_at);
  }
  size_t nevaluated = 0, ndrifted = 0;
  for(size_t col = 0; col < r->s.ncols; col++) {
    nevaluated += r->jobs[col].evaluated;
    ndrifted += r->jobs[col].drifted;
  }
  cJSON *jd = cJSON_AddObjectToObject(o, "dataset");
  cJSON_AddNumberToObject(jd, "drift_share",
                          nevaluated ? (double)ndrifted / (double)nevaluated : 0.0);
  cJSON_AddBoolToObject(
      jd, "drifted",
      mon_stats_dataset_drifted(ndrifted, nevaluated, r->cfg.drift_share));
  cJSON_AddNumberToObject(jd, "threshold", r->cfg.drift_share);
  cJSON_AddNumberToObject(jd, "drifted_columns", (double)ndrifted);
  cJSON_AddNumberToObject(jd, "evaluated_columns", (double)nevaluated);
  if(r->cfg.correction != MON_CORRECTION_NONE)
    cJSON_AddStringToObject(jd, "correction",
                            mon__correction_name(r->cfg.correction));
  cJSON *jc = cJSON_AddArrayToObject(o, "columns");
  for(size_t col = 0; col < r->s.ncols; col++) {
    cJSON_AddItemToArray(jc, r->jobs[col].json);
    r->jobs[col].json = NULL;
  }
  if(r->perf) {
    cJSON_AddItemToObject(o, "performance", r->perf);
    r->perf = NULL;
  }
  if(r->cfg.label_delay_seconds > 0 && (!r->base || r->previous))
    add_performance_window(o, r->pfrom, r->pto, r->cfg.label_delay_seconds);
  cJSON_AddNumberToObject(o, "elapsed_ms",
                          (double)((mw_mono_ns() - t0) / 1000) / 1000.0);
  return o;
}

static void report_free(struct rep *r) {
  for(size_t col = 0; r->jobs && col < r->s.ncols; col++)
    mon__column_free(&r->jobs[col]);
  free(r->jobs);
  free(r->invalid);
  cJSON_Delete(r->perf);
  mon__window_free(&r->w);
  mon__dcfg_free(&r->cfg);
  mon__rcache_put(r->m ? &r->m->wc : NULL, r->rent);
  mon__ref_free(&r->own_ref);
  for(size_t col = 0; col < r->s.ncols; col++) {
    if(r->dicts)
      mon__dict_free(&r->dicts[col]);
    if(r->unmatched)
      free(r->unmatched[col]);
  }
  free(r->dicts);
  free(r->unmatched);
  mon__schema_free(&r->bs);
  mon__schema_free(&r->s);
}

/* The report of v's window [from, to) against its stored reference, or
 * with base against base's window [from, to) (no cache then). */
static mw_status report_run(mon_ctx *m, mw_conn *c, const mon_version *v,
                            const mon_version *base, bool previous, int64_t from,
                            int64_t to, bool use_cache, bool *cached, cJSON **out,
                            mw_err *err) {
  assert(!base || !use_cache);
  assert(!previous || base == v);
  *out = NULL;
  int64_t t0 = mw_mono_ns();
  struct rep r;
  memset(&r, 0, sizeof r);
  r.m = m;
  r.c = c;
  r.v = v;
  r.base = base;
  r.from = from;
  r.to = to;
  r.previous = previous;
  if(previous)
    mon__previous_window(from, to, &r.bfrom, &r.bto);
  else
    r.bfrom = from, r.bto = to;
  r.opt = mon__options(m);
  mw_status st = mon__schema_parse(v->schema_json, v, &r.s, err);
  if(!st && base)
    st = mon__schema_parse(base->schema_json, base, &r.bs, err);
  if(st) {
    report_free(&r);
    return st;
  }
  r.nnumeric = mon__schema_numeric(&r.s);
  /* A comparison holds its reference in memory too: the window gets half
   * the budget, the reference a quarter (compare_reference), and the
   * remaining quarter covers building one reference column at a time. */
  size_t total = (size_t)r.opt.drift_memory_mb * ((size_t)1 << 20) / sizeof(double);
  r.budget = base ? total / 2 : total;
  /* A column in flight is its values plus the sort's scratch up to
   * MON_STATS_SORT_LSD_MAX rows, its values alone above: a budget of more
   * than twice that reads a column of up to the whole budget exactly. */
  r.cap_rows = r.budget > 2 * MON_STATS_SORT_LSD_MAX ? r.budget : r.budget / 2;
  /* Taken before the snapshot, so an entry another report is updating is
   * waited for and continued from rather than read again. */
  if(use_cache)
    r.wp.e = mon__wcache_acquire(m ? &m->wc : NULL, v->id, r.s.ncols, from, to);
  admit(m);
  mon__flight_seal(); /* later requests would miss rows committed from now */
  if(!(st = mon__read_begin(c))) {
    st = report_read(&r, use_cache, total, err);
    mon__read_end(c);
  }
  *cached = r.wp.e != NULL;
  if(r.threads)
    mon__pool_finish(&r.pool);
  for(size_t col = 0; col < r.s.ncols && !st; col++)
    st = r.jobs[col].st;
  mon__wcache_done(m ? &m->wc : NULL, &r.wp, !st, r.nnumeric);
  leave(m);
  if(!st)
    st = correct(&r);
  if(!st)
    *out = report_json(&r, t0);
  report_free(&r);
  return st;
}

struct report_args {
  mon_ctx *m;
  mw_conn *c;
  const mon_version *v;
  int64_t from, to;
};

static mw_status report_flight(void *ctx, cJSON **out, mw_err *err) {
  struct report_args *a = ctx;
  mon_ctx *m = a->m;
  mw_conn *c = a->c;
  const mon_version *v = a->v;
  int64_t from = a->from, to = a->to;
  bool cached = false;
  mw_status st = report_run(m, c, v, NULL, false, from, to, true, &cached, out, err);
  if(st == MW_EINTERNAL && cached) {
    /* The cache lost track of its rows (a bug, logged): the entry is gone;
     * the client still gets the report, read afresh. */
    st = report_run(m, c, v, NULL, false, from, to, false, &cached, out, err);
  }
  return st;
}

/* Requests for the same window that arrive while its report waits to
 * start share it (monitor/flight.c). */
mw_status mon__report(mon_ctx *m, mw_conn *c, const mon_version *v, int64_t from,
                      int64_t to, cJSON **out, mw_err *err) {
  struct report_args a = {m, c, v, from, to};
  return mon__flight_do(m ? &m->wc.flights : NULL, v->id, from, to, mw_now_ms(),
                        report_flight, &a, out, err);
}

mw_status mon_drift_compare(mon_ctx *m, mw_conn *c, const mon_version *base,
                            const mon_version *cand, int64_t from_ms, int64_t to_ms,
                            cJSON **out, mw_err *err) {
  assert(base && cand);
  /* No live-window cache: its entries are per version and window, and a
   * comparison would evict the ordinary reports' entries for a one-off. */
  bool cached = false;
  return report_run(m, c, cand, base, false, from_ms, to_ms, false, &cached, out,
                    err);
}

mw_status mon_drift_report_previous(mon_ctx *m, mw_conn *c, const mon_version *v,
                                    int64_t from_ms, int64_t to_ms, cJSON **out,
                                    mw_err *err) {
  /* The version against itself, one window earlier: a comparison of two
   * windows (two-sample tests, no live-window cache). */
  bool cached = false;
  return report_run(m, c, v, v, true, from_ms, to_ms, false, &cached, out, err);
}

mw_status mon_drift_report(mon_ctx *m, mw_conn *c, const mon_version *v,
                           int64_t from_ms, int64_t to_ms, cJSON **out,
                           mw_err *err) {
  return mon__report(m, c, v, from_ms, to_ms, out, err);
}

mw_status mon_window_summary(mon_ctx *m, mw_conn *c, const mon_version *v,
                             int64_t from_ms, int64_t to_ms, cJSON **out,
                             mw_err *err) {
  *out = NULL;
  mon_schema s;
  mon_window w;
  mon_dcfg cfg;
  cJSON *perf = NULL;
  int64_t pfrom = from_ms, pto = to_ms;
  memset(&w, 0, sizeof w);
  memset(&cfg, 0, sizeof cfg);
  mon_options opt = mon__options(m);
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  if((st = mon__read_begin(c))) {
    mon__schema_free(&s);
    return st;
  }
  st = mon__window_open(c, v->id, s.ncols, from_ms, to_ms, &w);
  if(!st)
    st = mon__dcfg_load(&opt, c, v, &s, &cfg);
  if(!st) {
    mon__label_window(from_ms, to_ms, (int64_t)cfg.label_delay_seconds * 1000,
                      mw_now_ms(), &pfrom, &pto);
    st = mon__performance(c, v->id, &s.cols[s.ncols - 1], pfrom, pto, &perf);
  }
  mon__read_end(c);
  if(!st) {
    cJSON *o = report_head(v, from_ms, to_ms, w.count);
    cJSON_AddStringToObject(o, "note",
                            "no reference set: drift needs one "
                            "(PUT .../reference)");
    if(perf) {
      cJSON_AddItemToObject(o, "performance", perf);
      perf = NULL;
    }
    if(cfg.label_delay_seconds > 0)
      add_performance_window(o, pfrom, pto, cfg.label_delay_seconds);
    *out = o;
  }
  cJSON_Delete(perf);
  mon__dcfg_free(&cfg);
  mon__window_free(&w);
  mon__schema_free(&s);
  return st;
}

mw_status mon_drift_report_for(mon_ctx *m, mw_conn *c, const char *model,
                               int64_t version, int64_t from_ms, int64_t to_ms,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  mon_version v = {0, 0, model, version, NULL};
  char *schema = NULL;
  mw_status st =
      mon__store(c)->version_find(c, model, version, &v.id, &v.model_id, &schema);
  if(st == MW_ENOTFOUND)
    return mw_errf(err, st, "model '%s' has no version %lld", model,
                   (long long)version);
  if(st)
    return st;
  v.schema_json = schema;
  st = mon__report(m, c, &v, from_ms, to_ms, out, err);
  free(schema);
  return st;
}
