/* monitor/settings.c - per-version drift settings: method and threshold per
 * column, the dataset drift share, and the schedule of evaluations.
 * Stored as a normalised JSON document in drift_config holding only what
 * differs from the server's defaults, so a version follows the server's
 * flags (--eval-interval-seconds, --eval-window-seconds) wherever it did
 * not set its own value.
 *
 * What GET answers is always accepted by PUT: the server's defaults are
 * valid values whatever the flags say (--eval-interval-seconds 0, meaning
 * never, gives interval_seconds 0), and 0 is accepted for a version too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/context.h"
#include "monitor/settings.h"
#include "monitor/store.h"

#define MON_MAX_INTERVAL (7 * 86400)
#define MON_MIN_WINDOW 1
#define MON_MAX_WINDOW (366 * 86400)
#define MON_MAX_LABEL_DELAY (366 * 86400)

static const struct {
  const char *name;
  mon_drift_method method;
} method_names[] = {
    {"auto", MON_DRIFT_AUTO},
    {"ks", MON_DRIFT_KS},
    {"wasserstein", MON_DRIFT_WASSERSTEIN},
    {"psi", MON_DRIFT_PSI},
    {"jensen_shannon", MON_DRIFT_JENSENSHANNON},
    {"chi2", MON_DRIFT_CHISQUARE},
    {"z", MON_DRIFT_ZTEST},
    /* The names of monitor/stats.h are accepted too. */
    {"jensenshannon", MON_DRIFT_JENSENSHANNON},
    {"chisquare", MON_DRIFT_CHISQUARE},
    {"ztest", MON_DRIFT_ZTEST},
};

const char *mon__method_name(mon_drift_method m) {
  for(size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
    if(method_names[i].method == m)
      return method_names[i].name;
  return "auto";
}

int mon__method_parse(const char *s, mon_drift_method *out) {
  for(size_t i = 0; s && i < sizeof method_names / sizeof method_names[0]; i++)
    if(!strcmp(method_names[i].name, s)) {
      *out = method_names[i].method;
      return 1;
    }
  return 0;
}

void mon__dcfg_free(mon_dcfg *d) {
  if(!d)
    return;
  free(d->cols);
  d->cols = NULL;
  d->ncols = 0;
}

static void defaults(const mon_options *o, const mon_schema *s, mon_dcfg *d) {
  d->drift_share = 0.5;
  d->interval_seconds = o->eval_interval_seconds;
  d->window_seconds = o->eval_window_seconds;
  d->schedule = true;
  d->ncols = s->ncols;
}

static int is_int_in(const cJSON *it, double lo, double hi) {
  return cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) &&
         it->valuedouble >= lo && it->valuedouble <= hi;
}

/* An integer in [lo, hi], or the server's own default (which the flags
 * may put outside that range: GET shows it, so PUT must take it back). */
static int is_int_or_default(const cJSON *it, double lo, double hi, int dflt) {
  return is_int_in(it, lo, hi) || is_int_in(it, dflt, dflt);
}

/* One column's {method?, threshold?} into cc; field names it in errors. */
static void parse_column(const cJSON *cj, const mon_column *col, const char *field,
                         mon_colcfg *cc, mon_errors *errs) {
  const cJSON *f;
  cJSON_ArrayForEach(f, cj) {
    char sub[340];
    snprintf(sub, sizeof sub, "%s.%.30s", field, f->string);
    if(!strcmp(f->string, "method")) {
      if(!cJSON_IsString(f) || !mon__method_parse(f->valuestring, &cc->method)) {
        mon__errors_add(errs, -1, sub,
                        "expected one of auto, ks, wasserstein, psi, "
                        "jensen_shannon, chi2, z");
        continue;
      }
      bool numeric = col->kind == MON_COLUMN_NUMERIC;
      if(numeric &&
         (cc->method == MON_DRIFT_CHISQUARE || cc->method == MON_DRIFT_ZTEST))
        mon__errors_add(errs, -1, sub, "chi2 and z apply to categorical columns");
      if(!numeric &&
         (cc->method == MON_DRIFT_KS || cc->method == MON_DRIFT_WASSERSTEIN))
        mon__errors_add(errs, -1, sub,
                        "ks and wasserstein apply to numeric columns");
    } else if(!strcmp(f->string, "threshold")) {
      if(!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble <= 0)
        mon__errors_add(errs, -1, sub, "expected a positive number");
      else
        cc->threshold = f->valuedouble;
    } else {
      mon__errors_add(errs, -1, sub, "unknown setting (expected method, threshold)");
    }
  }
  if(cc->threshold > 1 && mon_stats_method_is_pvalue(cc->method))
    mon__errors_add(errs, -1, field, "a p-value threshold must be at most 1");
}

/* The "columns" object {column: {method, threshold}}. */
static void parse_columns(const cJSON *k, const mon_schema *s, mon_dcfg *out,
                          mon_errors *errs) {
  if(!cJSON_IsObject(k)) {
    mon__errors_add(errs, -1, k->string,
                    "expected an object {column: {method, threshold}}");
    return;
  }
  const cJSON *cj;
  cJSON_ArrayForEach(cj, k) {
    char field[300];
    snprintf(field, sizeof field, "columns.%.200s", cj->string);
    long col = mon__schema_find(s, cj->string, strlen(cj->string));
    if(col < 0)
      mon__errors_add(errs, -1, field, "no such column in the schema");
    else if(!cJSON_IsObject(cj))
      mon__errors_add(errs, -1, field, "expected {method?, threshold?}");
    else
      parse_column(cj, &s->cols[col], field, &out->cols[col], errs);
  }
}

mw_status mon__dcfg_parse(const mon_options *o, const cJSON *doc,
                          const mon_schema *s, mon_dcfg *out, mon_errors *errs) {
  memset(out, 0, sizeof *out);
  defaults(o, s, out);
  const int def_interval = out->interval_seconds, def_window = out->window_seconds;
  out->cols = calloc(s->ncols, sizeof *out->cols);
  if(!out->cols)
    return MW_ENOMEM;
  if(!cJSON_IsObject(doc)) {
    mon__errors_add(errs, -1, "", "the settings must be a JSON object");
    return MW_OK;
  }
  const cJSON *k;
  cJSON_ArrayForEach(k, doc) {
    const char *key = k->string;
    if(!strcmp(key, "drift_share")) {
      if(!cJSON_IsNumber(k) || !(k->valuedouble > 0 && k->valuedouble <= 1))
        mon__errors_add(errs, -1, key, "expected a number in (0, 1]");
      else
        out->drift_share = k->valuedouble;
    } else if(!strcmp(key, "interval_seconds")) {
      if(!is_int_or_default(k, 0, MON_MAX_INTERVAL, def_interval))
        mon__errors_add(errs, -1, key,
                        "expected an integer in [0, %d] (0: never scheduled) or "
                        "the server's default %d",
                        MON_MAX_INTERVAL, def_interval);
      else
        out->interval_seconds = (int)k->valuedouble;
    } else if(!strcmp(key, "window_seconds")) {
      if(!is_int_or_default(k, MON_MIN_WINDOW, MON_MAX_WINDOW, def_window))
        mon__errors_add(errs, -1, key,
                        "expected an integer in [%d, %d] or the server's default %d",
                        MON_MIN_WINDOW, MON_MAX_WINDOW, def_window);
      else
        out->window_seconds = (int)k->valuedouble;
    } else if(!strcmp(key, "schedule")) {
      if(!cJSON_IsBool(k))
        mon__errors_add(errs, -1, key, "expected true or false");
      else
        out->schedule = cJSON_IsTrue(k);
    } else if(!strcmp(key, "correction")) {
      if(!cJSON_IsString(k) ||
         !mon__correction_parse(k->valuestring, &out->correction))
        mon__errors_add(errs, -1, key,
                        "expected \"none\", \"bonferroni\" or \"bh\"");
    } else if(!strcmp(key, "label_delay_seconds")) {
      if(!is_int_in(k, 0, MON_MAX_LABEL_DELAY))
        mon__errors_add(errs, -1, key, "expected an integer in [0, %d]",
                        MON_MAX_LABEL_DELAY);
      else
        out->label_delay_seconds = (int)k->valuedouble;
    } else if(!strcmp(key, "columns")) {
      parse_columns(k, s, out, errs);
    } else {
      char field[256];
      snprintf(field, sizeof field, "%.200s", key);
      mon__errors_add(errs, -1, field,
                      "unknown setting (expected columns, drift_share, "
                      "interval_seconds, window_seconds, schedule, correction, "
                      "label_delay_seconds)");
    }
  }
  return MW_OK;
}

/* The settings of d that differ from dflt (the server's defaults), as
 * stored. A value equal to the default is not pinned: the version keeps
 * following the flag if it changes, and a default outside the ranges PUT
 * takes (a flag of ten days) never lands in a stored row that a restart
 * with other flags would find invalid. */
static cJSON *stored_json(const mon_dcfg *d, const mon_dcfg *dflt,
                          const mon_schema *s) {
  cJSON *o = mon__dcfg_json(d, s);
  if(!o)
    return NULL;
  cJSON *cols = cJSON_GetObjectItemCaseSensitive(o, "columns");
  if(cols && !cols->child)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "columns");
  if(d->drift_share == dflt->drift_share)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "drift_share");
  if(d->interval_seconds == dflt->interval_seconds)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "interval_seconds");
  if(d->window_seconds == dflt->window_seconds)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "window_seconds");
  if(d->schedule == dflt->schedule)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "schedule");
  if(d->correction == dflt->correction)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "correction");
  if(d->label_delay_seconds == dflt->label_delay_seconds)
    cJSON_DeleteItemFromObjectCaseSensitive(o, "label_delay_seconds");
  return o;
}

cJSON *mon__dcfg_json(const mon_dcfg *d, const mon_schema *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON *cols = cJSON_AddObjectToObject(o, "columns");
  for(size_t i = 0; i < d->ncols && i < s->ncols; i++) {
    const mon_colcfg *cc = &d->cols[i];
    if(cc->method == MON_DRIFT_AUTO && cc->threshold <= 0)
      continue;
    cJSON *c = cJSON_AddObjectToObject(cols, s->cols[i].name);
    cJSON_AddStringToObject(c, "method", mon__method_name(cc->method));
    if(cc->threshold > 0)
      cJSON_AddNumberToObject(c, "threshold", cc->threshold);
  }
  cJSON_AddNumberToObject(o, "drift_share", d->drift_share);
  cJSON_AddNumberToObject(o, "interval_seconds", d->interval_seconds);
  cJSON_AddNumberToObject(o, "window_seconds", d->window_seconds);
  cJSON_AddBoolToObject(o, "schedule", d->schedule);
  cJSON_AddStringToObject(o, "correction", mon__correction_name(d->correction));
  cJSON_AddNumberToObject(o, "label_delay_seconds", d->label_delay_seconds);
  return o;
}

mw_status mon__dcfg_from_text(const mon_options *o, const char *json,
                              const mon_version *v, const mon_schema *s,
                              mon_dcfg *out) {
  memset(out, 0, sizeof *out);
  cJSON *doc = json ? cJSON_Parse(json) : cJSON_CreateObject();
  if(!doc && json)
    mw_log(MW_LOG_ERROR, "monitor",
           "stored drift settings of model '%s' "
           "version %lld are not JSON",
           v->model, (long long)v->version);
  if(!doc)
    return json ? MW_EINTERNAL : MW_ENOMEM;
  mon_errors errs;
  mon__errors_init(&errs);
  mw_status st = mon__dcfg_parse(o, doc, s, out, &errs);
  cJSON_Delete(doc);
  if(!st && errs.count) {
    const cJSON *first = errs.list ? errs.list->child : NULL;
    const char *field = first ? mw_json_str(first, "field") : NULL;
    const char *msg = first ? mw_json_str(first, "message") : NULL;
    mw_log(MW_LOG_WARN, "monitor",
           "stored drift settings of model '%s' version %lld are not valid "
           "(%s: %s); the valid parts are used",
           v->model, (long long)v->version, field ? field : "?", msg ? msg : "?");
  }
  mon__errors_free(&errs);
  return st;
}

mw_status mon__dcfg_load(const mon_options *o, mw_conn *c, const mon_version *v,
                         const mon_schema *s, mon_dcfg *out) {
  char *json = NULL;
  memset(out, 0, sizeof *out);
  mw_status st = mon__store(c)->dcfg_get(c, v->id, &json);
  if(!st)
    st = mon__dcfg_from_text(o, json, v, s, out);
  free(json);
  return st;
}

mw_status mon_drift_config_get(mon_ctx *m, mw_conn *c, const mon_version *v,
                               cJSON **out, mw_err *err) {
  *out = NULL;
  mon_schema s;
  mon_dcfg d;
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  mon_options o = mon__options(m);
  if(!(st = mon__dcfg_load(&o, c, v, &s, &d)))
    *out = mon__dcfg_json(&d, &s);
  mon__dcfg_free(&d);
  mon__schema_free(&s);
  return st;
}

mw_status mon_drift_config_put(mon_ctx *m, mw_conn *c, const mon_version *v,
                               const cJSON *body, const char *actor, cJSON **out,
                               mw_err *err) {
  *out = NULL;
  mon_schema s;
  mon_dcfg d, dflt;
  mon_errors errs;
  mon__errors_init(&errs);
  memset(&d, 0, sizeof d);
  memset(&dflt, 0, sizeof dflt);
  char *text = NULL;
  cJSON *doc = NULL;
  mon_options o = mon__options(m);
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  if((st = mon__dcfg_parse(&o, body, &s, &d, &errs)))
    goto out;
  if(errs.count) {
    st = mon__errors_fail(&errs, err, "invalid drift settings");
    goto out;
  }
  doc = mon__dcfg_json(&d, &s);
  defaults(&o, &s, &dflt);
  cJSON *stored = doc ? stored_json(&d, &dflt, &s) : NULL;
  text = stored ? cJSON_PrintUnformatted(stored) : NULL;
  cJSON_Delete(stored);
  if(!text) {
    st = MW_ENOMEM;
    goto out;
  }
  if((st = mw_tx_begin(c)))
    goto out;
  char target[200];
  snprintf(target, sizeof target, "%s/%lld", v->model, (long long)v->version);
  if((st = mon__store(c)->dcfg_put(c, v->id, text, actor, mw_now_ms())) ||
     (st = mw_audit(c, actor ? actor : "", "drift_config.put", target, doc)) ||
     (st = mw_tx_commit(c)))
    goto out;
  *out = doc;
  doc = NULL;
out:
  if(st)
    mw_tx_rollback(c);
  cJSON_free(text);
  cJSON_Delete(doc);
  mon__errors_free(&errs);
  mon__dcfg_free(&d);
  mon__schema_free(&s);
  return st;
}
