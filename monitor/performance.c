/* monitor/performance.c - the performance of a window where labels have
 * arrived (monitor/report.h): mean absolute and root mean squared error
 * for a numeric prediction; accuracy and macro-averaged precision, recall
 * and F1 for a categorical one. One pass over the window's labels. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/report.h"
#include "monitor/store.h"

struct mon_perf {
  bool categorical;
  int64_t n;
  double abs_sum, sq_sum;
  int64_t correct;
  int64_t *tp, *fp, *fn; /* by class code */
  size_t nclasses;
  bool oom;
};

static void perf_add(void *ctx, double pred, double label) {
  struct mon_perf *p = ctx;
  if(!isfinite(pred) || !isfinite(label))
    return;
  if(!p->categorical) {
    p->n++;
    p->abs_sum += fabs(pred - label);
    p->sq_sum += (pred - label) * (pred - label);
    return;
  }
  if(pred < 0 || label < 0 || pred >= MON_MAX_CATEGORIES ||
     label >= MON_MAX_CATEGORIES)
    return;
  if(!p->tp) {
    p->nclasses = MON_MAX_CATEGORIES;
    p->tp = calloc(p->nclasses, sizeof *p->tp);
    p->fp = calloc(p->nclasses, sizeof *p->fp);
    p->fn = calloc(p->nclasses, sizeof *p->fn);
    if(!p->tp || !p->fp || !p->fn) {
      p->oom = true;
      return;
    }
  }
  if(p->oom)
    return;
  size_t pc = (size_t)pred, lc = (size_t)label;
  p->n++;
  if(pc == lc) {
    p->correct++;
    p->tp[pc]++;
  } else {
    p->fp[pc]++;
    p->fn[lc]++;
  }
}

/* The JSON of p's metrics; NULL when no pair counted. */
static cJSON *perf_json(const struct mon_perf *pp) {
  const struct mon_perf p = *pp;
  cJSON *o = NULL;
  if(p.n > 0) {
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)p.n);
    if(!p.categorical) {
      mon__json_add_number(o, "mae", p.abs_sum / (double)p.n);
      mon__json_add_number(o, "rmse", sqrt(p.sq_sum / (double)p.n));
    } else {
      /* Macro averages over the classes seen in labels or predictions, as
       * scikit-learn's average="macro" (a class with no predicted or no
       * true rows scores 0 there). */
      double ps = 0, rs = 0, fs = 0;
      size_t k = 0;
      for(size_t cl = 0; cl < p.nclasses; cl++) {
        int64_t tp = p.tp[cl], fp = p.fp[cl], fn = p.fn[cl];
        if(tp + fp + fn == 0)
          continue;
        k++;
        ps += tp + fp ? (double)tp / (double)(tp + fp) : 0;
        rs += tp + fn ? (double)tp / (double)(tp + fn) : 0;
        fs += (double)(2 * tp) / (double)(2 * tp + fp + fn);
      }
      mon__json_add_number(o, "accuracy", (double)p.correct / (double)p.n);
      mon__json_add_number(o, "precision", k ? ps / (double)k : 0);
      mon__json_add_number(o, "recall", k ? rs / (double)k : 0);
      mon__json_add_number(o, "f1", k ? fs / (double)k : 0);
      cJSON_AddStringToObject(o, "average", "macro");
      cJSON_AddNumberToObject(o, "classes", (double)k);
    }
  }
  return o;
}

/* labels_visit's callback: performance needs no ids. */
static void perf_visit(void *ctx, const char *ext_id, double pred, double label) {
  (void)ext_id;
  perf_add(ctx, pred, label);
}

mw_status mon__performance(mw_conn *c, int64_t version_id, const mon_column *pcol,
                           int64_t from, int64_t to, cJSON **out) {
  *out = NULL;
  struct mon_perf p;
  memset(&p, 0, sizeof p);
  p.categorical = pcol->kind == MON_COLUMN_CATEGORICAL;
  mw_status st =
      mon__store(c)->labels_visit(c, version_id, from, to, false, perf_visit, &p);
  if(!st && p.oom)
    st = MW_ENOMEM;
  if(!st)
    *out = perf_json(&p);
  free(p.tp);
  free(p.fp);
  free(p.fn);
  return st;
}

mon_perf *mon__perf_new(const mon_column *pcol) {
  struct mon_perf *p = calloc(1, sizeof *p);
  if(p)
    p->categorical = pcol->kind == MON_COLUMN_CATEGORICAL;
  return p;
}

void mon__perf_add(mon_perf *p, double pred, double label) {
  perf_add(p, pred, label);
}

mw_status mon__perf_json(const mon_perf *p, cJSON **out) {
  const struct mon_perf *pp = p;
  *out = NULL;
  if(pp->oom)
    return MW_ENOMEM;
  *out = perf_json(pp);
  return MW_OK;
}

void mon__perf_free(mon_perf *p) {
  struct mon_perf *pp = p;
  if(!pp)
    return;
  free(pp->tp);
  free(pp->fp);
  free(pp->fn);
  free(pp);
}
