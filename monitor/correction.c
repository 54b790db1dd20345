/* monitor/correction.c - multiple-testing corrections of a drift report's
 * columns (monitor/correction.h): names, and applying the adjusted
 * p-values of monitor/stats_padjust.c to the columns' verdicts. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/correction.h"
#include "monitor/settings.h"
#include "monitor/stats.h"

static const struct {
  const char *name;
  mon_correction c;
} names[] = {
    {"none", MON_CORRECTION_NONE},
    {"bonferroni", MON_CORRECTION_BONFERRONI},
    {"bh", MON_CORRECTION_BH},
};

const char *mon__correction_name(mon_correction c) {
  for(size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if(names[i].c == c)
      return names[i].name;
  return "none";
}

int mon__correction_parse(const char *s, mon_correction *out) {
  for(size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
    if(!strcmp(names[i].name, s)) {
      *out = names[i].c;
      return 1;
    }
  return 0;
}

/* Column i of the family: its method and raw p-value, else false. */
static bool x__member(const cJSON *col, mon_drift_method *m, double *p) {
  const cJSON *jm = cJSON_GetObjectItemCaseSensitive(col, "method");
  const cJSON *jp = cJSON_GetObjectItemCaseSensitive(col, "p_value");
  if(!cJSON_IsString(jm) || !cJSON_IsNumber(jp) ||
     !mon__method_parse(jm->valuestring, m))
    return false;
  *p = jp->valuedouble;
  return mon_stats_method_is_pvalue(*m) && isfinite(*p) && *p >= 0.0 && *p <= 1.0;
}

mw_status mon__correction_apply(mon_correction c, cJSON *const *cols,
                                const bool *evaluated, bool *drifted, size_t n) {
  if(c == MON_CORRECTION_NONE || n == 0)
    return MW_OK;
  double *p = malloc(n * sizeof *p);
  size_t *at = malloc(n * sizeof *at);
  mw_status st = p && at ? MW_OK : MW_ENOMEM;
  size_t m = 0;
  for(size_t i = 0; !st && i < n; i++) {
    mon_drift_method meth;
    if(evaluated[i] && cols[i] && x__member(cols[i], &meth, &p[m]))
      at[m++] = i;
  }
  if(!st && mon_padjust(p, m, c, p) < 0)
    st = MW_ENOMEM; /* members' p-values were checked: only memory fails */
  for(size_t k = 0; !st && k < m; k++) {
    cJSON *col = cols[at[k]];
    mon_drift_method meth = MON_DRIFT_AUTO;
    double raw = 0;
    x__member(col, &meth, &raw);
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(col, "threshold");
    double thr = cJSON_IsNumber(jt) ? jt->valuedouble : 0.05;
    bool d = mon_stats_is_drifted(meth, p[k], thr);
    mon__json_add_number(col, "p_value_adjusted", p[k]);
    cJSON_AddStringToObject(col, "correction", mon__correction_name(c));
    cJSON_ReplaceItemInObjectCaseSensitive(col, "drifted", cJSON_CreateBool(d));
    drifted[at[k]] = d;
  }
  free(p);
  free(at);
  return st;
}
