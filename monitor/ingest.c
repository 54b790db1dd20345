/* monitor/ingest.c - predictions and labels in. A batch is validated as a
 * whole (monitor/batch.c), then written in one transaction as column
 * blocks, one per 5-minute bucket it touches (see
 * migrations/sqlite/0003_monitor.sql for the layout and why), with its ids
 * and inline labels.
 *
 * Group commit: requests that arrive while another is writing queue up,
 * and the first of them writes every queued batch in one transaction
 * (each under its own savepoint, so a batch that fails leaves the others
 * in): one COMMIT, one fsync and one turn of core's write lock for many
 * requests. The write lock is core's (mw_tx_begin); the monitor has no
 * lock of its own.
 *
 * Operations: mon_ingest_predictions (one transaction per group of
 * batches; on PostgreSQL one round trip per block, one for the ids, one
 * for the labels), mon_ingest_labels (one transaction, a bulk lookup of
 * the ids and a bulk upsert). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/context.h"
#include "monitor/dict.h"
#include "monitor/ingest.h"
#include "monitor/pack.h"
#include "monitor/privacy.h"
#include "monitor/quarantine.h"
#include "monitor/sketch_block.h"
#include "monitor/store.h"

/* ------------------------------------------------------------- blocks */

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

/* Scratch space for the chunks of one block. */
struct chunk_buf {
  mw_buf vals; /* packed columns of a block that is a subset of the batch */
  mw_buf part; /* one of them */
  mw_buf ids;
  mw_buf sk; /* the block's column summaries (monitor/sketch_block.h) */
  mon_chunk *chunks;
};

static mw_status chunk_buf_init(struct chunk_buf *cb, size_t ncols) {
  mw_buf_init(&cb->vals, (size_t)MON_MAX_BATCH * 8 * (MON_MAX_COLS + 1));
  mw_buf_init(&cb->part, (size_t)MON_MAX_BATCH * 8);
  mw_buf_init(&cb->ids, (size_t)MON_MAX_BATCH * (MON_MAX_ID_LEN + 1));
  mw_buf_init(&cb->sk, (size_t)1 << 30);
  cb->chunks = malloc((2 * ncols + 2) * sizeof *cb->chunks);
  return cb->chunks ? MW_OK : MW_ENOMEM;
}

static void chunk_buf_free(struct chunk_buf *cb) {
  free(cb->chunks);
  mw_buf_free(&cb->vals);
  mw_buf_free(&cb->part);
  mw_buf_free(&cb->ids);
  mw_buf_free(&cb->sk);
}

/* The chunks of rows[0..nrows) of b (rows NULL: the whole batch). A whole
 * batch is already laid out as its chunks (column-major 8-byte values) on
 * a little-endian machine: its arrays are handed over without a copy. */
static mw_status block_chunks(const mon_batch *b, const size_t *rows, size_t nrows,
                              bool has_ids, struct chunk_buf *cb) {
  mw_status st = MW_OK;
  if(!rows && MON_PACK_NATIVE) {
    assert(nrows == b->n);
    cb->chunks[0] = (mon_chunk){b->ts, nrows * 8};
    for(size_t col = 0; col < b->ncols; col++)
      cb->chunks[col + 1] = (mon_chunk){b->vals + col * b->n, nrows * 8};
  } else {
    /* Packed into one buffer, a slot after the other. */
    size_t one = nrows * 8;
    cb->vals.len = 0;
    for(size_t slot = 0; slot <= b->ncols && !st; slot++) {
      mw_buf *part = &cb->part;
      st = slot == 0
               ? mon__pack_i64(part, b->ts, rows, nrows)
               : mon__pack_doubles(part, b->vals + (slot - 1) * b->n, rows, nrows);
      if(!st)
        st = mw_buf_append(&cb->vals, part->data, part->len);
    }
    for(size_t slot = 0; slot <= b->ncols && !st; slot++)
      cb->chunks[slot] = (mon_chunk){cb->vals.data + slot * one, one};
  }
  if(!st && has_ids) {
    st = mon__pack_ids(&cb->ids, b->ids, rows, nrows);
    if(!st)
      cb->chunks[b->ncols + 1] = (mon_chunk){cb->ids.data, cb->ids.len};
  }
  return st;
}

/* What mon__sketch_chunks asks about a block being written. */
struct sketch_src {
  const mon_schema *s;
  const mon_batch *b;
  const size_t *rows;
  size_t nrows;
};

static int sketch_kind(void *ctx, size_t col) {
  const struct sketch_src *x = ctx;
  return !x->s                                        ? MON_SKETCH_NONE
         : x->s->cols[col].kind == MON_COLUMN_NUMERIC ? MON_SKETCH_QUANTILES
                                                      : MON_SKETCH_COUNTS;
}

static const double *sketch_column(void *ctx, size_t col, double *scratch) {
  const struct sketch_src *x = ctx;
  const double *v = x->b->vals + col * x->b->n;
  if(!x->rows)
    return v;
  for(size_t k = 0; k < x->nrows; k++)
    scratch[k] = v[x->rows[k]];
  return scratch;
}

/* Writes rows[0..nrows) of b (rows NULL: all) as one block, with the
 * summaries of its columns when s is given. */
static mw_status write_block(mw_conn *c, int64_t version_id, const mon_schema *s,
                             const mon_batch *b, const size_t *rows, size_t nrows,
                             int64_t now_ms, struct chunk_buf *cb) {
  assert(nrows >= 1);
  mon_block blk = {
      0,     version_id, 0, INT64_MAX, INT64_MIN, (int64_t)nrows, (int64_t)b->ncols,
      false, now_ms};
  for(size_t k = 0; k < nrows; k++) {
    size_t i = rows ? rows[k] : k;
    if(b->ts[i] < blk.ts_min)
      blk.ts_min = b->ts[i];
    if(b->ts[i] > blk.ts_max)
      blk.ts_max = b->ts[i];
    if(b->ids[i])
      blk.has_ids = true;
  }
  blk.bucket = bucket_of(blk.ts_min);
  mw_status st = block_chunks(b, rows, nrows, blk.has_ids, cb);
  struct sketch_src src = {s, b, rows, nrows};
  size_t nchunks = 0;
  if(!st)
    st = mon__sketch_chunks(b->ncols, nrows, blk.has_ids, sketch_kind, sketch_column,
                            &src, &cb->sk, cb->chunks, &nchunks);
  if(st)
    return st;
  return mon__store(c)->block_insert(c, &blk, cb->chunks, nchunks);
}

mw_status mon__block_write(mw_conn *c, int64_t version_id, const mon_batch *b,
                           const size_t *rows, size_t nrows, int64_t now_ms) {
  return mon__block_write_s(c, version_id, NULL, b, rows, nrows, now_ms);
}

mw_status mon__block_write_s(mw_conn *c, int64_t version_id, const mon_schema *s,
                             const mon_batch *b, const size_t *rows, size_t nrows,
                             int64_t now_ms) {
  struct chunk_buf cb;
  mw_status st = chunk_buf_init(&cb, b->ncols);
  if(!st)
    st = write_block(c, version_id, s, b, rows, nrows, now_ms, &cb);
  chunk_buf_free(&cb);
  return st;
}

/* Writes b as blocks, one per 5-minute bucket it touches. */
static mw_status write_blocks(mw_conn *c, int64_t version_id, const mon_schema *s,
                              const mon_batch *b, int64_t now_ms) {
  struct chunk_buf cb;
  struct bucket_key *keys = NULL;
  size_t *rows = NULL;
  mw_status st = chunk_buf_init(&cb, b->ncols);
  bool one = true;
  for(size_t i = 1; i < b->n && one; i++)
    one = bucket_of(b->ts[i]) == bucket_of(b->ts[0]);
  if(!st && one) {
    st = write_block(c, version_id, s, b, NULL, b->n, now_ms, &cb);
    goto out;
  }
  keys = malloc(b->n * sizeof *keys);
  rows = malloc(b->n * sizeof *rows);
  if(st || !keys || !rows) {
    st = st ? st : MW_ENOMEM;
    goto out;
  }
  for(size_t i = 0; i < b->n; i++)
    keys[i] = (struct bucket_key){bucket_of(b->ts[i]), i};
  qsort(keys, b->n, sizeof *keys, cmp_bucket);
  for(size_t i = 0; i < b->n; i++)
    rows[i] = keys[i].row;
  for(size_t lo = 0; lo < b->n && !st;) {
    size_t hi = lo + 1;
    while(hi < b->n && keys[hi].bucket == keys[lo].bucket)
      hi++;
    st = write_block(c, version_id, s, b, rows + lo, hi - lo, now_ms, &cb);
    lo = hi;
  }
out:
  free(keys);
  free(rows);
  chunk_buf_free(&cb);
  return st;
}

/* ---------------------------------------------------------------- ids */

/* Stores the batch's ids; an id the version already has is a validation
 * error of this batch (listed, not stored). Another version's use of the
 * same id is not: a shadow candidate logs the baseline's ids. */
static mw_status write_ids(mw_conn *c, const mon_version *v, const mon_batch *b,
                           mon_errors *errs) {
  size_t pc = (b->ncols - 1) * b->n;
  mon_id_row *rows = malloc(b->n * sizeof *rows);
  uint8_t *conflict = malloc(b->n);
  mw_status st = rows && conflict ? MW_OK : MW_ENOMEM;
  size_t nconflict = 0;
  for(size_t i = 0; !st && i < b->n; i++)
    rows[i] = (mon_id_row){b->ids[i], b->ts[i], b->vals[pc + i]};
  if(!st)
    st = mon__store(c)->ids_insert(c, v->model_id, v->id, rows, b->n, conflict,
                                   &nconflict);
  for(size_t i = 0; !st && nconflict && i < b->n; i++)
    if(conflict[i])
      mon__errors_add(errs, (long)i, "id",
                      "a prediction with this id is already stored for this "
                      "version");
  free(rows);
  free(conflict);
  return st;
}

/* With type errors the batch is refused anyway; still name the ids that
 * are already stored, so the client sees every problem at once. */
static mw_status check_stored_ids(mw_conn *c, const mon_version *v,
                                  const mon_batch *b, mon_errors *errs) {
  mon_id_found *found = malloc(b->n * sizeof *found);
  if(!found)
    return MW_ENOMEM;
  mw_status st = mon__store(c)->ids_get(c, v->model_id, v->id, b->ids, b->n, found);
  for(size_t i = 0; !st && i < b->n; i++)
    if(b->ids[i] && found[i].version_id == v->id)
      mon__errors_add(errs, (long)i, "id",
                      "a prediction with this id is already stored for this "
                      "version");
  free(found);
  return st;
}

/* The labels sent inline with the batch's predictions. */
static mw_status write_labels(mw_conn *c, const mon_version *v, const mon_batch *b,
                              int64_t now) {
  size_t pc = (b->ncols - 1) * b->n, k = 0;
  mon_label_row *rows = malloc(b->n * sizeof *rows);
  if(!rows)
    return MW_ENOMEM;
  for(size_t i = 0; i < b->n; i++)
    if(b->has_label[i])
      rows[k++] =
          (mon_label_row){b->ids[i], b->ts[i], b->vals[pc + i], b->labels[i]};
  mw_status st = mon__store(c)->labels_put(c, v->model_id, v->id, rows, k, now);
  free(rows);
  return st;
}

/* ------------------------------------------------------- group commit */

/* One validated batch waiting to be written. */
typedef struct mon_wjob {
  struct mon_wjob *next;
  const mon_version *v;
  const mon_schema *s;
  mon_batch *b;
  int64_t now;
  mon_errors *errs;
  /* ?on_invalid=quarantine: the batch's invalid rows, stored with its
   * valid ones (NULL: none); held receives what the quarantine held when
   * it was too full for them (MW_ECONFLICT). */
  const mon_qset *q;
  int64_t held;
  mw_status st;
  bool done;
} mon_wjob;

/* Writes one batch inside the group's transaction: dictionaries, blocks,
 * ids (a stored id is a validation error of that batch only), labels. */
static mw_status write_job(mw_conn *c, mon_wjob *j) {
  const mon_version *v = j->v;
  mon_batch *b = j->b;
  mw_status st = MW_OK;
  if(j->q && (st = mon__quarantine_write(c, v->id, j->q, &j->held)))
    return st;
  if(b->n == 0)
    return MW_OK; /* every row quarantined */
  st = mon__batch_encode(c, v->id, j->s, b, j->errs);
  if(!st && !j->errs->count)
    st = write_blocks(c, v->id, j->s, b, j->now);
  if(!st && b->any_ids)
    st = write_ids(c, v, b, j->errs);
  if(!st && j->errs->count)
    return MW_EVALIDATION;
  if(!st && b->any_labels)
    st = write_labels(c, v, b, j->now);
  return st;
}

/* Writes jobs[0..n) in one transaction, each under its own savepoint so a
 * batch that fails leaves the others in; one COMMIT (one fsync) for all. */
static void write_group(mon_ctx *m, mw_conn *c, mon_wjob **jobs, size_t n) {
  assert(n >= 1);
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
    if((j->st = mw_savepoint(c))) {
      st = j->st; /* the transaction is unusable: fail the rest */
      continue;
    }
    if((j->st = write_job(c, j)))
      mw_savepoint_rollback(c);
    else if((j->st = mw_savepoint_release(c)))
      st = j->st;
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
    while(m->q_head && n < MAX_GROUP &&
          (n == 0 || rows + m->q_head->b->n <= MAX_GROUP_ROWS)) {
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

/* ------------------------------------------------------------- bodies */

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

static void count_batch(mon_ctx *m, const mon_version *v, const mon_batch *b) {
  if(!m)
    return;
  __atomic_add_fetch(&m->n_predictions, b->n, __ATOMIC_RELAXED);
  size_t nl = 0;
  for(size_t i = 0; b->any_labels && i < b->n; i++)
    nl += b->has_label[i];
  __atomic_add_fetch(&m->n_labels, nl, __ATOMIC_RELAXED);
  mon__vcount_add(m, v, b->n, nl);
}

/* The row indexes of errs back to the batch's before compaction
 * (orig[k]: the index of row k), so that errors found while writing the
 * valid rows name the rows as the client sent them. */
static void renumber_errors(mon_errors *errs, const size_t *orig, size_t n) {
  cJSON *e;
  cJSON_ArrayForEach(e, errs->list) {
    cJSON *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
    if(cJSON_IsNumber(ix) && ix->valuedouble >= 0 && ix->valuedouble < (double)n)
      cJSON_SetNumberValue(ix, (double)orig[(size_t)ix->valuedouble]);
  }
}

/* ?on_invalid=quarantine once the batch is parsed with its errors tracked
 * per row: rows with errors of their own go to the quarantine, the others
 * are written, in one transaction. errs is the parse's (handed to err when
 * the batch is refused after all). */
static mw_status ingest_quarantine(mon_ctx *m, mw_conn *c, const mon_version *v,
                                   const mon_schema *s, const cJSON *rows,
                                   mon_batch *b, int64_t now, mon_errors *errs,
                                   int64_t *quarantined, mw_err *err) {
  mw_status st = MW_OK;
  if(errs->batch)
    return mon__errors_fail(errs, err,
                            "the body is invalid as a whole; nothing was stored");
  size_t nbad = 0;
  for(size_t i = 0; i < b->n; i++)
    nbad += errs->per_row[i] > 0;
  if(nbad > MON_MAX_QUARANTINE) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "%zu rows are invalid, more than the quarantine takes from a "
             "batch (%d); nothing was stored",
             nbad, MON_MAX_QUARANTINE);
    return mon__errors_fail(errs, err, msg);
  }
  size_t n0 = b->n;
  uint8_t *keep = malloc(n0 ? n0 : 1);
  size_t *orig = malloc((n0 ? n0 : 1) * sizeof *orig);
  mon_qset q;
  memset(&q, 0, sizeof q);
  if(!keep || !orig)
    st = MW_ENOMEM;
  if(!st)
    st = mon__quarantine_build(s, rows, b, errs, now, &q, keep);
  size_t k = 0;
  for(size_t i = 0; !st && i < n0; i++)
    if(keep[i])
      orig[k++] = i;
  if(!st)
    mon__batch_compact(b, keep);
  /* Errors found while writing (a full dictionary, an id stored
   * meanwhile) refuse the batch: they are collected apart. */
  mon_errors werrs;
  mon__errors_init(&werrs);
  if(!st) {
    mon_wjob job = {NULL, v, s, b, now, &werrs, &q, 0, MW_OK, false};
    submit(m, c, &job);
    st = job.st;
    if(st == MW_ECONFLICT) {
      char msg[300];
      snprintf(msg, sizeof msg,
               "the quarantine of this version holds %lld rows and takes at "
               "most %d: the batch's %zu invalid rows do not fit; nothing was "
               "stored (GET .../quarantine lists them; retention removes old "
               "ones)",
               (long long)job.held, MON_MAX_QUARANTINE, q.n);
      st = mon__errors_fail(errs, err, msg);
    } else if(st == MW_EVALIDATION) {
      renumber_errors(&werrs, orig, k);
      st = mon__errors_fail(&werrs, err,
                            "the batch has invalid predictions; nothing was "
                            "stored");
    }
  }
  if(!st)
    *quarantined = (int64_t)q.n;
  mon__errors_free(&werrs);
  mon__quarantine_free(&q);
  free(keep);
  free(orig);
  return st;
}

mw_status mon_ingest_predictions_ex(mon_ctx *m, mw_conn *c, const mon_version *v,
                                    const cJSON *body, mon_on_invalid mode,
                                    int64_t *accepted, int64_t *quarantined,
                                    mw_err *err) {
  *accepted = 0;
  *quarantined = 0;
  mon_schema s;
  mon_batch b;
  mon_errors errs;
  mon__errors_init(&errs);
  memset(&b, 0, sizeof b);
  const cJSON *rows;
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(!st && (st = mon__privacy_attach(m, c, v->model, &s)))
    mon__schema_free(&s);
  if(st)
    return st;
  if((st =
          body_array(body, "predictions",
                     "{id?, timestamp?, features, prediction, label?}", &rows, err)))
    goto out;
  int64_t now = mw_now_ms();
  if(mode == MON_INVALID_QUARANTINE &&
     (st = mon__errors_track(&errs, (size_t)cJSON_GetArraySize(rows))))
    goto out;
  if((st = mon__batch_parse(&s, rows, false, now, &b, &errs)))
    goto out;
  bool told = false; /* err already says why the batch was refused */
  /* Quarantine: ids already stored are errors of their rows too, looked up
   * before the write (a concurrent batch that stores one meanwhile makes
   * write_ids refuse this batch whole, as without quarantine). */
  if(mode == MON_INVALID_QUARANTINE && b.any_ids &&
     (st = check_stored_ids(c, v, &b, &errs)))
    goto out;
  if(mode == MON_INVALID_QUARANTINE && errs.count) {
    st = ingest_quarantine(m, c, v, &s, rows, &b, now, &errs, quarantined, err);
    told = true;
  } else if(errs.count) {
    if(!b.any_ids || !(st = check_stored_ids(c, v, &b, &errs)))
      st = MW_EVALIDATION;
  } else {
    mon_wjob job = {NULL, v, &s, &b, now, &errs, NULL, 0, MW_OK, false};
    submit(m, c, &job);
    st = job.st;
  }
  if(st == MW_EVALIDATION && !told)
    st = mon__errors_fail(&errs, err,
                          "the batch has invalid predictions; "
                          "nothing was stored");
  if(!st) {
    *accepted = (int64_t)b.n;
    count_batch(m, v, &b);
    if(m)
      __atomic_add_fetch(&m->n_quarantined, (uint64_t)*quarantined,
                         __ATOMIC_RELAXED);
  }
out:
  if(m && st == MW_EVALIDATION)
    __atomic_add_fetch(&m->n_rejected, 1, __ATOMIC_RELAXED);
  mon__errors_free(&errs);
  mon__batch_free(&b);
  mon__schema_free(&s);
  return st;
}

mw_status mon_ingest_predictions(mon_ctx *m, mw_conn *c, const mon_version *v,
                                 const cJSON *body, int64_t *accepted, mw_err *err) {
  int64_t quarantined = 0;
  return mon_ingest_predictions_ex(m, c, v, body, MON_INVALID_REJECT, accepted,
                                   &quarantined, err);
}

/* ------------------------------------------------------------- labels */

struct label_req {
  size_t n;
  mon_batch ids;       /* the ids (and their arena; the duplicate check) */
  mon_label_row *rows; /* by index: label value (code once encoded) */
  const char **cats;   /* categorical labels' text */
  mon_id_found *found;
};

/* One {id, label} item into row i of q. */
static mw_status parse_label(const mon_column *pcol, const cJSON *it, size_t i,
                             struct label_req *q, mon_errors *errs) {
  mw_status st = MW_OK;
  int have_id = 0, have_label = 0;
  const cJSON *k;
  cJSON_ArrayForEach(k, it) {
    if(!strcmp(k->string, "id")) {
      have_id = 1;
      if(!mon__batch_id_text(&q->ids, k, &q->ids.ids[i], &st))
        mon__errors_add(errs, (long)i, "id",
                        "expected a string of 1-%d bytes or an integer",
                        MON_MAX_ID_LEN);
    } else if(!strcmp(k->string, "label")) {
      have_label = 1;
      char num[64];
      bool missing;
      const char *t;
      if(pcol->kind == MON_COLUMN_NUMERIC) {
        if(!mon__json_number(k, &q->rows[i].label) || isnan(q->rows[i].label))
          mon__errors_add(errs, (long)i, "label", "expected a number");
      } else if(!(t = mon__json_category(k, num, sizeof num, &missing)) || missing) {
        mon__errors_add(errs, (long)i, "label",
                        "expected a string (or a number or boolean)");
      } else if(t == num && !(t = mon__batch_keep(&q->ids, num))) {
        st = MW_ENOMEM;
      } else {
        q->cats[i] = t;
      }
    } else {
      char fb[256];
      snprintf(fb, sizeof fb, "%.200s", k->string);
      mon__errors_add(errs, (long)i, fb, "unknown field (expected id, label)");
    }
    if(st)
      return st;
  }
  if(!have_id)
    mon__errors_add(errs, (long)i, "id", "missing");
  if(!have_label)
    mon__errors_add(errs, (long)i, "label", "missing");
  return MW_OK;
}

static mw_status parse_labels(const mon_schema *s, const cJSON *arr,
                              struct label_req *q, mon_errors *errs) {
  q->n = (size_t)cJSON_GetArraySize(arr);
  q->ids.n = q->n;
  q->ids.ids = calloc(q->n, sizeof *q->ids.ids);
  q->rows = calloc(q->n, sizeof *q->rows);
  q->cats = calloc(q->n, sizeof *q->cats);
  q->found = calloc(q->n, sizeof *q->found);
  if(!q->ids.ids || !q->rows || !q->cats || !q->found)
    return MW_ENOMEM;
  size_t i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    mw_status st = MW_OK;
    if(!cJSON_IsObject(it))
      mon__errors_add(errs, (long)i, "", "a label must be an object {id, label}");
    else
      st = parse_label(&s->cols[s->ncols - 1], it, i, q, errs);
    if(st)
      return st;
    i++;
  }
  return mon__batch_check_ids(&q->ids, errs);
}

/* The number of version row id version_id, for a message; -1 when it is
 * gone. last holds the previous lookup {version_id, number}: a batch sent
 * to the wrong version names the same one again and again. */
static int64_t version_number(mw_conn *c, int64_t version_id, int64_t last[2]) {
  if(last[0] == version_id)
    return last[1];
  char model[200];
  int64_t number = -1;
  if(mon__store(c)->version_name(c, version_id, model, sizeof model, &number))
    number = -1;
  last[0] = version_id;
  last[1] = number;
  return number;
}

/* Looks every id up (unknown ids and ids only another version logged are
 * listed with the type errors) and fills in the prediction's time and
 * value. Ids are unique per version: the lookup prefers v's row, so the
 * same id logged by a shadow candidate and its baseline labels each. */
static mw_status lookup_ids(mw_conn *c, const mon_version *v, struct label_req *q,
                            mon_errors *errs) {
  mw_status st =
      mon__store(c)->ids_get(c, v->model_id, v->id, q->ids.ids, q->n, q->found);
  int64_t last[2] = {-1, -1};
  for(size_t i = 0; !st && i < q->n; i++) {
    if(!q->ids.ids[i])
      continue;
    if(q->found[i].version_id < 0) {
      mon__errors_add(errs, (long)i, "id", "no prediction with this id");
    } else if(q->found[i].version_id != v->id) {
      int64_t other = version_number(c, q->found[i].version_id, last);
      if(other > 0)
        mon__errors_add(errs, (long)i, "id",
                        "this prediction was logged by version %lld of the "
                        "model, not this one; send its label to that version",
                        (long long)other);
      else
        mon__errors_add(errs, (long)i, "id",
                        "this prediction was logged by another version of the "
                        "model; send its label to that version");
    }
    q->rows[i].ext_id = q->ids.ids[i];
    q->rows[i].ts = q->found[i].ts;
    q->rows[i].prediction = q->found[i].prediction;
  }
  return st;
}

/* Codes of categorical labels through the prediction column's dictionary
 * (new ones stored). */
static mw_status encode_labels(mw_conn *c, const mon_version *v, const mon_schema *s,
                               struct label_req *q, mon_errors *errs) {
  mon_dict d;
  mw_status st = mon__dict_load(c, v->id, s->ncols - 1, &d);
  for(size_t i = 0; i < q->n && !st; i++) {
    long code = 0;
    st = mon__dict_intern(&d, q->cats[i], &code);
    if(st == MW_ETOOBIG) {
      st = MW_OK;
      mon__errors_add(errs, (long)i, "label",
                      "more than %d distinct categories in the prediction",
                      MON_MAX_CATEGORIES);
    }
    q->rows[i].label = (double)code;
  }
  if(!st && !errs->count)
    st = mon__dict_save(c, v->id, s->ncols - 1, &d);
  mon__dict_free(&d);
  return st;
}

/* Checks, encodes and stores the labels of q in one transaction. */
static mw_status store_labels(mw_conn *c, const mon_version *v, const mon_schema *s,
                              struct label_req *q, mon_errors *errs, mw_err *err) {
  mw_status st = mw_tx_begin(c);
  if(!st)
    st = lookup_ids(c, v, q, errs);
  if(!st && !errs->count && s->cols[s->ncols - 1].kind == MON_COLUMN_CATEGORICAL)
    st = encode_labels(c, v, s, q, errs);
  if(!st && !errs->count)
    st =
        mon__store(c)->labels_put(c, v->model_id, v->id, q->rows, q->n, mw_now_ms());
  if(!st && errs->count)
    st = mon__errors_fail(errs, err,
                          "the batch has invalid labels; nothing "
                          "was stored");
  if(!st)
    st = mw_tx_commit(c);
  if(st)
    mw_tx_rollback(c);
  return st;
}

mw_status mon_ingest_labels(mon_ctx *m, mw_conn *c, const mon_version *v,
                            const cJSON *body, int64_t *accepted, mw_err *err) {
  *accepted = 0;
  mon_schema s;
  mon_errors errs;
  mon__errors_init(&errs);
  struct label_req q;
  memset(&q, 0, sizeof q);
  const cJSON *arr;
  mw_status st = mon__schema_parse(v->schema_json, v, &s, err);
  if(st)
    return st;
  if(!(st = body_array(body, "labels", "{id, label}", &arr, err)) &&
     !(st = parse_labels(&s, arr, &q, &errs)))
    st = store_labels(c, v, &s, &q, &errs, err);
  if(!st) {
    *accepted = (int64_t)q.n;
    if(m) {
      __atomic_add_fetch(&m->n_labels, q.n, __ATOMIC_RELAXED);
      mon__vcount_add(m, v, 0, q.n);
    }
  }
  if(m && st == MW_EVALIDATION)
    __atomic_add_fetch(&m->n_rejected, 1, __ATOMIC_RELAXED);
  mon__errors_free(&errs);
  mon__batch_free(&q.ids);
  free(q.rows);
  free(q.cats);
  free(q.found);
  mon__schema_free(&s);
  return st;
}
