/* monitor/batch.c - a batch of rows validated as a whole (monitor/batch.h):
 * prediction ingest and reference uploads parse their rows here, so both
 * accept and refuse exactly the same values. Every problem of every row is
 * collected (up to MON_MAX_ERRORS) before anything is stored. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/batch.h"
#include "monitor/dict.h"
#include "monitor/privacy.h"

void mon__batch_free(mon_batch *b) {
  if(!b)
    return;
  free(b->ts);
  free(b->vals);
  free(b->cats);
  free(b->ids);
  free(b->has_label);
  free(b->labels);
  free(b->label_cats);
  for(size_t i = 0; i < b->narena; i++)
    free(b->arena[i]);
  free(b->arena);
  memset(b, 0, sizeof *b);
}

void mon__batch_compact(mon_batch *b, const uint8_t *keep) {
  size_t n = b->n, k = 0;
  bool ids = false, labels = false;
  /* Column-major arrays keep their stride n while rows move, then close
   * up to the new stride k. */
  for(size_t i = 0; i < n; i++) {
    if(!keep[i])
      continue;
    b->ts[k] = b->ts[i];
    b->ids[k] = b->ids[i];
    b->has_label[k] = b->has_label[i];
    b->labels[k] = b->labels[i];
    b->label_cats[k] = b->label_cats[i];
    for(size_t c = 0; c < b->ncols; c++) {
      b->vals[c * n + k] = b->vals[c * n + i];
      if(b->cats)
        b->cats[c * n + k] = b->cats[c * n + i];
    }
    ids |= b->ids[k] != NULL;
    labels |= b->has_label[k];
    k++;
  }
  for(size_t c = 1; c < b->ncols; c++) {
    memmove(b->vals + c * k, b->vals + c * n, k * sizeof *b->vals);
    if(b->cats)
      memmove(b->cats + c * k, b->cats + c * n, k * sizeof *b->cats);
  }
  b->n = k;
  b->any_ids = ids;
  b->any_labels = labels;
}

const char *mon__batch_keep(mon_batch *b, const char *s) {
  if(b->narena == b->arena_cap) {
    size_t ncap = b->arena_cap ? b->arena_cap * 2 : 64;
    char **na = realloc(b->arena, ncap * sizeof *na);
    if(!na)
      return NULL;
    b->arena = na;
    b->arena_cap = ncap;
  }
  char *copy = strdup(s);
  if(copy)
    b->arena[b->narena++] = copy;
  return copy;
}

const char *mon__batch_field(const mon_schema *s, size_t col, char *buf,
                             size_t cap) {
  assert(col < s->ncols);
  if(col + 1 == s->ncols)
    return "prediction";
  snprintf(buf, cap, "features.%.200s", s->cols[col].name);
  return buf;
}

/* Stores the value of column col for row i, or records why it cannot. */
/* A value of a hashed or dropped column (monitor/privacy.c): validated as
 * the schema declares it, then stored as the hex HMAC of its canonical
 * text (a category) or as missing. The value itself goes nowhere: not in
 * the batch, nor in an error message. */
static mw_status set_private(const mon_schema *s, mon_batch *b, size_t col, size_t i,
                             const cJSON *it, mon_errors *errs) {
  const mon_column *c = &s->cols[col];
  char fb[256], num[64];
  size_t at = col * b->n + i;
  bool missing = false;
  const char *t = NULL;
  if(c->declared == MON_COLUMN_NUMERIC) {
    double d;
    if(!mon__json_number(it, &d)) {
      mon__errors_add(errs, (long)i, mon__batch_field(s, col, fb, sizeof fb),
                      "expected a number, null or \"NaN\"");
      return MW_OK;
    }
    missing = isnan(d);
    if(!missing)
      t = mon__json_category(it, num, sizeof num, &missing);
  } else if(!(t = mon__json_category(it, num, sizeof num, &missing))) {
    mon__errors_add(errs, (long)i, mon__batch_field(s, col, fb, sizeof fb),
                    "expected a string (or a number or boolean) of at most %d "
                    "bytes for a categorical column",
                    MON_MAX_CAT_LEN);
    return MW_OK;
  }
  b->vals[at] = NAN; /* dropped or missing; a hash's code comes with encode */
  if(c->privacy == MON_PRIVACY_DROP || missing || !t)
    return MW_OK;
  char hex[65];
  mw_status st = mon__privacy_hash(c, t, hex);
  if(!st && !(b->cats[at] = mon__batch_keep(b, hex)))
    st = MW_ENOMEM;
  return st;
}

static mw_status set_value(const mon_schema *s, mon_batch *b, size_t col, size_t i,
                           const cJSON *it, mon_errors *errs) {
  char fb[256];
  size_t at = col * b->n + i;
  if(s->cols[col].privacy != MON_PRIVACY_KEEP)
    return set_private(s, b, col, i, it, errs);
  if(s->cols[col].kind == MON_COLUMN_NUMERIC) {
    if(!mon__json_number(it, &b->vals[at]))
      mon__errors_add(errs, (long)i, mon__batch_field(s, col, fb, sizeof fb),
                      "expected a number, null or \"NaN\"");
    return MW_OK;
  }
  char num[64];
  bool missing;
  const char *t = mon__json_category(it, num, sizeof num, &missing);
  if(!t) {
    mon__errors_add(errs, (long)i, mon__batch_field(s, col, fb, sizeof fb),
                    "expected a string (or a number or boolean) of at most %d "
                    "bytes for a categorical column",
                    MON_MAX_CAT_LEN);
    return MW_OK;
  }
  if(missing)
    return MW_OK;
  if(t == num && !(t = mon__batch_keep(b, num)))
    return MW_ENOMEM;
  b->cats[at] = t;
  return MW_OK;
}

int mon__batch_id_text(mon_batch *b, const cJSON *it, const char **out,
                       mw_status *st) {
  *st = MW_OK;
  if(cJSON_IsString(it)) {
    size_t len = strlen(it->valuestring);
    if(len == 0 || len > MON_MAX_ID_LEN)
      return 0;
    *out = it->valuestring;
    return 1;
  }
  if(cJSON_IsNumber(it)) {
    double d = it->valuedouble;
    if(d != floor(d) || fabs(d) >= 9.007199254740992e15)
      return 0;
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)d);
    if(!(*out = mon__batch_keep(b, num)))
      *st = MW_ENOMEM;
    return 1;
  }
  return 0;
}

/* A label of the prediction's kind; null and NaN are no label. */
static mw_status set_label(const mon_schema *s, mon_batch *b, size_t i,
                           const cJSON *it, mon_errors *errs) {
  const mon_column *pc = &s->cols[s->ncols - 1];
  if(pc->kind == MON_COLUMN_NUMERIC) {
    double d;
    if(!mon__json_number(it, &d)) {
      mon__errors_add(errs, (long)i, "label", "expected a number");
      return MW_OK;
    }
    if(!isnan(d)) {
      b->labels[i] = d;
      b->has_label[i] = true;
      b->any_labels = true;
    }
    return MW_OK;
  }
  char num[64];
  bool missing;
  const char *t = mon__json_category(it, num, sizeof num, &missing);
  if(!t) {
    mon__errors_add(errs, (long)i, "label",
                    "expected a string (or a number or boolean)");
    return MW_OK;
  }
  if(missing)
    return MW_OK;
  if(t == num && !(t = mon__batch_keep(b, num)))
    return MW_ENOMEM;
  b->label_cats[i] = t;
  b->has_label[i] = true;
  b->any_labels = true;
  return MW_OK;
}

/* The row's keys, as bits of which were given. */
enum { F_FEATURES = 1, F_PREDICTION = 2, F_ID = 4, F_TIMESTAMP = 8, F_LABEL = 16 };

static unsigned key_bit(const char *key) {
  static const struct {
    const char *name;
    unsigned bit;
  } keys[] = {{"features", F_FEATURES},
              {"prediction", F_PREDICTION},
              {"id", F_ID},
              {"timestamp", F_TIMESTAMP},
              {"label", F_LABEL}};
  for(size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
    if(!strcmp(key, keys[k].name))
      return keys[k].bit;
  return 0;
}

/* The id of row i (null: none). */
static mw_status set_id(mon_batch *b, size_t i, const cJSON *k, mon_errors *errs) {
  mw_status st = MW_OK;
  if(cJSON_IsNull(k))
    return MW_OK;
  if(!mon__batch_id_text(b, k, &b->ids[i], &st)) {
    mon__errors_add(errs, (long)i, "id",
                    "expected a string of 1-%d bytes or an integer", MON_MAX_ID_LEN);
    return MW_OK;
  }
  if(st)
    return st;
  b->any_ids = true;
  return MW_OK;
}

/* The timestamp of row i (null: the time of arrival). */
static void set_ts(mon_batch *b, size_t i, const cJSON *k, int64_t now_ms,
                   mon_errors *errs) {
  int64_t ms;
  if(cJSON_IsNull(k))
    return;
  if(!cJSON_IsString(k) || mw_time_parse(k->valuestring, &ms) || ms < 0)
    mon__errors_add(errs, (long)i, "timestamp",
                    "expected an RFC 3339 time such as 2026-11-27T08:00:00Z");
  else if(ms > now_ms + MON_FUTURE_SLACK_MS)
    mon__errors_add(errs, (long)i, "timestamp", "more than 24 hours in the future");
  else
    b->ts[i] = ms;
}

/* The features object of row i: every schema feature exactly once. */
static mw_status set_features(const mon_schema *s, mon_batch *b, size_t i,
                              const cJSON *features, uint8_t *seen,
                              mon_errors *errs) {
  char fb[300];
  size_t nfeat = s->ncols - 1;
  if(!cJSON_IsObject(features)) {
    mon__errors_add(errs, (long)i, "features",
                    "must be an object mapping column names to values");
    return MW_OK;
  }
  memset(seen, 0, nfeat);
  size_t j = 0;
  const cJSON *f;
  cJSON_ArrayForEach(f, features) {
    /* Clients usually send the columns in schema order: try that first. */
    long col = j < nfeat && !strcmp(s->cols[j].name, f->string)
                   ? (long)j
                   : mon__schema_find(s, f->string, strlen(f->string));
    j++;
    if(col < 0 || (size_t)col == nfeat || seen[col]) {
      snprintf(fb, sizeof fb, "features.%.200s", f->string);
      mon__errors_add(errs, (long)i, fb,
                      col < 0 || (size_t)col == nfeat ? "unknown column"
                                                      : "given twice");
      continue;
    }
    seen[col] = 1;
    mw_status st = set_value(s, b, (size_t)col, i, f, errs);
    if(st)
      return st;
  }
  for(size_t c = 0; c < nfeat; c++)
    if(!seen[c]) {
      snprintf(fb, sizeof fb, "features.%.200s", s->cols[c].name);
      mon__errors_add(errs, (long)i, fb,
                      "missing column (send null for a missing value)");
    }
  return MW_OK;
}

static mw_status parse_row(const mon_schema *s, const cJSON *row, size_t i,
                           bool for_reference, int64_t now_ms, mon_batch *b,
                           uint8_t *seen, mon_errors *errs) {
  mw_status st = MW_OK;
  char fb[300];
  b->ts[i] = now_ms;
  if(!cJSON_IsObject(row)) {
    mon__errors_add(errs, (long)i, "", "a prediction must be a JSON object");
    return MW_OK;
  }
  const cJSON *features = NULL, *pred = NULL, *k;
  unsigned given = 0;
  cJSON_ArrayForEach(k, row) {
    unsigned bit = key_bit(k->string);
    if(!bit || (given & bit)) {
      snprintf(fb, sizeof fb, "%.200s", k->string);
      mon__errors_add(errs, (long)i, fb,
                      !bit ? "unknown field (expected id, timestamp, features, "
                             "prediction, label)"
                           : "given twice");
      continue;
    }
    given |= bit;
    if(bit == F_FEATURES)
      features = k;
    else if(bit == F_PREDICTION)
      pred = k;
    else if(for_reference)
      continue; /* id, timestamp and label mean nothing in a reference */
    else if(bit == F_ID)
      st = set_id(b, i, k, errs);
    else if(bit == F_TIMESTAMP)
      set_ts(b, i, k, now_ms, errs);
    else if(!cJSON_IsNull(k))
      st = set_label(s, b, i, k, errs);
    if(st)
      return st;
  }
  if(!features)
    mon__errors_add(errs, (long)i, "features", "missing");
  else if((st = set_features(s, b, i, features, seen, errs)))
    return st;
  if(!pred)
    mon__errors_add(errs, (long)i, "prediction", "missing");
  else if((st = set_value(s, b, s->ncols - 1, i, pred, errs)))
    return st;
  return MW_OK;
}

static uint64_t hash_id(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for(; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

mw_status mon__batch_check_ids(const mon_batch *b, mon_errors *errs) {
  size_t nslots = 16;
  while(nslots < b->n * 2)
    nslots *= 2;
  size_t *slots = calloc(nslots, sizeof *slots);
  if(!slots)
    return MW_ENOMEM;
  for(size_t i = 0; i < b->n; i++) {
    const char *id = b->ids[i];
    if(!id)
      continue;
    size_t k = hash_id(id) & (nslots - 1);
    for(;; k = (k + 1) & (nslots - 1)) {
      if(!slots[k]) {
        slots[k] = i + 1;
        break;
      }
      if(!strcmp(b->ids[slots[k] - 1], id)) {
        mon__errors_add(errs, (long)i, "id",
                        "duplicate id within the batch (first at index %zu)",
                        slots[k] - 1);
        break;
      }
    }
  }
  free(slots);
  return MW_OK;
}

/* Allocates b's arrays for n rows of s. */
static mw_status batch_alloc(const mon_schema *s, size_t n, mon_batch *b) {
  memset(b, 0, sizeof *b);
  b->n = n;
  b->ncols = s->ncols;
  for(size_t c = 0; c < s->ncols; c++)
    if(s->cols[c].kind == MON_COLUMN_CATEGORICAL)
      b->any_cats = true;
  size_t nn = n ? n : 1;
  b->ts = malloc(nn * sizeof *b->ts);
  b->vals = malloc(nn * s->ncols * sizeof *b->vals);
  b->ids = calloc(nn, sizeof *b->ids);
  b->has_label = calloc(nn, sizeof *b->has_label);
  b->labels = malloc(nn * sizeof *b->labels);
  b->label_cats = calloc(nn, sizeof *b->label_cats);
  if(b->any_cats)
    b->cats = calloc(nn * s->ncols, sizeof *b->cats);
  if(!b->ts || !b->vals || !b->ids || !b->has_label || !b->labels ||
     !b->label_cats || (b->any_cats && !b->cats)) {
    mon__batch_free(b);
    return MW_ENOMEM;
  }
  for(size_t k = 0; k < n * s->ncols; k++)
    b->vals[k] = NAN;
  return MW_OK;
}

mw_status mon__batch_parse(const mon_schema *s, const cJSON *rows,
                           bool for_reference, int64_t now_ms, mon_batch *b,
                           mon_errors *errs) {
  assert(s->ncols >= 1 && cJSON_IsArray(rows));
  mw_status st = batch_alloc(s, (size_t)cJSON_GetArraySize(rows), b);
  uint8_t *seen = st ? NULL : malloc(s->ncols);
  if(!st && !seen)
    st = MW_ENOMEM;
  size_t i = 0;
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    if(st || (st = parse_row(s, row, i, for_reference, now_ms, b, seen, errs)))
      break;
    i++;
  }
  free(seen);
  if(!st && b->any_ids)
    st = mon__batch_check_ids(b, errs);
  if(st)
    mon__batch_free(b);
  return st;
}

/* Codes of the categorical column col (and of the labels, for the
 * prediction column) through the stored dictionary d. */
static mw_status encode_column(const mon_schema *s, mon_batch *b, size_t col,
                               mon_dict *d, mon_errors *errs) {
  char fb[256];
  bool full = false;
  for(size_t i = 0; i < b->n; i++) {
    const char *t = b->cats[col * b->n + i];
    long code;
    mw_status st = t ? mon__dict_intern(d, t, &code) : MW_OK;
    if(st == MW_ETOOBIG) {
      if(!full)
        mon__errors_add(errs, (long)i, mon__batch_field(s, col, fb, sizeof fb),
                        "more than %d distinct categories in this column",
                        MON_MAX_CATEGORIES);
      full = true;
    } else if(st) {
      return st;
    } else if(t) {
      b->vals[col * b->n + i] = (double)code;
    }
  }
  if(col + 1 < s->ncols || !b->any_labels)
    return MW_OK;
  for(size_t i = 0; i < b->n; i++) {
    if(!b->has_label[i] || !b->label_cats[i])
      continue;
    long code;
    mw_status st = mon__dict_intern(d, b->label_cats[i], &code);
    if(st == MW_ETOOBIG)
      mon__errors_add(errs, (long)i, "label",
                      "more than %d distinct categories in the prediction",
                      MON_MAX_CATEGORIES);
    else if(st)
      return st;
    else
      b->labels[i] = (double)code;
  }
  return MW_OK;
}

mw_status mon__batch_encode(mw_conn *c, int64_t version_id, const mon_schema *s,
                            mon_batch *b, mon_errors *errs) {
  assert(b->ncols == s->ncols);
  if(!b->any_cats)
    return MW_OK;
  mw_status st = MW_OK;
  for(size_t col = 0; col < s->ncols && !st; col++) {
    if(s->cols[col].kind != MON_COLUMN_CATEGORICAL)
      continue;
    mon_dict d;
    if((st = mon__dict_load(c, version_id, col, &d)))
      break;
    st = encode_column(s, b, col, &d, errs);
    if(!st)
      st = mon__dict_save(c, version_id, col, &d);
    mon__dict_free(&d);
  }
  return st;
}
