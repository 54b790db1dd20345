/* monitor/shadow.c - the shadow comparison of two versions
 * (mon_shadow_compare, monitor/monitor.h): the candidate's predictions of a
 * window paired with the baseline's predictions of the same ids (ids are
 * unique per version, migration 0015), then how often they agree
 * (categorical) or how far apart and how alike in order they are
 * (numeric: mean absolute difference, Spearman's rank correlation from the
 * statistics library). Nothing is stored.
 *
 * Operations: mon_shadow_compare. Cost: one read transaction; the store
 * reads the candidate's ids of the window by time and the baseline's row
 * of each by key (monitor/store.h, ids_pairs). Agreement and mean absolute
 * difference are summed as the pairs stream by; the rank correlation keeps
 * at most MON_SHADOW_MAX_PAIRS pairs (32 MB, and as much again while it
 * ranks them), an evenly strided sample beyond, which the answer says. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/dict.h"
#include "monitor/schema.h"
#include "monitor/store.h"
#include "monitor/window.h"

/* Pairs kept for the rank correlation (the reference sets' cap: the
 * statistic's resolution does not improve past it). */
#define MON_SHADOW_MAX_PAIRS 2000000

/* The pairs as they arrive. */
struct pairing {
  bool categorical;
  const long *map; /* categorical: baseline code -> candidate code, -1 none */
  size_t nmap;
  int64_t pairs, missing, agree;
  double abs_sum, abs_comp; /* Neumaier's sum of |cand - base| */
  /* numeric: the kept pairs, every stride-th of those seen */
  double *cand, *base;
  size_t n, room;
  uint64_t seen, stride;
};

static void add_abs(struct pairing *p, double x) {
  double t = p->abs_sum + x;
  p->abs_comp +=
      fabs(p->abs_sum) >= fabs(x) ? (p->abs_sum - t) + x : (x - t) + p->abs_sum;
  p->abs_sum = t;
}

/* Keeps the pair (every stride-th): when the buffer is full, every other
 * kept pair goes and the stride doubles, so what stays is always an evenly
 * strided sample of all pairs so far, without knowing their number. */
static mw_status keep_pair(struct pairing *p, double cand, double base) {
  uint64_t i = p->seen++;
  if(i % p->stride)
    return MW_OK;
  if(p->n == MON_SHADOW_MAX_PAIRS) {
    size_t k = 0;
    for(size_t j = 0; j < p->n; j += 2, k++) {
      p->cand[k] = p->cand[j];
      p->base[k] = p->base[j];
    }
    p->n = k;
    p->stride *= 2;
    if(i % p->stride)
      return MW_OK;
  }
  if(p->n == p->room) {
    size_t room = p->room ? p->room * 2 : 4096;
    if(room > MON_SHADOW_MAX_PAIRS)
      room = MON_SHADOW_MAX_PAIRS;
    double *c = realloc(p->cand, room * sizeof *c);
    if(c)
      p->cand = c;
    double *b = c ? realloc(p->base, room * sizeof *b) : NULL;
    if(!b)
      return MW_ENOMEM;
    p->base = b;
    p->room = room;
  }
  p->cand[p->n] = cand;
  p->base[p->n] = base;
  p->n++;
  return MW_OK;
}

/* ids_pairs callback. */
static mw_status add_pair(void *ctx, double cand, double base) {
  struct pairing *p = ctx;
  /* A missing prediction (stored as NULL, read as NaN) has nothing to be
   * compared with: the pair is left out, and counted. */
  if(!isfinite(cand) || !isfinite(base)) {
    p->missing++;
    return MW_OK;
  }
  p->pairs++;
  if(p->categorical) {
    /* Codes are per version: the baseline's code stands for a value, which
     * the candidate's dictionary may code otherwise or not know (then the
     * two cannot agree). */
    long mapped = base >= 0 && base < (double)p->nmap ? p->map[(size_t)base] : -1;
    p->agree += mapped >= 0 && (double)mapped == cand;
    return MW_OK;
  }
  add_abs(p, fabs(cand - base));
  return keep_pair(p, cand, base);
}

/* map[c] = the candidate's code of the baseline's value c (-1: none), from
 * the two dictionaries of the prediction column (read in the caller's
 * snapshot). */
static mw_status map_codes(mw_conn *c, const mon_version *base, size_t bcol,
                           const mon_version *cand, size_t ccol, long **map,
                           size_t *nmap) {
  mon_dict bd, cd;
  *map = NULL;
  *nmap = 0;
  mw_status st = mon__dict_load(c, base->id, bcol, &bd);
  if(st)
    return st;
  if((st = mon__dict_load(c, cand->id, ccol, &cd))) {
    mon__dict_free(&bd);
    return st;
  }
  if(!(*map = malloc((bd.n ? bd.n : 1) * sizeof **map)))
    st = MW_ENOMEM;
  for(size_t k = 0; !st && k < bd.n; k++)
    (*map)[k] = mon__dict_find(&cd, bd.values[k]);
  if(!st)
    *nmap = bd.n;
  mon__dict_free(&bd);
  mon__dict_free(&cd);
  return st;
}

static void add_or_null(cJSON *o, const char *key, bool ok, double v) {
  if(ok && isfinite(v))
    cJSON_AddNumberToObject(o, key, v);
  else
    cJSON_AddNullToObject(o, key);
}

/* The answer (see monitor/monitor.h). */
static mw_status shadow_json(const mon_version *base, const mon_version *cand,
                             int64_t from, int64_t to, struct pairing *p,
                             cJSON **out) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", cand->model);
  cJSON_AddNumberToObject(o, "version", (double)cand->version);
  cJSON *jb = cJSON_AddObjectToObject(o, "baseline");
  cJSON_AddNumberToObject(jb, "version", (double)base->version);
  cJSON *jw = cJSON_AddObjectToObject(o, "window");
  mw_json_add_time(jw, "from", from);
  mw_json_add_time(jw, "to", to);
  cJSON_AddNumberToObject(o, "pairs", (double)p->pairs);
  cJSON_AddNumberToObject(o, "missing", (double)p->missing);
  cJSON_AddStringToObject(o, "kind", p->categorical ? "categorical" : "numeric");
  if(p->categorical) {
    add_or_null(o, "agreement", p->pairs > 0,
                (double)p->agree / (double)(p->pairs ? p->pairs : 1));
    *out = o;
    return MW_OK;
  }
  add_or_null(o, "mean_abs_diff", p->pairs > 0,
              (p->abs_sum + p->abs_comp) / (double)(p->pairs ? p->pairs : 1));
  double rho = 0;
  int rc = mon_stats_spearman(p->cand, p->base, p->n, &rho);
  if(rc < 0) {
    cJSON_Delete(o);
    return rc == MON_STATS_ENOMEM ? MW_ENOMEM : MW_EINTERNAL;
  }
  add_or_null(o, "rank_correlation", rc == MON_STATS_OK, rho);
  if(p->stride > 1)
    cJSON_AddNumberToObject(o, "sampled", (double)p->n);
  *out = o;
  return MW_OK;
}

mw_status mon_shadow_compare(mw_conn *c, const mon_version *base,
                             const mon_version *cand, int64_t from_ms, int64_t to_ms,
                             cJSON **out, mw_err *err) {
  assert(base && cand);
  *out = NULL;
  mon_schema bs, cs;
  memset(&bs, 0, sizeof bs);
  mw_status st = mon__schema_parse(cand->schema_json, cand, &cs, err);
  if(!st)
    st = mon__schema_parse(base->schema_json, base, &bs, err);
  struct pairing p;
  memset(&p, 0, sizeof p);
  p.stride = 1;
  long *map = NULL;
  if(!st) {
    mon_column_kind bk = bs.cols[bs.ncols - 1].kind;
    mon_column_kind ck = cs.cols[cs.ncols - 1].kind;
    p.categorical = ck == MON_COLUMN_CATEGORICAL;
    if(bk != ck)
      st = mw_errf(err, MW_ECONFLICT,
                   "version %lld predicts %s values and version %lld %s ones: "
                   "their predictions cannot be paired",
                   (long long)cand->version, mon__kind_name(ck),
                   (long long)base->version, mon__kind_name(bk));
  }
  if(!st && !(st = mon__read_begin(c))) {
    /* One snapshot: the dictionaries and the pairs agree on every code. */
    if(p.categorical)
      st = map_codes(c, base, bs.ncols - 1, cand, cs.ncols - 1, &map, &p.nmap);
    p.map = map;
    if(!st && from_ms < to_ms)
      st = mon__store(c)->ids_pairs(c, cand->model_id, cand->id, base->model_id,
                                    base->id, from_ms, to_ms, add_pair, &p);
    mon__read_end(c);
  }
  if(!st)
    st = shadow_json(base, cand, from_ms, to_ms, &p, out);
  free(map);
  free(p.cand);
  free(p.base);
  mon__schema_free(&bs);
  mon__schema_free(&cs);
  return st;
}
