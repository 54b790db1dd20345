/* monitor/settings.h - per-version drift settings: method and threshold
 * per column, the dataset drift share and the schedule of evaluations
 * (monitor/settings.c). */
#ifndef MW_MONITOR_SETTINGS_H
#define MW_MONITOR_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "monitor/correction.h"
#include "monitor/schema.h"

typedef struct mon_colcfg {
  mon_drift_method method; /* AUTO = default choice */
  double threshold;        /* 0 = the method's default */
} mon_colcfg;

typedef struct mon_dcfg {
  double drift_share;
  int interval_seconds;
  int window_seconds;
  bool schedule;
  /* The multiple-testing correction of the dataset verdict
   * (monitor/correction.h). */
  mon_correction correction;
  /* Labels arrive this long after their predictions: a report's
   * performance covers the window of the same length ending at most this
   * long ago (0: the window itself). */
  int label_delay_seconds;
  size_t ncols;
  mon_colcfg *cols; /* by schema column */
} mon_dcfg;

/* Loads the stored settings of v (defaults from o, which every field of
 * is filled, where nothing is stored). Caller frees with mon__dcfg_free. */
mw_status mon__dcfg_load(const mon_options *o, mw_conn *c, const mon_version *v,
                         const mon_schema *s, mon_dcfg *out);
/* The same from stored text (NULL: nothing stored), without the store:
 * the scheduler reads the text with the list of due versions. */
mw_status mon__dcfg_from_text(const mon_options *o, const char *json,
                              const mon_version *v, const mon_schema *s,
                              mon_dcfg *out);
/* Parses a settings document; errors go to errs. Caller frees out with
 * mon__dcfg_free (also when errors were found). */
mw_status mon__dcfg_parse(const mon_options *o, const cJSON *doc,
                          const mon_schema *s, mon_dcfg *out, mon_errors *errs);
void mon__dcfg_free(mon_dcfg *d);
/* JSON of d (columns by name). Caller frees with cJSON_Delete. */
cJSON *mon__dcfg_json(const mon_dcfg *d, const mon_schema *s);
/* Method names as used in reports ("ks", "wasserstein", "psi",
 * "jensen_shannon", "chi2", "z") and parsing (also the stats names). */
const char *mon__method_name(mon_drift_method m);
int mon__method_parse(const char *s, mon_drift_method *out);

#endif
