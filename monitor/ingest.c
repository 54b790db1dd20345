/* monitor/ingest.c - predictions and labels in: a batch is validated as a
 * whole against the version's schema into a column-major staging area,
 * then written in one transaction as column blocks (see
 * migrations/0003_monitor.sql for the layout and why). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_sqlite.h"
#include "monitor/internal.h"

/* ------------------------------------------------------------ staging */

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

/* Keeps a copy of s alive as long as the batch; NULL on failure. */
static const char *arena_keep(mon_batch *b, const char *s) {
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

/* "features.<name>" (or the column's own name for the prediction). */
static const char *field_name(const mon_schema *s, size_t col, char *buf,
                              size_t cap) {
  if(col + 1 == s->ncols)
    return "prediction";
  snprintf(buf, cap, "features.%.200s", s->cols[col].name);
  return buf;
}

/* Stores the value of column col for row i, or records why it cannot. */
static mw_status set_value(const mon_schema *s, mon_batch *b, size_t col,
                           size_t i, const cJSON *it, mon_errors *errs) {
  char fb[256];
  size_t at = col * b->n + i;
  if(s->cols[col].kind == MON_COLUMN_NUMERIC) {
    if(!mon__json_number(it, &b->vals[at]))
      mon__errors_add(errs, (long)i, field_name(s, col, fb, sizeof fb),
                      "expected a number, null or \"NaN\"");
    return MW_OK;
  }
  char num[64];
  bool missing;
  const char *t = mon__json_category(it, num, sizeof num, &missing);
  if(!t) {
    mon__errors_add(errs, (long)i, field_name(s, col, fb, sizeof fb),
                    "expected a string (or a number or boolean) of at most %d "
                    "bytes for a categorical column",
                    MON_MAX_CAT_LEN);
    return MW_OK;
  }
  if(missing)
    return MW_OK;
  if(t == num && !(t = arena_keep(b, num)))
    return MW_ENOMEM;
  b->cats[at] = t;
  return MW_OK;
}

/* Text of an id: a string of 1..MON_MAX_ID_LEN bytes or an integer. */
static int id_text(mon_batch *b, const cJSON *it, const char **out,
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
    if(!(*out = arena_keep(b, num)))
      *st = MW_ENOMEM;
    return 1;
  }
  return 0;
}

/* A label of the prediction's kind; *present false for null/NaN. */
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
  if(t == num && !(t = arena_keep(b, num)))
    return MW_ENOMEM;
  b->label_cats[i] = t;
  b->has_label[i] = true;
  b->any_labels = true;
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
  const cJSON *features = NULL, *pred = NULL;
  unsigned given = 0; /* bits: features, prediction, id, timestamp, label */
  const cJSON *k;
  cJSON_ArrayForEach(k, row) {
    const char *key = k->string;
    unsigned bit;
    if(!strcmp(key, "features"))
      bit = 1;
    else if(!strcmp(key, "prediction"))
      bit = 2;
    else if(!strcmp(key, "id"))
      bit = 4;
    else if(!strcmp(key, "timestamp"))
      bit = 8;
    else if(!strcmp(key, "label"))
      bit = 16;
    else {
      snprintf(fb, sizeof fb, "%.200s", key);
      mon__errors_add(errs, (long)i, fb,
                      "unknown field (expected id, timestamp, features, "
                      "prediction, label)");
      continue;
    }
    if(given & bit) {
      snprintf(fb, sizeof fb, "%.200s", key);
      mon__errors_add(errs, (long)i, fb, "given twice");
      continue;
    }
    given |= bit;
    if(bit == 1) {
      features = k;
    } else if(bit == 2) {
      pred = k;
    } else if(for_reference) {
      continue; /* id, timestamp and label mean nothing in a reference */
    } else if(bit == 4) {
      if(cJSON_IsNull(k))
        continue;
      if(!id_text(b, k, &b->ids[i], &st)) {
        mon__errors_add(errs, (long)i, "id",
                        "expected a string of 1-%d bytes or an integer",
                        MON_MAX_ID_LEN);
      } else {
        if(st)
          return st;
        b->any_ids = true;
      }
    } else if(bit == 8) {
      if(cJSON_IsNull(k))
        continue;
      int64_t ms;
      if(!cJSON_IsString(k) || mw_time_parse(k->valuestring, &ms) || ms < 0)
        mon__errors_add(errs, (long)i, "timestamp",
                        "expected an RFC 3339 time such as 2026-11-27T08:00:00Z");
      else if(ms > now_ms + MON_FUTURE_SLACK_MS)
        mon__errors_add(errs, (long)i, "timestamp",
                        "more than 24 hours in the future");
      else
        b->ts[i] = ms;
    } else if(!cJSON_IsNull(k) && (st = set_label(s, b, i, k, errs))) {
      return st;
    }
  }
  size_t nfeat = s->ncols - 1;
  if(!features) {
    mon__errors_add(errs, (long)i, "features", "missing");
  } else if(!cJSON_IsObject(features)) {
    mon__errors_add(errs, (long)i, "features",
                    "must be an object mapping column names to values");
  } else {
    memset(seen, 0, nfeat);
    size_t j = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, features) {
      /* Clients usually send the columns in schema order: try that first. */
      long col = j < nfeat && !strcmp(s->cols[j].name, f->string)
                     ? (long)j
                     : mon__schema_find(s, f->string, strlen(f->string));
      j++;
      if(col < 0 || (size_t)col == nfeat) {
        snprintf(fb, sizeof fb, "features.%.200s", f->string);
        mon__errors_add(errs, (long)i, fb, "unknown column");
        continue;
      }
      if(seen[col]) {
        snprintf(fb, sizeof fb, "features.%.200s", f->string);
        mon__errors_add(errs, (long)i, fb, "given twice");
        continue;
      }
      seen[col] = 1;
      if((st = set_value(s, b, (size_t)col, i, f, errs)))
        return st;
    }
    for(size_t c = 0; c < nfeat; c++)
      if(!seen[c]) {
        snprintf(fb, sizeof fb, "features.%.200s", s->cols[c].name);
        mon__errors_add(errs, (long)i, fb,
                        "missing column (send null for a missing value)");
      }
  }
  if(!pred)
    mon__errors_add(errs, (long)i, "prediction", "missing");
  else if((st = set_value(s, b, nfeat, i, pred, errs)))
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

/* Reports ids given twice in the batch. */
static mw_status check_batch_ids(mon_batch *b, mon_errors *errs) {
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

mw_status mon__batch_parse(const mon_schema *s, const cJSON *rows,
                           bool for_reference, int64_t now_ms, mon_batch *b,
                           mon_errors *errs) {
  memset(b, 0, sizeof *b);
  size_t n = (size_t)cJSON_GetArraySize(rows);
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
  uint8_t *seen = malloc(s->ncols);
  if(!b->ts || !b->vals || !b->ids || !b->has_label || !b->labels ||
     !b->label_cats || (b->any_cats && !b->cats) || !seen) {
    free(seen);
    mon__batch_free(b);
    return MW_ENOMEM;
  }
  for(size_t k = 0; k < n * s->ncols; k++)
    b->vals[k] = NAN;
  mw_status st = MW_OK;
  size_t i = 0;
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    if((st = parse_row(s, row, i, for_reference, now_ms, b, seen, errs)))
      break;
    i++;
  }
  free(seen);
  if(!st && b->any_ids)
    st = check_batch_ids(b, errs);
  if(st)
    mon__batch_free(b);
  return st;
}

mw_status mon__batch_encode(mw_conn *c, int64_t version_id,
                            const mon_schema *s, mon_batch *b,
                            mon_errors *errs) {
  if(!b->any_cats)
    return MW_OK;
  mw_status st = MW_OK;
  char fb[256];
  for(size_t col = 0; col < s->ncols && !st; col++) {
    if(s->cols[col].kind != MON_COLUMN_CATEGORICAL)
      continue;
    mon_dict d;
    if((st = mon__store_dict_load(c, version_id, col, &d)))
      break;
    bool full = false;
    for(size_t i = 0; i < b->n && !st; i++) {
      const char *t = b->cats[col * b->n + i];
      if(!t)
        continue;
      long code;
      st = mon__dict_intern(&d, t, &code);
      if(st == MW_ETOOBIG) {
        st = MW_OK;
        if(!full)
          mon__errors_add(errs, (long)i, field_name(s, col, fb, sizeof fb),
                          "more than %d distinct categories in this column",
                          MON_MAX_CATEGORIES);
        full = true;
        continue;
      }
      b->vals[col * b->n + i] = (double)code;
    }
    if(!st && col + 1 == s->ncols && b->any_labels) {
      for(size_t i = 0; i < b->n && !st; i++) {
        if(!b->has_label[i] || !b->label_cats[i])
          continue;
        long code;
        st = mon__dict_intern(&d, b->label_cats[i], &code);
        if(st == MW_ETOOBIG) {
          st = MW_OK;
          mon__errors_add(errs, (long)i, "label",
                          "more than %d distinct categories in the prediction",
                          MON_MAX_CATEGORIES);
          continue;
        }
        b->labels[i] = (double)code;
      }
    }
    if(!st)
      st = mon__store_dict_save(c, version_id, col, &d);
    mon__dict_free(&d);
  }
  return st;
}

/* ------------------------------------------------------------- ingest */

static int64_t bucket_of(int64_t ts) { return ts / MON_BUCKET_MS; }

struct bucket_key {
  int64_t bucket;
  size_t row;
};

static int cmp_bucket(const void *a, const void *b) {
  const struct bucket_key *x = a, *y = b;
  if(x->bucket != y->bucket)
    return x->bucket < y->bucket ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

/* Writes b as blocks, one per 5-minute bucket it touches. */
static mw_status write_blocks(mw_conn *c, int64_t version_id, const mon_batch *b,
                              int64_t now_ms) {
  mw_status st = MW_OK;
  mw_buf scratch;
  mw_buf_init(&scratch, (size_t)MON_MAX_BATCH * 8 + (size_t)MON_MAX_BATCH *
                                                        (MON_MAX_ID_LEN + 1));
  bool one = true;
  for(size_t i = 1; i < b->n && one; i++)
    one = bucket_of(b->ts[i]) == bucket_of(b->ts[0]);
  if(one) {
    st = mon__store_block(c, version_id, b, NULL, b->n, now_ms, &scratch);
    mw_buf_free(&scratch);
    return st;
  }
  struct bucket_key *keys = malloc(b->n * sizeof *keys);
  size_t *rows = malloc(b->n * sizeof *rows);
  if(!keys || !rows) {
    st = MW_ENOMEM;
    goto out;
  }
  for(size_t i = 0; i < b->n; i++) {
    keys[i].bucket = bucket_of(b->ts[i]);
    keys[i].row = i;
  }
  qsort(keys, b->n, sizeof *keys, cmp_bucket);
  for(size_t i = 0; i < b->n; i++)
    rows[i] = keys[i].row;
  for(size_t lo = 0; lo < b->n && !st;) {
    size_t hi = lo + 1;
    while(hi < b->n && keys[hi].bucket == keys[lo].bucket)
      hi++;
    st = mon__store_block(c, version_id, b, rows + lo, hi - lo, now_ms, &scratch);
    lo = hi;
  }
out:
  free(keys);
  free(rows);
  mw_buf_free(&scratch);
  return st;
}

/* With type errors the batch is refused anyway; still name the ids that
 * are already stored, so the client sees every problem at once. */
static mw_status check_stored_ids(mw_conn *c, int64_t model_id,
                                  const mon_batch *b, mon_errors *errs) {
  for(size_t i = 0; i < b->n; i++) {
    if(!b->ids[i])
      continue;
    int exists = 0;
    mw_status st = mon__store_id_exists(c, model_id, b->ids[i], &exists);
    if(st)
      return st;
    if(exists)
      mon__errors_add(errs, (long)i, "id",
                      "a prediction with this id is already stored for this model");
  }
  return MW_OK;
}

static mw_status body_array(const cJSON *body, const char *key, const char *what,
                            const cJSON **out, mw_err *err) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, key);
  mon_errors errs;
  mon__errors_init(&errs);
  if(!cJSON_IsArray(arr))
    mon__errors_add(&errs, -1, key, "expected an array of %s", what);
  else if(cJSON_GetArraySize(arr) == 0)
    mon__errors_add(&errs, -1, key, "is empty");
  else if(cJSON_GetArraySize(arr) > MON_MAX_BATCH)
    mon__errors_add(&errs, -1, key, "at most %d per request", MON_MAX_BATCH);
  if(errs.count) {
    char msg[128];
    snprintf(msg, sizeof msg, "the body needs %s: an array of %s", key, what);
    return mon__errors_fail(&errs, err, msg);
  }
  *out = arr;
  return MW_OK;
}

/* One validated batch waiting to be written. */
typedef struct mon_wjob {
  struct mon_wjob *next;
  const mon_version *v;
  const mon_schema *s;
  mon_batch *b;
  int64_t now;
  mon_errors *errs;
  mw_status st;
  bool done;
} mon_wjob;

/* Writes one batch inside the group's transaction: dictionaries, blocks,
 * ids (a stored id is a validation error of that batch only), labels. */
static mw_status write_job(mw_conn *c, mon_wjob *j) {
  const mon_version *v = j->v;
  mon_batch *b = j->b;
  mw_status st = mon__batch_encode(c, v->id, j->s, b, j->errs);
  if(!st && !j->errs->count)
    st = write_blocks(c, v->id, b, j->now);
  size_t pc = (j->s->ncols - 1) * b->n;
  for(size_t i = 0; !st && b->any_ids && i < b->n; i++) {
    if(!b->ids[i])
      continue;
    st = mon__store_id(c, v->model_id, b->ids[i], v->id, b->ts[i], b->vals[pc + i]);
    if(st == MW_ECONFLICT) {
      mon__errors_add(j->errs, (long)i, "id",
                      "a prediction with this id is already stored for this "
                      "model");
      st = MW_OK;
    }
  }
  if(!st && j->errs->count)
    return MW_EVALIDATION;
  for(size_t i = 0; !st && b->any_labels && i < b->n; i++)
    if(b->has_label[i])
      st = mon__store_label(c, v->model_id, b->ids[i], v->id, b->ts[i],
                            b->vals[pc + i], b->labels[i], j->now);
  return st;
}

static mw_status savepoint(mw_conn *c, const char *sql) {
  return mw_step_done(c, mw_stmt(c, sql));
}

/* Writes jobs[0..n) in one transaction, each under its own savepoint so a
 * batch that fails leaves the others in; one COMMIT (one fsync) for all. */
static void write_group(mon_ctx *m, mw_conn *c, mon_wjob **jobs, size_t n) {
  mon__lock(m);
  mw_status st = mw_tx_begin(c);
  for(size_t k = 0; k < n; k++) {
    mon_wjob *j = jobs[k];
    if(st) {
      j->st = st;
      continue;
    }
    if(n == 1) {
      /* Alone in the group: a failure rolls the whole transaction back. */
      st = j->st = write_job(c, j);
      continue;
    }
    if((j->st = savepoint(c, "SAVEPOINT batch")))
      continue;
    j->st = write_job(c, j);
    if(j->st) {
      mw_status rs = savepoint(c, "ROLLBACK TO batch");
      if(rs)
        st = rs; /* the transaction is unusable: fail the rest */
    }
    mw_status rel = savepoint(c, "RELEASE batch");
    if(rel && !st)
      st = rel;
  }
  if(!st)
    st = mw_tx_commit(c);
  if(!st && m) {
    __atomic_add_fetch(&m->n_commits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->n_batches, n, __ATOMIC_RELAXED);
  }
  if(st) {
    mw_tx_rollback(c);
    for(size_t k = 0; k < n; k++)
      if(!jobs[k]->st)
        jobs[k]->st = st;
  }
  mon__unlock(m);
}

/* Group commit: the first writer to arrive writes every batch queued by
 * then in one transaction while the others wait for their verdict. With
 * synchronous=FULL that turns N fsyncs into one, and the write lock is held
 * once instead of N times (measured: the lock was the bottleneck). */
static void submit(mon_ctx *m, mw_conn *c, mon_wjob *job) {
  if(!m) {
    write_group(m, c, &job, 1);
    return;
  }
  enum { MAX_GROUP = 32, MAX_GROUP_ROWS = 64000 };
  pthread_mutex_lock(&m->q_mu);
  job->next = NULL;
  if(m->q_tail)
    m->q_tail->next = job;
  else
    m->q_head = job;
  m->q_tail = job;
  while(!job->done) {
    if(m->q_leader) {
      pthread_cond_wait(&m->q_cv, &m->q_mu);
      continue;
    }
    m->q_leader = 1;
    mon_wjob *group[MAX_GROUP];
    size_t n = 0, rows = 0;
    while(m->q_head && n < MAX_GROUP && (n == 0 || rows + m->q_head->b->n <= MAX_GROUP_ROWS)) {
      mon_wjob *j = m->q_head;
      m->q_head = j->next;
      if(!m->q_head)
        m->q_tail = NULL;
      group[n++] = j;
      rows += j->b->n;
    }
    pthread_mutex_unlock(&m->q_mu);
    write_group(m, c, group, n);
    pthread_mutex_lock(&m->q_mu);
    for(size_t k = 0; k < n; k++)
      group[k]->done = true;
    m->q_leader = 0;
    pthread_cond_broadcast(&m->q_cv);
  }
  pthread_mutex_unlock(&m->q_mu);
}

mw_status mon_ingest_predictions(mon_ctx *m, mw_conn *c, const mon_version *v,
                                 const cJSON *body, int64_t *accepted,
                                 mw_err *err) {
  *accepted = 0;
  mon_schema s;
  mon_batch b;
  mon_errors errs;
  mon__errors_init(&errs);
  memset(&b, 0, sizeof b);
  const cJSON *rows;
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  if((st = body_array(body, "predictions",
                      "{id?, timestamp?, features, prediction, label?}", &rows,
                      err)))
    goto out;
  int64_t now = mw_now_ms();
  if((st = mon__batch_parse(&s, rows, false, now, &b, &errs)))
    goto out;
  if(errs.count) {
    if((st = check_stored_ids(c, v->model_id, &b, &errs)))
      goto out;
    st = mon__errors_fail(&errs, err, "the batch has invalid predictions; "
                                      "nothing was stored");
    goto out;
  }
  mon_wjob job = {NULL, v, &s, &b, now, &errs, MW_OK, false};
  submit(m, c, &job);
  st = job.st;
  if(st == MW_EVALIDATION) {
    st = mon__errors_fail(&errs, err, "the batch has invalid predictions; "
                                      "nothing was stored");
    goto out;
  }
  if(st)
    goto out;
  *accepted = (int64_t)b.n;
  if(m) {
    __atomic_add_fetch(&m->n_predictions, b.n, __ATOMIC_RELAXED);
    size_t nl = 0;
    for(size_t i = 0; b.any_labels && i < b.n; i++)
      nl += b.has_label[i];
    __atomic_add_fetch(&m->n_labels, nl, __ATOMIC_RELAXED);
  }
out:
  if(m && st == MW_EVALIDATION)
    __atomic_add_fetch(&m->n_rejected, 1, __ATOMIC_RELAXED);
  mon__errors_free(&errs);
  mon__batch_free(&b);
  mon__schema_free(&s);
  return st;
}

/* ------------------------------------------------------------- labels */

struct label_row {
  const char *id;
  double value;
  const char *cat;
  int ok;
};

mw_status mon_ingest_labels(mon_ctx *m, mw_conn *c, const mon_version *v,
                            const cJSON *body, int64_t *accepted, mw_err *err) {
  *accepted = 0;
  mon_schema s;
  mon_batch ids; /* used for its arena and the duplicate check */
  mon_errors errs;
  mon__errors_init(&errs);
  memset(&ids, 0, sizeof ids);
  struct label_row *rows = NULL;
  int locked = 0;
  const cJSON *arr;
  mon_dict d;
  mon__dict_init(&d);
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  if((st = body_array(body, "labels", "{id, label}", &arr, err)))
    goto out;
  size_t n = (size_t)cJSON_GetArraySize(arr);
  const mon_column *pcol = &s.cols[s.ncols - 1];
  rows = calloc(n, sizeof *rows);
  ids.n = n;
  ids.ids = calloc(n, sizeof *ids.ids);
  if(!rows || !ids.ids) {
    st = MW_ENOMEM;
    goto out;
  }
  size_t i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    struct label_row *r = &rows[i];
    if(!cJSON_IsObject(it)) {
      mon__errors_add(&errs, (long)i++, "", "a label must be an object {id, label}");
      continue;
    }
    const cJSON *k;
    int bad = 0, have_id = 0, have_label = 0;
    cJSON_ArrayForEach(k, it) {
      if(!strcmp(k->string, "id")) {
        have_id = 1;
        if(!id_text(&ids, k, &r->id, &st)) {
          mon__errors_add(&errs, (long)i, "id",
                          "expected a string of 1-%d bytes or an integer",
                          MON_MAX_ID_LEN);
          bad = 1;
        } else if(st) {
          goto out;
        }
      } else if(!strcmp(k->string, "label")) {
        have_label = 1;
        if(pcol->kind == MON_COLUMN_NUMERIC) {
          if(!mon__json_number(k, &r->value) || isnan(r->value)) {
            mon__errors_add(&errs, (long)i, "label", "expected a number");
            bad = 1;
          }
        } else {
          char num[64];
          bool missing;
          const char *t = mon__json_category(k, num, sizeof num, &missing);
          if(!t || missing) {
            mon__errors_add(&errs, (long)i, "label",
                            "expected a string (or a number or boolean)");
            bad = 1;
          } else if(t == num && !(t = arena_keep(&ids, num))) {
            st = MW_ENOMEM;
            goto out;
          }
          r->cat = t;
        }
      } else {
        char fb[256];
        snprintf(fb, sizeof fb, "%.200s", k->string);
        mon__errors_add(&errs, (long)i, fb, "unknown field (expected id, label)");
        bad = 1;
      }
    }
    if(!have_id)
      mon__errors_add(&errs, (long)i, "id", "missing");
    if(!have_label)
      mon__errors_add(&errs, (long)i, "label", "missing");
    r->ok = !bad && have_id && have_label;
    ids.ids[i] = r->id;
    i++;
  }
  if((st = check_batch_ids(&ids, &errs)))
    goto out;
  mon__lock(m);
  locked = 1;
  if((st = mw_tx_begin(c)))
    goto out;
  /* Look every id up first: unknown ids are listed with the type errors. */
  int64_t *pts = malloc(n * sizeof *pts);
  double *ppred = malloc(n * sizeof *ppred);
  if(!pts || !ppred) {
    free(pts);
    free(ppred);
    st = MW_ENOMEM;
    goto out;
  }
  for(i = 0; i < n && !st; i++) {
    if(!rows[i].id)
      continue;
    int64_t vid;
    st = mon__store_id_get(c, v->model_id, rows[i].id, &vid, &pts[i], &ppred[i]);
    if(st == MW_ENOTFOUND) {
      st = MW_OK;
      mon__errors_add(&errs, (long)i, "id", "no prediction with this id");
      rows[i].ok = 0;
    } else if(!st && vid != v->id) {
      mon__errors_add(&errs, (long)i, "id",
                      "this prediction was logged for another version of the "
                      "model; send its label to that version");
      rows[i].ok = 0;
    }
  }
  if(!st && !errs.count && pcol->kind == MON_COLUMN_CATEGORICAL) {
    st = mon__store_dict_load(c, v->id, s.ncols - 1, &d);
    for(i = 0; i < n && !st; i++) {
      long code;
      st = mon__dict_intern(&d, rows[i].cat, &code);
      if(st == MW_ETOOBIG) {
        st = MW_OK;
        mon__errors_add(&errs, (long)i, "label",
                        "more than %d distinct categories in the prediction",
                        MON_MAX_CATEGORIES);
      }
      rows[i].value = (double)code;
    }
    if(!st && !errs.count)
      st = mon__store_dict_save(c, v->id, s.ncols - 1, &d);
  }
  int64_t now = mw_now_ms();
  if(!st && !errs.count)
    for(i = 0; i < n && !st; i++)
      st = mon__store_label(c, v->model_id, rows[i].id, v->id, pts[i], ppred[i],
                            rows[i].value, now);
  free(pts);
  free(ppred);
  if(st)
    goto out;
  if(errs.count) {
    st = mon__errors_fail(&errs, err, "the batch has invalid labels; nothing "
                                      "was stored");
    goto out;
  }
  if((st = mw_tx_commit(c)))
    goto out;
  *accepted = (int64_t)n;
  if(m)
    __atomic_add_fetch(&m->n_labels, n, __ATOMIC_RELAXED);
out:
  if(st) {
    mw_tx_rollback(c);
    if(m && st == MW_EVALIDATION)
      __atomic_add_fetch(&m->n_rejected, 1, __ATOMIC_RELAXED);
  }
  if(locked)
    mon__unlock(m);
  mon__dict_free(&d);
  mon__errors_free(&errs);
  mon__batch_free(&ids);
  free(rows);
  mon__schema_free(&s);
  return st;
}
