/* monitor/schema.c - a version's columns, the list of validation errors,
 * and how JSON values become column values (monitor/schema.h). */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "monitor/schema.h"

/* ------------------------------------------------------------- schema */

const char *mon__kind_name(mon_column_kind k) {
  return k == MON_COLUMN_CATEGORICAL ? "categorical" : "numeric";
}

static int parse_kind(const cJSON *obj, mon_column_kind *out) {
  const char *t = mw_json_str(obj, "type");
  if(!t)
    return 0;
  if(!strcmp(t, "numeric"))
    *out = MON_COLUMN_NUMERIC;
  else if(!strcmp(t, "categorical"))
    *out = MON_COLUMN_CATEGORICAL;
  else
    return 0;
  return 1;
}

static int parse_privacy(const cJSON *obj, mon_privacy *out) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "privacy");
  *out = MON_PRIVACY_KEEP;
  if(!p || cJSON_IsNull(p))
    return 1;
  if(!cJSON_IsString(p))
    return 0;
  if(!strcmp(p->valuestring, "hash"))
    *out = MON_PRIVACY_HASH;
  else if(!strcmp(p->valuestring, "drop"))
    *out = MON_PRIVACY_DROP;
  else if(strcmp(p->valuestring, "keep"))
    return 0;
  return 1;
}

void mon__schema_free(mon_schema *s) {
  if(!s)
    return;
  for(size_t i = 0; i < s->ncols; i++)
    free(s->cols[i].name);
  if(s->cols)
    explicit_bzero(s->cols, s->ncols * sizeof *s->cols); /* the columns' keys */
  free(s->cols);
  s->cols = NULL;
  s->ncols = 0;
}

mw_status mon__schema_parse(const char *json, const mon_version *v, mon_schema *out,
                            mw_err *err) {
  memset(out, 0, sizeof *out);
  if(!json)
    return mw_errf(err, MW_EVALIDATION,
                   "version %lld of model '%s' has no schema: create the version "
                   "with a schema {features: [{name, type}], prediction: {type}} "
                   "to log predictions",
                   (long long)v->version, v->model);
  mw_status st = MW_OK;
  cJSON *doc = cJSON_Parse(json);
  const cJSON *feats =
      doc ? cJSON_GetObjectItemCaseSensitive(doc, "features") : NULL;
  const cJSON *pred =
      doc ? cJSON_GetObjectItemCaseSensitive(doc, "prediction") : NULL;
  mon_column_kind pk = MON_COLUMN_NUMERIC;
  if(!cJSON_IsArray(feats) || !cJSON_IsObject(pred) || !parse_kind(pred, &pk)) {
    st = mw_errf(err, MW_EVALIDATION, "the schema of version %lld is malformed",
                 (long long)v->version);
    goto out;
  }
  size_t nf = (size_t)cJSON_GetArraySize(feats);
  if(nf + 1 > MON_MAX_COLS) {
    st = mw_errf(err, MW_EVALIDATION, "a schema may have at most %d features",
                 MON_MAX_COLS - 1);
    goto out;
  }
  out->cols = calloc(nf + 1, sizeof *out->cols);
  if(!out->cols) {
    st = MW_ENOMEM;
    goto out;
  }
  const cJSON *f;
  cJSON_ArrayForEach(f, feats) {
    const char *name = mw_json_str(f, "name");
    mon_column *col = &out->cols[out->ncols];
    if(!name || !*name || strlen(name) > 128 || !parse_kind(f, &col->kind) ||
       !parse_privacy(f, &col->privacy)) {
      st = mw_errf(err, MW_EVALIDATION,
                   "the schema of version %lld has a malformed feature",
                   (long long)v->version);
      goto out;
    }
    if(!strcmp(name, "prediction") ||
       mon__schema_find(out, name, strlen(name)) >= 0) {
      st = mw_errf(err, MW_EVALIDATION,
                   "the schema of version %lld names column '%s' twice (the "
                   "prediction is a column named prediction)",
                   (long long)v->version, name);
      goto out;
    }
    col->declared = col->kind;
    if(col->privacy == MON_PRIVACY_HASH)
      col->kind = MON_COLUMN_CATEGORICAL; /* drift on the hashes' counts */
    if(!(col->name = strdup(name))) {
      st = MW_ENOMEM;
      goto out;
    }
    out->ncols++;
  }
  out->cols[out->ncols].kind = out->cols[out->ncols].declared = pk;
  if(!(out->cols[out->ncols].name = strdup("prediction"))) {
    st = MW_ENOMEM;
    goto out;
  }
  out->ncols++;
out:
  cJSON_Delete(doc);
  if(st)
    mon__schema_free(out);
  return st;
}

size_t mon__schema_numeric(const mon_schema *s) {
  size_t n = 0;
  for(size_t i = 0; i < s->ncols; i++)
    n += s->cols[i].kind == MON_COLUMN_NUMERIC;
  return n;
}

long mon__schema_find(const mon_schema *s, const char *name, size_t len) {
  for(size_t i = 0; i < s->ncols; i++)
    if(s->cols[i].name && strlen(s->cols[i].name) == len &&
       !memcmp(s->cols[i].name, name, len))
      return (long)i;
  return -1;
}

/* -------------------------------------------------------------- errors */

void mon__errors_init(mon_errors *e) { memset(e, 0, sizeof *e); }

mw_status mon__errors_track(mon_errors *e, size_t nrows) {
  assert(!e->per_row && e->count == 0);
  if(!(e->per_row = calloc(nrows ? nrows : 1, sizeof *e->per_row)))
    return MW_ENOMEM;
  e->nrows = nrows;
  return MW_OK;
}

void mon__errors_add(mon_errors *e, long index, const char *field, const char *fmt,
                     ...) {
  e->count++;
  bool row = e->per_row && index >= 0 && (size_t)index < e->nrows;
  if(row && e->per_row[index] < UINT32_MAX)
    e->per_row[index]++;
  if(e->per_row && !row)
    e->batch++;
  if(e->listed >= MON_MAX_ERRORS || (row && e->per_row[index] > MON_ROW_ERRORS))
    return;
  if(!e->list && !(e->list = cJSON_CreateArray()))
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cJSON *o = cJSON_CreateObject();
  if(!o)
    return;
  if(index >= 0)
    cJSON_AddNumberToObject(o, "index", (double)index);
  cJSON_AddStringToObject(o, "field", field);
  cJSON_AddStringToObject(o, "message", msg);
  cJSON_AddItemToArray(e->list, o);
  e->listed++;
}

static double err_index(const cJSON *o) {
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "index");
  return cJSON_IsNumber(i) ? i->valuedouble : -1;
}

struct keyed {
  double index;
  size_t pos;
  cJSON *item;
};

static int cmp_keyed(const void *a, const void *b) {
  const struct keyed *x = a, *y = b;
  if(x->index != y->index)
    return x->index < y->index ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Orders the list by row index (stable), since checks that run later (ids
 * already stored) append after the per-row ones. */
static void sort_by_index(cJSON *list) {
  int n = list ? cJSON_GetArraySize(list) : 0;
  if(n < 2)
    return;
  struct keyed *k = malloc((size_t)n * sizeof *k);
  if(!k)
    return; /* unsorted is still correct */
  size_t i = 0;
  for(cJSON *it = list->child; it; it = it->next, i++) {
    k[i].index = err_index(it);
    k[i].pos = i;
    k[i].item = it;
  }
  qsort(k, (size_t)n, sizeof *k, cmp_keyed);
  for(i = 0; i < (size_t)n; i++) {
    k[i].item->prev = i ? k[i - 1].item : k[n - 1].item; /* head->prev = tail */
    k[i].item->next = i + 1 < (size_t)n ? k[i + 1].item : NULL;
  }
  list->child = k[0].item;
  free(k);
}

mw_status mon__errors_fail(mon_errors *e, mw_err *err, const char *msg) {
  sort_by_index(e->list);
  if(err) {
    cJSON_Delete(err->details);
    err->details = cJSON_CreateObject();
    if(err->details) {
      cJSON_AddItemToObject(err->details, "errors",
                            e->list ? e->list : cJSON_CreateArray());
      e->list = NULL;
      cJSON_AddNumberToObject(err->details, "error_count", (double)e->count);
      cJSON_AddBoolToObject(err->details, "truncated", e->count > e->listed);
    }
  }
  mon__errors_free(e);
  return mw_errf(err, MW_EVALIDATION, "%s", msg);
}

void mon__errors_free(mon_errors *e) {
  cJSON_Delete(e->list);
  e->list = NULL;
  free(e->per_row);
  e->per_row = NULL;
  e->nrows = 0;
}

/* --------------------------------------------------------- JSON values */

int mon__json_number(const cJSON *it, double *out) {
  if(cJSON_IsNumber(it)) {
    *out = it->valuedouble;
    return 1;
  }
  if(cJSON_IsNull(it)) {
    *out = NAN;
    return 1;
  }
  if(cJSON_IsString(it)) {
    /* JSON cannot carry NaN or infinities; clients that have them send a
     * string, and docs/drift.md counts them as missing. */
    static const char *const names[] = {"nan", "infinity", "+infinity", "-infinity",
                                        "inf", "+inf",     "-inf"};
    for(size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if(!strcasecmp(it->valuestring, names[i])) {
        *out = NAN;
        return 1;
      }
  }
  return 0;
}

const char *mon__json_category(const cJSON *it, char *buf, size_t cap,
                               bool *missing) {
  *missing = false;
  if(cJSON_IsString(it))
    return strlen(it->valuestring) <= MON_MAX_CAT_LEN ? it->valuestring : NULL;
  if(cJSON_IsNull(it)) {
    *missing = true;
    return "";
  }
  if(cJSON_IsBool(it))
    return cJSON_IsTrue(it) ? "true" : "false";
  if(cJSON_IsNumber(it)) {
    double d = it->valuedouble;
    if(!isfinite(d))
      return NULL;
    if(d == floor(d) && fabs(d) < 9.007199254740992e15)
      snprintf(buf, cap, "%lld", (long long)d);
    else
      snprintf(buf, cap, "%.17g", d);
    return buf;
  }
  return NULL;
}

void mon__json_add_number(cJSON *obj, const char *key, double v) {
  if(isfinite(v))
    cJSON_AddNumberToObject(obj, key, v);
}

void mon__json_append_number(cJSON *arr, double v) {
  if(isfinite(v))
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(v));
}
