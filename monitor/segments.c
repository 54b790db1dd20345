/* monitor/segments.c - drift per segment (GET .../drift?segment=<column>,
 * alert rules with a segment): the rows of the window are grouped by the
 * value of a categorical column (the MON_SEGMENTS_TOP values with most
 * rows in the window, then the rest as one "__other__" segment), and
 * each group is compared with the reference's rows of the same value(s):
 * the stored reference's rows (reference_rows, kept since migration 0021)
 * or, with ?baseline=previous_window, the previous window's. Each segment
 * is computed as a report computes a column (monitor/columns.c) with the
 * version's methods, thresholds and correction; the segment column itself
 * is left out of its segments (it is constant in each). Performance per
 * segment pairs the window's labels with their rows through the
 * prediction ids (labels sent without an id have no row to follow and
 * are left out of the segments).
 *
 * Operations and cost: mon_drift_report_segments - the report of the
 * whole window (monitor/report.c), then in one read snapshot: the segment
 * column of the window and of the reference, then one column at a time
 * (window, reference, each split by group in one pass, every group's
 * statistics on its part: one sort per numeric group); the ids and labels
 * of the window once when there are labels. Memory: a column of the
 * window and of the reference at a time, twice (values and their split);
 * a window of more rows than a quarter of the drift memory budget is read
 * as an evenly strided sample (segment.sampled: rows used). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/baseline.h"
#include "monitor/columns.h"
#include "monitor/context.h"
#include "monitor/correction.h"
#include "monitor/dict.h"
#include "monitor/pack.h"
#include "monitor/reference.h"
#include "monitor/report.h"
#include "monitor/segments.h"
#include "monitor/settings.h"

/* ------------------------------------------------------------- ranking */

struct x__cand {
  long code;
  double count;
  const char *name; /* NULL: compare by code */
};

static int x__heavier(const void *a, const void *b) {
  const struct x__cand *x = a, *y = b;
  if(x->count != y->count)
    return x->count > y->count ? -1 : 1;
  /* The missing value after every value of its count. */
  if((x->code == MON_SEGMENT_MISSING) != (y->code == MON_SEGMENT_MISSING))
    return x->code == MON_SEGMENT_MISSING ? 1 : -1;
  if(x->name && y->name) {
    int c = strcmp(x->name, y->name);
    if(c)
      return c;
  }
  return x->code < y->code ? -1 : x->code > y->code;
}

long mon__segments_rank(const double *counts, const char *const *names,
                        size_t ncodes, double missing, size_t top,
                        mon_segment_group *groups, long *group_of_code,
                        long *group_of_missing) {
  struct x__cand *c = malloc((ncodes + 1) * sizeof *c);
  if(!c)
    return -1;
  size_t n = 0;
  for(size_t k = 0; k < ncodes; k++) {
    group_of_code[k] = -1;
    if(counts[k] > 0)
      c[n++] = (struct x__cand){(long)k, counts[k], names ? names[k] : NULL};
  }
  *group_of_missing = -1;
  if(missing > 0)
    c[n++] = (struct x__cand){MON_SEGMENT_MISSING, missing, NULL};
  qsort(c, n, sizeof *c, x__heavier);
  size_t ng = n < top ? n : top;
  for(size_t g = 0; g < ng; g++) {
    groups[g].code = c[g].code;
    groups[g].count = c[g].count;
    if(c[g].code == MON_SEGMENT_MISSING)
      *group_of_missing = (long)g;
    else
      group_of_code[c[g].code] = (long)g;
  }
  if(n > ng) {
    double rest = 0;
    for(size_t k = ng; k < n; k++)
      rest += c[k].count;
    groups[ng].code = MON_SEGMENT_OTHER;
    groups[ng].count = rest;
    /* Everything without a group of its own, also values only the
     * reference has, is the other segment. */
    for(size_t k = 0; k < ncodes; k++)
      if(group_of_code[k] < 0)
        group_of_code[k] = (long)ng;
    if(*group_of_missing < 0)
      *group_of_missing = (long)ng;
    ng++;
  }
  free(c);
  return (long)ng;
}

/* ------------------------------------------------------------- reading */

/* One side of the comparison: the window, or the reference's rows (the
 * stored reference's, or the previous window's). */
struct side {
  bool stored;   /* the stored reference's rows (refrows_get) */
  mon_window w;  /* a window side: its rows */
  size_t stride; /* every stride-th row of the window */
  size_t rows;   /* rows read per column */
  long *grp;     /* group of each row read, -1: none */
  size_t *off;   /* per group: where its rows start after a split (ng + 1) */
};

/* One segmented report in the making. */
struct seg {
  mon_ctx *m;
  mw_conn *c;
  const mon_version *v;
  int64_t from, to;
  bool previous;
  size_t col;       /* the segment column */
  const char *only; /* one value only (alert rules), else NULL */
  bool only_found;  /* only is a value of the dictionary */
  long only_code;   /* its code */
  mon_options opt;
  mon_schema s;
  mon_dcfg cfg;
  mon_dict sd; /* the segment column's dictionary */
  struct side win, ref;
  mon_segment_group *groups;
  long ng;
  long *group_of_code;
  long group_of_missing;
  cJSON **cols; /* ng x ncols column results (NULL: left out) */
  bool *evaluated, *drifted;
  cJSON **perf;      /* per group; NULL: no labels */
  bool perf_skipped; /* too many rows to pair labels by id */
};

/* Column col of side sd in row order into *vals (sd->rows values). */
static mw_status side_read(struct seg *S, struct side *sd, size_t col,
                           double **vals) {
  *vals = NULL;
  if(sd->stored) {
    size_t n = 0;
    mw_status st = mon__store(S->c)->refrows_get(S->c, S->v->id, col, vals, &n);
    if(!st && n != sd->rows) {
      st = MW_EINTERNAL; /* columns of one reference have as many rows */
      mon__ref_mismatch(S->c, S->v->id);
    }
    if(st) {
      free(*vals);
      *vals = NULL;
    }
    return st;
  }
  if(!(*vals = malloc((sd->rows ? sd->rows : 1) * sizeof **vals)))
    return MW_ENOMEM;
  mon_gather g;
  mon__gather_init(&g, *vals, sd->rows, sd->stride, false, NULL);
  mw_status st = mon__window_visit(S->c, &sd->w, col, mon__gather_visit, &g);
  if(!st && g.n != sd->rows)
    st = MW_EINTERNAL;
  if(st) {
    free(*vals);
    *vals = NULL;
  }
  return st;
}

/* The group of a segment column value (a code, or NaN: missing). */
static long group_of(const struct seg *S, double x) {
  if(isnan(x))
    return S->group_of_missing;
  if(x < 0 || x >= (double)S->sd.n)
    return -1;
  return S->group_of_code[(size_t)x];
}

/* Reads side sd's segment column and gives each row its group; counts
 * the groups' rows into sd->off. */
static mw_status side_groups(struct seg *S, struct side *sd, const double *codes) {
  sd->grp = malloc((sd->rows ? sd->rows : 1) * sizeof *sd->grp);
  sd->off = calloc((size_t)S->ng + 2, sizeof *sd->off);
  if(!sd->grp || !sd->off)
    return MW_ENOMEM;
  for(size_t i = 0; i < sd->rows; i++) {
    long g = group_of(S, codes[i]);
    sd->grp[i] = g;
    if(g >= 0)
      sd->off[g + 1]++;
  }
  for(long g = 0; g < S->ng; g++)
    sd->off[g + 1] += sd->off[g];
  return MW_OK;
}

/* Values vals of side sd reordered by group into out (sd->off). */
static mw_status side_split(const struct seg *S, const struct side *sd,
                            const double *vals, double **out) {
  size_t n = sd->off[S->ng];
  size_t *pos = malloc(((size_t)S->ng + 1) * sizeof *pos);
  *out = malloc((n ? n : 1) * sizeof **out);
  if(!pos || !*out) {
    free(pos);
    free(*out);
    *out = NULL;
    return MW_ENOMEM;
  }
  memcpy(pos, sd->off, ((size_t)S->ng + 1) * sizeof *pos);
  for(size_t i = 0; i < sd->rows; i++)
    if(sd->grp[i] >= 0)
      (*out)[pos[sd->grp[i]]++] = vals[i];
  free(pos);
  return MW_OK;
}

/* ------------------------------------------------------------ columns */

/* Group g of column col: its window part cur[0..nc) against its reference
 * part ref[0..nr) (reordered here), computed as a report computes a column.
 * d: the column's dictionary (categorical). */
static mw_status group_column(struct seg *S, size_t col, long g, const double *cur,
                              size_t nc, double *ref, size_t nr, const mon_dict *d) {
  const mon_column *cc = &S->s.cols[col];
  mon_ref tmp;
  memset(&tmp, 0, sizeof tmp);
  if(!(tmp.cols = calloc(1, sizeof *tmp.cols)))
    return MW_ENOMEM;
  tmp.ncols = 1;
  mw_status st = mon__refcol_build(cc->kind, ref, nr, &tmp.cols[0]);
  mon_job jb;
  memset(&jb, 0, sizeof jb);
  jb.col = col;
  jb.column = cc;
  jb.ref = &tmp.cols[0];
  jb.opt.method = S->cfg.cols[col].method;
  jb.opt.threshold = S->cfg.cols[col].threshold;
  jb.opt.all_pvalues = true;
  jb.opt.two_sample = S->previous;
  jb.baseline = S->previous;
  jb.baseline_empty = S->previous && nr == 0;
  jb.invalid = -1; /* quarantined rows are not split by segment */
  cJSON *hist = NULL;
  if(!st && cc->kind == MON_COLUMN_NUMERIC) {
    if(!(jb.vals = malloc((nc ? nc : 1) * sizeof *jb.vals)))
      st = MW_ENOMEM;
    else
      memcpy(jb.vals, cur, nc * sizeof *cur);
    jb.n = nc;
  } else if(!st) {
    jb.w = &jb.own;
    jb.own.ncounts = d->n;
    if(!(jb.own.counts = calloc(d->n ? d->n : 1, sizeof *jb.own.counts)))
      st = MW_ENOMEM;
    for(size_t i = 0; !st && i < nc; i++) {
      if(isnan(cur[i]))
        jb.own.missing++;
      else if(cur[i] >= 0 && cur[i] < (double)d->n)
        jb.own.counts[(size_t)cur[i]] += 1;
    }
    if(!st && !(hist = mon__column_histogram(&jb, d)))
      st = MW_ENOMEM;
  }
  if(!st) {
    mon__column_compute(&jb);
    st = jb.st;
  }
  if(!st && jb.json) {
    if(hist) {
      cJSON_AddItemToObject(jb.json, "histogram", hist);
      hist = NULL;
    }
    size_t at = (size_t)g * S->s.ncols + col;
    S->cols[at] = jb.json;
    S->evaluated[at] = jb.evaluated;
    S->drifted[at] = jb.drifted;
    jb.json = NULL;
  }
  cJSON_Delete(hist);
  mon__column_free(&jb);
  mon__ref_free(&tmp);
  return st;
}

/* Every group of column col. */
static mw_status segment_column(struct seg *S, size_t col) {
  double *wv = NULL, *rv = NULL, *ws = NULL, *rs = NULL;
  mon_dict d;
  mon__dict_init(&d);
  mw_status st = side_read(S, &S->win, col, &wv);
  if(!st)
    st = side_read(S, &S->ref, col, &rv);
  if(!st)
    st = side_split(S, &S->win, wv, &ws);
  free(wv);
  if(!st)
    st = side_split(S, &S->ref, rv, &rs);
  free(rv);
  if(!st && S->s.cols[col].kind == MON_COLUMN_CATEGORICAL) {
    mon__dict_free(&d);
    st = mon__dict_load(S->c, S->v->id, col, &d);
  }
  for(long g = 0; !st && g < S->ng; g++)
    st = group_column(S, col, g, ws + S->win.off[g],
                      S->win.off[g + 1] - S->win.off[g], rs + S->ref.off[g],
                      S->ref.off[g + 1] - S->ref.off[g], &d);
  mon__dict_free(&d);
  free(ws);
  free(rs);
  return st;
}

/* -------------------------------------------------------- performance */

/* A row of the performance window with an id, and its group. */
struct x__idrow {
  char *id;
  long g;
};

static int x__by_id(const void *a, const void *b) {
  return strcmp(((const struct x__idrow *)a)->id, ((const struct x__idrow *)b)->id);
}

struct idread {
  const struct seg *S;
  const mon_wblock **blocks;
  const long *grp; /* group of each row of the window, in visit order */
  size_t row;      /* rows passed */
  struct x__idrow *rows;
  size_t n;
};

/* chunks_read callback: the ids of one block's rows in the window. */
static mw_status read_ids(void *ctx, size_t i, const void *data, size_t len) {
  struct idread *r = ctx;
  const mon_wblock *b = r->blocks[i];
  if(!data) { /* a block logged without ids */
    r->row += (size_t)b->nsel;
    return MW_OK;
  }
  const char **ids = malloc((size_t)b->n * sizeof *ids);
  if(!ids)
    return MW_ENOMEM;
  mw_status st =
      mon__unpack_ids(data, len, (size_t)b->n, ids) ? MW_OK : MW_EINTERNAL;
  for(int64_t k = 0; !st && k < b->n; k++) {
    if(b->mask && !b->mask[k])
      continue;
    long g = r->grp[r->row++];
    if(g < 0 || !ids[k][0])
      continue;
    if(!(r->rows[r->n].id = strdup(ids[k])))
      st = MW_ENOMEM;
    else
      r->rows[r->n++].g = g;
  }
  free(ids);
  return st;
}

struct labelpair {
  struct x__idrow *rows;
  size_t n;
  mon_perf **perf;
};

static void pair_label(void *ctx, const char *ext_id, double pred, double label) {
  struct labelpair *lp = ctx;
  if(!ext_id)
    return;
  struct x__idrow key = {(char *)ext_id, 0};
  const struct x__idrow *hit = bsearch(&key, lp->rows, lp->n, sizeof key, x__by_id);
  if(hit)
    mon__perf_add(lp->perf[hit->g], pred, label);
}

/* Performance of each group over the labels of [pfrom, pto) (the report's
 * performance window): the window's rows are grouped by their segment
 * value, labels find their row by id. Skipped (perf_skipped) beyond
 * MON_MAX_REF_ROWS rows: every id is held in memory. */
static mw_status segment_performance(struct seg *S, int64_t pfrom, int64_t pto) {
  mon_window w;
  memset(&w, 0, sizeof w);
  double *codes = NULL;
  long *grp = NULL;
  int64_t *bids = NULL;
  const mon_wblock **blocks = NULL;
  struct idread r = {S, NULL, NULL, 0, NULL, 0};
  mon_perf **perf = calloc((size_t)S->ng, sizeof *perf);
  mw_status st = perf ? MW_OK : MW_ENOMEM;
  for(long g = 0; !st && g < S->ng; g++)
    if(!(perf[g] = mon__perf_new(&S->s.cols[S->s.ncols - 1])))
      st = MW_ENOMEM;
  if(!st)
    st = mon__window_open(S->c, S->v->id, S->s.ncols, pfrom, pto, &w);
  if(!st && w.count > MON_MAX_REF_ROWS) {
    S->perf_skipped = true;
    goto out;
  }
  size_t rows = (size_t)w.count, nb = 0;
  codes = malloc((rows ? rows : 1) * sizeof *codes);
  grp = malloc((rows ? rows : 1) * sizeof *grp);
  r.rows = malloc((rows ? rows : 1) * sizeof *r.rows);
  bids = malloc((w.nblocks ? w.nblocks : 1) * sizeof *bids);
  blocks = malloc((w.nblocks ? w.nblocks : 1) * sizeof *blocks);
  if(!st && (!codes || !grp || !r.rows || !bids || !blocks))
    st = MW_ENOMEM;
  if(!st) {
    mon_gather g;
    mon__gather_init(&g, codes, rows, 1, false, NULL);
    st = mon__window_visit(S->c, &w, S->col, mon__gather_visit, &g);
    if(!st && g.n != rows)
      st = MW_EINTERNAL;
  }
  for(size_t i = 0; !st && i < rows; i++)
    grp[i] = group_of(S, codes[i]);
  for(size_t i = 0; !st && i < w.nblocks; i++)
    if(w.blocks[i].nsel > 0) {
      bids[nb] = w.blocks[i].id;
      blocks[nb++] = &w.blocks[i];
    }
  r.blocks = blocks;
  r.grp = grp;
  if(!st && nb)
    st = mon__store(S->c)->chunks_read(S->c, mon__slot_ids(S->s.ncols), bids, nb,
                                       read_ids, &r);
  if(!st) {
    qsort(r.rows, r.n, sizeof *r.rows, x__by_id);
    struct labelpair lp = {r.rows, r.n, perf};
    st = mon__store(S->c)->labels_visit(S->c, S->v->id, pfrom, pto, true, pair_label,
                                        &lp);
  }
  if(!st && !(S->perf = calloc((size_t)S->ng, sizeof *S->perf)))
    st = MW_ENOMEM;
  for(long g = 0; !st && g < S->ng; g++)
    st = mon__perf_json(perf[g], &S->perf[g]);
out:
  for(size_t i = 0; r.rows && i < r.n; i++)
    free(r.rows[i].id);
  free(r.rows);
  for(long g = 0; perf && g < S->ng; g++)
    mon__perf_free(perf[g]);
  free(perf);
  free(codes);
  free(grp);
  free(bids);
  free(blocks);
  mon__window_free(&w);
  return st;
}

/* ------------------------------------------------------------ the run */

static void seg_free(struct seg *S) {
  size_t cells = S->ng > 0 ? (size_t)S->ng * S->s.ncols : 0;
  for(size_t k = 0; S->cols && k < cells; k++)
    cJSON_Delete(S->cols[k]);
  for(long g = 0; S->perf && g < S->ng; g++)
    cJSON_Delete(S->perf[g]);
  free(S->cols);
  free(S->evaluated);
  free(S->drifted);
  free(S->perf);
  free(S->groups);
  free(S->group_of_code);
  struct side *sides[] = {&S->win, &S->ref};
  for(size_t i = 0; i < 2; i++) {
    mon__window_free(&sides[i]->w);
    free(sides[i]->grp);
    free(sides[i]->off);
  }
  mon__dict_free(&S->sd);
  mon__dcfg_free(&S->cfg);
  mon__schema_free(&S->s);
}

/* Rows of a window side: all of them, or an evenly strided sample of at
 * most cap. */
static void side_plan(struct side *sd, size_t cap) {
  size_t count = (size_t)sd->w.count;
  sd->stride = count > cap ? (count + cap - 1) / cap : 1;
  sd->rows = (count + sd->stride - 1) / sd->stride;
}

/* The groups: the ranking of the window's values (exact counts), or the
 * one value asked for. */
static mw_status make_groups(struct seg *S) {
  size_t nc = S->sd.n;
  S->groups = malloc((MON_SEGMENTS_TOP + 1) * sizeof *S->groups);
  S->group_of_code = malloc((nc ? nc : 1) * sizeof *S->group_of_code);
  if(!S->groups || !S->group_of_code)
    return MW_ENOMEM;
  mon_wcol counts;
  memset(&counts, 0, sizeof counts);
  mon_wcount in = {&counts, 1};
  mw_status st = mon__window_visit(S->c, &S->win.w, S->col, mon__wcol_count, &in);
  if(!st) {
    double *byc = calloc(nc ? nc : 1, sizeof *byc);
    if(!byc) {
      st = MW_ENOMEM;
    } else {
      for(size_t k = 0; k < nc && k < counts.ncounts; k++)
        byc[k] = counts.counts[k];
      if(S->only) {
        for(size_t k = 0; k < nc; k++)
          S->group_of_code[k] = -1;
        S->group_of_missing = -1;
        long code = mon__dict_find(&S->sd, S->only);
        S->groups[0].code = code >= 0 ? code : MON_SEGMENT_OTHER;
        S->groups[0].count = code >= 0 ? byc[code] : 0;
        if(code >= 0)
          S->group_of_code[code] = 0;
        S->ng = 1;
      } else {
        S->ng = mon__segments_rank(
            byc, (const char *const *)S->sd.values, nc, (double)counts.missing,
            MON_SEGMENTS_TOP, S->groups, S->group_of_code, &S->group_of_missing);
        if(S->ng < 0)
          st = MW_ENOMEM;
      }
      free(byc);
    }
  }
  free(counts.counts);
  return st;
}

/* Everything read in one snapshot: settings, dictionary, both sides, each
 * column of each group, and the groups' performance. */
static mw_status seg_read(struct seg *S, bool with_perf, mw_err *err) {
  mw_status st = mon__dcfg_load(&S->opt, S->c, S->v, &S->s, &S->cfg);
  if(!st)
    st = mon__dict_load(S->c, S->v->id, S->col, &S->sd);
  if(!st)
    st = mon__window_open(S->c, S->v->id, S->s.ncols, S->from, S->to, &S->win.w);
  /* A quarter of the budget per side's column: values and their split. */
  size_t cap =
      (size_t)S->opt.drift_memory_mb * ((size_t)1 << 20) / sizeof(double) / 8;
  if(cap < 1)
    cap = 1;
  side_plan(&S->win, cap);
  double *codes = NULL;
  if(!st && S->previous) {
    int64_t bfrom, bto;
    mon__previous_window(S->from, S->to, &bfrom, &bto);
    st = mon__window_open(S->c, S->v->id, S->s.ncols, bfrom, bto, &S->ref.w);
    side_plan(&S->ref, cap);
  } else if(!st) {
    S->ref.stored = true;
    size_t n = 0;
    st = mon__store(S->c)->refrows_get(S->c, S->v->id, S->col, &codes, &n);
    S->ref.rows = n;
    if(st == MW_ENOTFOUND)
      st = mw_errf(err, MW_ECONFLICT,
                   "the reference set of version %lld was stored before "
                   "segments existed and has no rows to split: PUT "
                   ".../versions/%lld/reference again",
                   (long long)S->v->version, (long long)S->v->version);
  }
  if(!st)
    st = make_groups(S);
  if(!st && !S->ref.stored)
    st = side_read(S, &S->ref, S->col, &codes);
  if(!st)
    st = side_groups(S, &S->ref, codes);
  free(codes);
  codes = NULL;
  if(!st)
    st = side_read(S, &S->win, S->col, &codes);
  if(!st)
    st = side_groups(S, &S->win, codes);
  free(codes);
  size_t cells = (size_t)S->ng * S->s.ncols;
  if(!st) {
    S->cols = calloc(cells ? cells : 1, sizeof *S->cols);
    S->evaluated = calloc(cells ? cells : 1, sizeof *S->evaluated);
    S->drifted = calloc(cells ? cells : 1, sizeof *S->drifted);
    if(!S->cols || !S->evaluated || !S->drifted)
      st = MW_ENOMEM;
  }
  for(size_t col = 0; !st && S->ng > 0 && col < S->s.ncols; col++)
    if(col != S->col)
      st = segment_column(S, col);
  if(!st && with_perf && S->ng > 0) {
    int64_t pfrom, pto;
    mon__label_window(S->from, S->to, (int64_t)S->cfg.label_delay_seconds * 1000,
                      mw_now_ms(), &pfrom, &pto);
    st = segment_performance(S, pfrom, pto);
  }
  return st;
}

/* Group g as {value, count, reference: {count}, dataset, columns,
 * performance?}. */
static mw_status group_json(struct seg *S, long g, cJSON **out) {
  *out = NULL;
  size_t n = S->s.ncols, base = (size_t)g * n;
  mw_status st = mon__correction_apply(S->cfg.correction, &S->cols[base],
                                       &S->evaluated[base], &S->drifted[base], n);
  if(st)
    return st;
  cJSON *o = cJSON_CreateObject();
  long code = S->groups[g].code;
  if(code == MON_SEGMENT_MISSING)
    cJSON_AddNullToObject(o, "value");
  else if(code == MON_SEGMENT_OTHER) {
    cJSON_AddStringToObject(o, "value", S->only ? S->only : "__other__");
    /* A category may itself be called "__other__": the flag, not the
     * name, says which segment is the rest. */
    if(!S->only)
      cJSON_AddTrueToObject(o, "other");
  } else
    cJSON_AddStringToObject(o, "value", S->sd.values[code]);
  cJSON_AddNumberToObject(o, "count", S->groups[g].count);
  cJSON *jr = cJSON_AddObjectToObject(o, "reference");
  cJSON_AddNumberToObject(jr, "count", (double)(S->ref.off[g + 1] - S->ref.off[g]));
  size_t nev = 0, ndr = 0;
  for(size_t col = 0; col < n; col++) {
    nev += S->evaluated[base + col];
    ndr += S->drifted[base + col];
  }
  cJSON *jd = cJSON_AddObjectToObject(o, "dataset");
  cJSON_AddNumberToObject(jd, "drift_share", nev ? (double)ndr / (double)nev : 0.0);
  cJSON_AddBoolToObject(jd, "drifted",
                        mon_stats_dataset_drifted(ndr, nev, S->cfg.drift_share));
  cJSON_AddNumberToObject(jd, "threshold", S->cfg.drift_share);
  cJSON_AddNumberToObject(jd, "drifted_columns", (double)ndr);
  cJSON_AddNumberToObject(jd, "evaluated_columns", (double)nev);
  if(S->cfg.correction != MON_CORRECTION_NONE)
    cJSON_AddStringToObject(jd, "correction",
                            mon__correction_name(S->cfg.correction));
  cJSON *jc = cJSON_AddArrayToObject(o, "columns");
  for(size_t col = 0; col < n; col++)
    if(S->cols[base + col]) {
      cJSON_AddItemToArray(jc, S->cols[base + col]);
      S->cols[base + col] = NULL;
    }
  if(S->perf && S->perf[g]) {
    cJSON_AddItemToObject(o, "performance", S->perf[g]);
    S->perf[g] = NULL;
  }
  *out = o;
  return MW_OK;
}

/* Adds "segment" and "segments" to report (the whole window's). */
static mw_status seg_json(struct seg *S, cJSON *report) {
  cJSON *js = cJSON_AddObjectToObject(report, "segment");
  cJSON_AddStringToObject(js, "column", S->s.cols[S->col].name);
  if(S->only)
    cJSON_AddStringToObject(js, "value", S->only);
  else
    cJSON_AddNumberToObject(js, "top", MON_SEGMENTS_TOP);
  cJSON_AddStringToObject(js, "baseline",
                          S->previous ? "previous_window" : "reference");
  if(S->win.stride > 1)
    cJSON_AddNumberToObject(js, "sampled", (double)S->win.rows);
  if(S->ref.stride > 1)
    cJSON_AddNumberToObject(js, "baseline_sampled", (double)S->ref.rows);
  if(S->perf_skipped)
    cJSON_AddStringToObject(js, "performance_note",
                            "more than 2,000,000 rows in the performance window: "
                            "no performance per segment");
  cJSON *arr = cJSON_AddArrayToObject(report, "segments");
  for(long g = 0; g < S->ng; g++) {
    cJSON *o = NULL;
    mw_status st = group_json(S, g, &o);
    if(st)
      return st;
    cJSON_AddItemToArray(arr, o);
  }
  return MW_OK;
}

mw_status mon_segment_column_check(const mon_version *v, const char *column,
                                   mw_err *err) {
  mon_schema s;
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  long col = mon__schema_find(&s, column, strlen(column));
  if(col < 0)
    st = mw_errf(err, MW_EVALIDATION,
                 "segment: version %lld of model '%s' has no column '%s'",
                 (long long)v->version, v->model, column);
  else if(s.cols[col].kind != MON_COLUMN_CATEGORICAL)
    st = mw_errf(err, MW_EVALIDATION,
                 "segment: column '%s' is numeric; segments are the values of a "
                 "categorical column",
                 column);
  mon__schema_free(&s);
  return st;
}

mw_status mon_drift_report_segments(mon_ctx *m, mw_conn *c, const mon_version *v,
                                    int64_t from_ms, int64_t to_ms, bool previous,
                                    const char *column, const char *value,
                                    cJSON **out, mw_err *err) {
  *out = NULL;
  mw_status st = mon_segment_column_check(v, column, err);
  if(st)
    return st;
  cJSON *report = NULL;
  st = previous ? mon_drift_report_previous(m, c, v, from_ms, to_ms, &report, err)
                : mon__report(m, c, v, from_ms, to_ms, &report, err);
  if(st)
    return st;
  struct seg S;
  memset(&S, 0, sizeof S);
  S.m = m;
  S.c = c;
  S.v = v;
  S.from = from_ms;
  S.to = to_ms;
  S.previous = previous;
  S.only = value;
  S.opt = mon__options(m);
  mon__dict_init(&S.sd);
  if(!(st = mon__schema_parse(v->schema_json, v, &S.s, err))) {
    S.col = (size_t)mon__schema_find(&S.s, column, strlen(column));
    /* The segments' performance pairs labels when the report found any
     * in its performance window. */
    bool with_perf = cJSON_GetObjectItemCaseSensitive(report, "performance") != NULL;
    if(!(st = mon__read_begin(c))) {
      st = seg_read(&S, with_perf, err);
      mon__read_end(c);
    }
  }
  if(!st)
    st = seg_json(&S, report);
  seg_free(&S);
  if(st)
    cJSON_Delete(report);
  else
    *out = report;
  return st;
}

mw_status mon_drift_report_segment(mon_ctx *m, mw_conn *c, const mon_version *v,
                                   int64_t from_ms, int64_t to_ms,
                                   const char *segment, cJSON **out, mw_err *err) {
  *out = NULL;
  cJSON *seg = cJSON_Parse(segment);
  if(!cJSON_IsObject(seg) || !seg->child || !cJSON_IsString(seg->child)) {
    cJSON_Delete(seg);
    return mw_errf(err, MW_EVALIDATION, "segment must be {\"column\": \"value\"}");
  }
  cJSON *report = NULL;
  mw_status st =
      mon_drift_report_segments(m, c, v, from_ms, to_ms, false, seg->child->string,
                                seg->child->valuestring, &report, err);
  if(!st) {
    /* The segment in the shape of a report: what alert rules read. */
    cJSON *arr = cJSON_DetachItemFromObjectCaseSensitive(report, "segments");
    cJSON *one = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    assert(one);
    cJSON *win = cJSON_GetObjectItemCaseSensitive(report, "window");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(one, "count");
    cJSON_ReplaceItemInObjectCaseSensitive(
        win, "count", cJSON_CreateNumber(cJSON_IsNumber(n) ? n->valuedouble : 0));
    const char *keys[] = {"dataset", "columns", "performance"};
    for(size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      cJSON_DeleteItemFromObjectCaseSensitive(report, keys[k]);
      cJSON *it = cJSON_DetachItemFromObjectCaseSensitive(one, keys[k]);
      if(it)
        cJSON_AddItemToObject(report, keys[k], it);
    }
    cJSON_Delete(one);
    *out = report;
  }
  cJSON_Delete(seg);
  return st;
}
