/* monitor/quarantine.c - invalid rows kept with their errors
 * (monitor/quarantine.h). A quarantined row is stored as the JSON it was
 * sent as, because what made it invalid (a string in a numeric column, a
 * missing feature, a bad timestamp) may not fit the column blocks at all;
 * with its errors (at most MON_ROW_ERRORS listed, error_count says how
 * many there were), the schema columns it was invalid in (so that a drift
 * report counts invalid values per column), and its timestamp, or the
 * time of arrival when the timestamp itself was invalid.
 *
 * Bounds: a version holds at most MON_MAX_QUARANTINE rows (a batch that
 * would pass it is refused whole, nothing dropped); a row's text is kept
 * up to MON_MAX_QUARANTINE_ROW bytes (a larger one keeps its errors and
 * size). Retention removes rows older than --retention-days with the
 * predictions of that age.
 *
 * Privacy: a hashed column's value is stored as its hash and a dropped
 * column's not at all (row_values), as in the column blocks; the row's
 * prediction id is kept apart so that erasure (monitor/erasure.c) deletes
 * the quarantined rows that carried it.
 *
 * Operations: mon__quarantine_build (one pass over the batch's errors and
 * rows), mon__quarantine_write (a count and a bulk insert),
 * mon__quarantine_invalid (one index range), mon_quarantine_list (one
 * index range by id). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "monitor/privacy.h"
#include "monitor/quarantine.h"
#include "monitor/window.h"

/* A feature's value as a hashed or dropped column stores it: the hash of
 * its canonical text, or null (dropped, or a value that cannot be a
 * category and so has no hash). NULL when memory runs out. */
static cJSON *private_value(const mon_column *col, const cJSON *it, mw_status *st) {
  char num[64], hex[65];
  bool missing = false;
  const char *t = col->privacy == MON_PRIVACY_HASH
                      ? mon__json_category(it, num, sizeof num, &missing)
                      : NULL;
  if(!t || missing)
    return cJSON_CreateNull();
  if((*st = mon__privacy_hash(col, t, hex)))
    return NULL;
  return cJSON_CreateString(hex);
}

/* The values of a quarantined row as stored: the row as it was sent,
 * except that the columns whose schema says "privacy": "hash" or "drop"
 * hold what the column blocks would (the hash, or null). This is the ONE
 * place where a quarantined row's values are written. Returns malloc'd
 * text (*len its length), NULL with *st set on failure. */
static char *row_values(const mon_schema *s, const cJSON *row, size_t *len,
                        mw_status *st) {
  *st = MW_OK;
  *len = 0;
  cJSON *copy = cJSON_Duplicate(row, true);
  if(!copy) {
    *st = MW_ENOMEM;
    return NULL;
  }
  cJSON *features = cJSON_IsObject(copy)
                        ? cJSON_GetObjectItemCaseSensitive(copy, "features")
                        : NULL;
  cJSON *f = cJSON_IsObject(features) ? features->child : NULL;
  for(; f && !*st; f = f->next) {
    long col = mon__schema_find(s, f->string, strlen(f->string));
    if(col < 0 || (size_t)col + 1 == s->ncols ||
       s->cols[col].privacy == MON_PRIVACY_KEEP)
      continue;
    cJSON *v = private_value(&s->cols[col], f, st);
    if(!v) {
      *st = *st ? *st : MW_ENOMEM;
      break;
    }
    /* Replacing by key gives v the member's name (the pointer's form
     * would leave it nameless). */
    if(!cJSON_ReplaceItemInObjectCaseSensitive(features, f->string, v)) {
      cJSON_Delete(v);
      *st = MW_ENOMEM;
      break;
    }
    f = v;
  }
  char *text = *st ? NULL : cJSON_PrintUnformatted(copy);
  cJSON_Delete(copy);
  if(!*st && !text)
    *st = MW_ENOMEM;
  *len = text ? strlen(text) : 0;
  return text;
}

/* The schema column an error's field names ("features.<name>" or
 * "prediction"), or -1. */
static long field_column(const mon_schema *s, const char *field) {
  if(!field)
    return -1;
  if(!strcmp(field, "prediction"))
    return (long)s->ncols - 1;
  if(strncmp(field, "features.", 9))
    return -1;
  long col = mon__schema_find(s, field + 9, strlen(field + 9));
  return col == (long)s->ncols - 1 ? -1 : col;
}

void mon__quarantine_free(mon_qset *q) {
  if(!q)
    return;
  for(size_t i = 0; q->texts && i < 3 * q->n; i++)
    free(q->texts[i]);
  free(q->texts);
  free(q->rows);
  memset(q, 0, sizeof *q);
}

/* The listed errors grouped by row: items[off[i] .. off[i + 1]) are row
 * i's, in the order they were found (two passes over the list). */
struct by_row {
  size_t *off;
  const cJSON **items;
};

static long item_index(const cJSON *e, size_t n) {
  const cJSON *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
  if(!cJSON_IsNumber(ix) || ix->valuedouble < 0 || ix->valuedouble >= (double)n)
    return -1;
  return (long)ix->valuedouble;
}

static mw_status group_errors(const cJSON *list, size_t n, struct by_row *g) {
  g->off = calloc(n + 1, sizeof *g->off);
  size_t total = (size_t)cJSON_GetArraySize(list);
  g->items = malloc((total ? total : 1) * sizeof *g->items);
  if(!g->off || !g->items)
    return MW_ENOMEM;
  const cJSON *e;
  cJSON_ArrayForEach(e, list) {
    long i = item_index(e, n);
    if(i >= 0)
      g->off[i + 1]++;
  }
  for(size_t i = 0; i < n; i++)
    g->off[i + 1] += g->off[i];
  size_t *next = malloc((n ? n : 1) * sizeof *next);
  if(!next)
    return MW_ENOMEM;
  memcpy(next, g->off, n * sizeof *next);
  cJSON_ArrayForEach(e, list) {
    long i = item_index(e, n);
    if(i >= 0)
      g->items[next[i]++] = e;
  }
  free(next);
  return MW_OK;
}

/* The errors of row i as a JSON array of {field, message} and its columns
 * as ",0,3," (into q's texts k and k+1). */
static mw_status row_errors(const mon_schema *s, const struct by_row *g, size_t i,
                            uint8_t *seen, mon_qset *q, size_t k) {
  cJSON *arr = cJSON_CreateArray();
  if(!arr)
    return MW_ENOMEM;
  memset(seen, 0, s->ncols);
  for(size_t e = g->off[i]; e < g->off[i + 1]; e++) {
    const char *field = mw_json_str(g->items[e], "field");
    const char *msg = mw_json_str(g->items[e], "message");
    cJSON *o = cJSON_CreateObject();
    if(o) {
      cJSON_AddStringToObject(o, "field", field ? field : "");
      cJSON_AddStringToObject(o, "message", msg ? msg : "");
      cJSON_AddItemToArray(arr, o);
    }
    long col = field_column(s, field);
    if(col >= 0)
      seen[col] = 1;
  }
  q->texts[k] = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  mw_buf cols;
  mw_buf_init(&cols, (size_t)s->ncols * 8 + 8);
  mw_status st = mw_buf_append(&cols, ",", 1);
  for(size_t c = 0; !st && c < s->ncols; c++)
    if(seen[c])
      st = mw_buf_printf(&cols, "%zu,", c);
  if(!st && !(q->texts[k + 1] = strdup(cols.data)))
    st = MW_ENOMEM;
  mw_buf_free(&cols);
  return !st && q->texts[k] ? st : MW_ENOMEM;
}

mw_status mon__quarantine_build(const mon_schema *s, const cJSON *rows,
                                const mon_batch *b, const mon_errors *errs,
                                int64_t now_ms, mon_qset *q, uint8_t *keep) {
  assert(errs->per_row && errs->nrows == b->n);
  memset(q, 0, sizeof *q);
  size_t nbad = 0;
  for(size_t i = 0; i < b->n; i++) {
    keep[i] = errs->per_row[i] == 0;
    nbad += !keep[i];
  }
  if(nbad == 0)
    return MW_OK;
  struct by_row g = {NULL, NULL};
  q->rows = calloc(nbad, sizeof *q->rows);
  q->texts = calloc(3 * nbad, sizeof *q->texts);
  uint8_t *seen = malloc(s->ncols);
  mw_status st = q->rows && q->texts && seen ? MW_OK : MW_ENOMEM;
  if(!st)
    st = group_errors(errs->list, b->n, &g);
  size_t i = 0;
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    if(st || i >= b->n)
      break;
    if(keep[i]) {
      i++;
      continue;
    }
    size_t k = q->n, len = 0;
    char *text = row_values(s, row, &len, &st);
    if(!text)
      break;
    if(len > MON_MAX_QUARANTINE_ROW) {
      free(text);
      text = NULL;
    }
    q->texts[3 * k] = text;
    q->n++;
    st = row_errors(s, &g, i, seen, q, 3 * k + 1);
    q->rows[k] = (mon_qrow){0,
                            b->ts[i],
                            now_ms,
                            (int64_t)i,
                            b->ids[i],
                            q->texts[3 * k],
                            (int64_t)len,
                            q->texts[3 * k + 1],
                            (int64_t)errs->per_row[i],
                            q->texts[3 * k + 2]};
    i++;
  }
  free(g.off);
  free(g.items);
  free(seen);
  if(st)
    mon__quarantine_free(q);
  return st;
}

mw_status mon__quarantine_write(mw_conn *c, int64_t version_id, const mon_qset *q,
                                int64_t *held) {
  const struct mon_store *store = mon__store(c);
  *held = 0;
  if(q->n == 0)
    return MW_OK;
  mw_status st = store->quarantine_count(c, version_id, held);
  if(!st && *held + (int64_t)q->n > MON_MAX_QUARANTINE)
    return MW_ECONFLICT;
  if(!st)
    st = store->quarantine_insert(c, version_id, q->rows, q->n);
  return st;
}

/* ------------------------------------------------------------ reading */

struct invalid {
  int64_t *counts;
  size_t ncols;
  int64_t *rows;
};

static mw_status count_cols(void *ctx, const char *cols) {
  struct invalid *x = ctx;
  (*x->rows)++;
  for(const char *p = cols; p && *p;) {
    if(*p == ',') {
      p++;
      continue;
    }
    char *end;
    unsigned long long col = strtoull(p, &end, 10);
    if(end == p)
      break; /* not written by mon__quarantine_build: ignored */
    if(col < x->ncols)
      x->counts[col]++;
    p = end;
  }
  return MW_OK;
}

mw_status mon__quarantine_invalid(mw_conn *c, int64_t version_id, int64_t from,
                                  int64_t to, int64_t *counts, size_t ncols,
                                  int64_t *rows) {
  struct invalid x = {counts, ncols, rows};
  return mon__store(c)->quarantine_cols(c, version_id, from, to, count_cols, &x);
}

struct listing {
  cJSON *rows;
  int64_t last;
};

static mw_status add_row(void *ctx, const mon_qrow *r) {
  struct listing *l = ctx;
  cJSON *o = cJSON_CreateObject();
  if(!o)
    return MW_ENOMEM;
  cJSON_AddNumberToObject(o, "id", (double)r->id);
  mw_json_add_time(o, "timestamp", r->ts);
  mw_json_add_time(o, "received_at", r->received_at);
  cJSON_AddNumberToObject(o, "index", (double)r->index);
  cJSON *row = r->row ? cJSON_Parse(r->row) : NULL;
  if(row)
    cJSON_AddItemToObject(o, "row", row);
  cJSON_AddBoolToObject(o, "row_kept", row != NULL);
  cJSON_AddNumberToObject(o, "row_bytes", (double)r->row_bytes);
  cJSON *errors = cJSON_Parse(r->errors);
  cJSON_AddItemToObject(o, "errors", errors ? errors : cJSON_CreateArray());
  cJSON_AddNumberToObject(o, "error_count", (double)r->error_count);
  cJSON_AddItemToArray(l->rows, o);
  l->last = r->id;
  return MW_OK;
}

mw_status mon_quarantine_list(mw_conn *c, const mon_version *v, int64_t from_ms,
                              int64_t to_ms, int limit, int64_t after_id,
                              cJSON **out, mw_err *err) {
  *out = NULL;
  if(limit < 1 || limit > 1000)
    return mw_errf(err, MW_EINVAL, "limit must be 1-1000");
  const struct mon_store *store = mon__store(c);
  cJSON *o = cJSON_CreateObject();
  struct listing l = {cJSON_AddArrayToObject(o, "rows"), 0};
  int64_t held = 0;
  mw_status st = mon__read_begin(c);
  if(!st) {
    st = store->quarantine_list(c, v->id, from_ms, to_ms, after_id, limit, add_row,
                                &l);
    if(!st)
      st = store->quarantine_count(c, v->id, &held);
    mon__read_end(c);
  }
  if(st) {
    cJSON_Delete(o);
    return st;
  }
  cJSON_AddNumberToObject(o, "count", (double)held);
  cJSON_AddNumberToObject(o, "limit", (double)MON_MAX_QUARANTINE);
  if(cJSON_GetArraySize(l.rows) == limit) {
    char tok[32];
    snprintf(tok, sizeof tok, "%lld", (long long)l.last);
    cJSON_AddStringToObject(o, "next_page_token", tok);
  } else {
    cJSON_AddNullToObject(o, "next_page_token");
  }
  *out = o;
  return MW_OK;
}

int mon_on_invalid_parse(const char *s, mon_on_invalid *out) {
  if(!strcmp(s, "reject"))
    *out = MON_INVALID_REJECT;
  else if(!strcmp(s, "quarantine"))
    *out = MON_INVALID_QUARANTINE;
  else
    return 0;
  return 1;
}
