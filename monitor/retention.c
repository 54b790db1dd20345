/* monitor/retention.c - what the scheduler's leader removes and merges
 * (monitor/retention.h): retention deletes the blocks whose rows are all
 * older than --retention-days (or the model's own retention, migration
 * 0019: PUT /api/v1/models/{name}/retention), with their prediction ids,
 * and the labels, evaluations and series points of the same age; compaction merges the
 * small blocks that single-row requests leave behind into one block per
 * (version, bucket). Both run in small transactions (a few blocks each) so
 * that ingest never waits long for the write lock; both delete blocks,
 * which the live-window cache learns through migration 0007's epoch row.
 *
 * Row deletes rather than dropping time partitions: measured on
 * PostgreSQL, see docs/drift.md ("Retention"). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/pack.h"
#include "monitor/retention.h"
#include "monitor/rollup.h"
#include "monitor/sketch_block.h"
#include "monitor/store.h"

/* Retention runs at most this often (scheduler.c), and deletes this many
 * blocks (about that many thousand predictions) per transaction. */
#define RETENTION_BLOCKS 32
/* At most so many blocks per retention transaction, whatever is asked. */
#define RETENTION_MAX 256
/* Models with a retention of their own handled per pass. */
#define RETENTION_MODELS 4096
/* Blocks smaller than this are merged once their bucket is closed. */
#define SMALL_BLOCK 1024
/* Merged blocks hold at most about this many rows. */
#define MERGED_BLOCK 8192

/* ----------------------------------------------------------- retention */

struct ids_chunk {
  int64_t n;
  char *copy; /* the chunk, NUL-terminated ids */
  size_t len;
};

static mw_status copy_ids(void *ctx, size_t i, const void *data, size_t len) {
  struct ids_chunk *x = ctx;
  (void)i;
  if(!data)
    return MW_OK; /* no ids chunk: nothing to delete */
  if(!(x->copy = malloc(len + 1)))
    return MW_ENOMEM;
  memcpy(x->copy, data, len);
  x->len = len;
  return MW_OK;
}

/* Removes the ids (and their labels) of one expiring block. */
static mw_status drop_block_ids(mw_conn *c, const mon_expired *e) {
  const struct mon_store *store = mon__store(c);
  struct ids_chunk x = {e->b.n, NULL, 0};
  mw_status s = store->chunks_read(c, mon__slot_ids((size_t)e->b.ncols), &e->b.id, 1,
                                   copy_ids, &x);
  const char **ids = NULL;
  if(!s && x.copy && !(ids = malloc((size_t)(x.n ? x.n : 1) * sizeof *ids)))
    s = MW_ENOMEM;
  /* A damaged chunk leaves its ids to the model's lifetime. */
  if(!s && ids && mon__unpack_ids(x.copy, x.len, (size_t)x.n, ids))
    s = store->ids_delete(c, e->model_id, e->b.version_id, ids, (size_t)x.n);
  free(ids);
  free(x.copy);
  return s;
}

/* One retention transaction over the blocks of model_id (0: of every
 * model without a retention of its own) older than cutoff_ms. */
static mw_status retention_step(mon_ctx *m, mw_conn *c, int64_t model_id,
                                int64_t cutoff_ms, int max_blocks,
                                int64_t *deleted) {
  const struct mon_store *store = mon__store(c);
  size_t max = max_blocks < 1               ? 1
               : max_blocks > RETENTION_MAX ? RETENTION_MAX
                                            : (size_t)max_blocks;
  mon_expired rows[RETENTION_MAX];
  int64_t ids[RETENTION_MAX];
  size_t n = 0;
  int more = 0;
  *deleted = 0;
  mw_status st = mw_tx_begin(c);
  if(!st)
    st = store->blocks_expired(c, model_id, cutoff_ms, max, rows, &n);
  for(size_t i = 0; i < n && !st; i++) {
    ids[i] = rows[i].b.id;
    if(rows[i].b.has_ids)
      st = drop_block_ids(c, &rows[i]);
  }
  if(!st && n)
    st = store->blocks_delete(c, ids, n);
  if(!st)
    st = store->aged_delete(c, model_id, cutoff_ms, &more);
  if(!st)
    st = mw_tx_commit(c);
  if(st) {
    mw_tx_rollback(c);
    return st;
  }
  /* More may be left when anything was deleted: the caller comes again. */
  *deleted = n ? (int64_t)n : more;
  if(m)
    __atomic_add_fetch(&m->n_retained_blocks, (uint64_t)n, __ATOMIC_RELAXED);
  return MW_OK;
}

mw_status mon_retention_step(mon_ctx *m, mw_conn *c, int64_t cutoff_ms,
                             int max_blocks, int64_t *deleted) {
  return retention_step(m, c, 0, cutoff_ms, max_blocks, deleted);
}

mw_status mon_retention_step_model(mon_ctx *m, mw_conn *c, int64_t model_id,
                                   int64_t cutoff_ms, int max_blocks,
                                   int64_t *deleted) {
  assert(model_id > 0);
  return retention_step(m, c, model_id, cutoff_ms, max_blocks, deleted);
}

/* Steps until nothing older than cutoff is left (or the server stops);
 * *total: blocks removed. */
static mw_status retention_run(mon_ctx *m, mw_conn *c, int64_t model_id,
                               int64_t cutoff, int64_t *total) {
  int64_t n = 0;
  do {
    mw_status st = retention_step(m, c, model_id, cutoff, RETENTION_BLOCKS, &n);
    if(st)
      return st;
    *total += n;
  } while(n > 0 && !mon__stopping(m));
  return MW_OK;
}

/* The models with a retention of their own (migration 0019), read before
 * their passes run (a pass holds the connection in its own transactions). */
struct own_retention {
  int64_t model_id[RETENTION_MODELS], days[RETENTION_MODELS];
  size_t n;
};

static mw_status add_own(void *ctx, int64_t model_id, int64_t days) {
  struct own_retention *o = ctx;
  if(o->n == RETENTION_MODELS)
    return MW_ETOOBIG; /* the rest next pass, after the ones read */
  o->model_id[o->n] = model_id;
  o->days[o->n++] = days;
  return MW_OK;
}

void mon__retention_pass(mon_ctx *m, mw_conn *c) {
  int64_t now = mw_now_ms();
  int64_t cutoff = now - (int64_t)m->opt.retention_days * 86400000LL;
  int64_t total = 0;
  if(m->opt.retention_days > 0 && retention_run(m, c, 0, cutoff, &total)) {
    mw_log(MW_LOG_WARN, "monitor", "retention step failed; retrying later");
    return;
  }
  if(total > 0)
    mw_log(MW_LOG_INFO, "monitor",
           "retention removed %lld blocks older than "
           "%d days",
           (long long)total, m->opt.retention_days);
  /* Then every model with its own retention, at its own cutoff. */
  struct own_retention *own = calloc(1, sizeof *own);
  if(!own)
    return;
  mw_status st = mon__store(c)->retention_list(c, add_own, own);
  if(st && st != MW_ETOOBIG) {
    mw_log(MW_LOG_WARN, "monitor", "cannot read the models' retention: %s",
           mw_status_code(st));
    free(own);
    return;
  }
  if(st == MW_ETOOBIG)
    mw_log(MW_LOG_WARN, "monitor",
           "more than %d models have a retention of their own; the others "
           "wait for a later pass",
           RETENTION_MODELS);
  for(size_t i = 0; i < own->n && !mon__stopping(m); i++) {
    int64_t removed = 0;
    if(retention_run(m, c, own->model_id[i], now - own->days[i] * 86400000LL,
                     &removed)) {
      mw_log(MW_LOG_WARN, "monitor", "retention step failed; retrying later");
      break;
    }
    if(removed > 0)
      mw_log(MW_LOG_INFO, "monitor",
             "retention removed %lld blocks of model id %lld older than its "
             "%lld days",
             (long long)removed, (long long)own->model_id[i],
             (long long)own->days[i]);
  }
  free(own);
}

/* ---------------------------------------------------------- compaction */

/* The merged block's chunks, slot by slot: the blocks' chunks of that slot
 * one after the other (a chunk is a packed array, so concatenating them in
 * block order packs the merged rows in that order). */
struct merge {
  const mon_block *blk; /* the blocks being merged */
  mw_buf *slots;        /* ncols + 2 buffers */
  int slot;
};

static mw_status append_chunk(void *ctx, size_t i, const void *data, size_t len) {
  struct merge *x = ctx;
  const mon_block *b = &x->blk[i];
  mw_buf *out = &x->slots[x->slot];
  if(x->slot == mon__slot_ids((size_t)b->ncols)) {
    if(!b->has_ids || !data) {
      /* Rows without ids: an empty id each. */
      for(int64_t r = 0; r < b->n; r++)
        if(mw_buf_append(out, "", 1))
          return MW_ENOMEM;
      return MW_OK;
    }
    const char **ids = malloc((size_t)b->n * sizeof *ids);
    if(!ids)
      return MW_ENOMEM;
    int ok = mon__unpack_ids(data, len, (size_t)b->n, ids);
    free(ids);
    if(!ok)
      return MW_EINTERNAL;
  } else if(!data || len != (size_t)b->n * 8) {
    return MW_EINTERNAL;
  }
  return mw_buf_append(out, data, len);
}

/* The merged block's summaries (monitor/sketch_block.h) are rebuilt from
 * its merged columns, of the kind the version's schema gives each column
 * (blocks of few rows have none to tell it); a rebuilt summary is as
 * accurate as one built at ingest (merging the blocks' summaries would add
 * their errors). Without the schema (a version deleted meanwhile, or
 * blocks of another width) the block gets none and reports read its
 * rows. */
struct resketch {
  const mw_buf *slots; /* the merged chunks by slot */
  const mon_schema *s;
};

static int resketch_kind(void *ctx, size_t col) {
  const mon_schema *s = ((struct resketch *)ctx)->s;
  return s->cols[col].kind == MON_COLUMN_NUMERIC ? MON_SKETCH_QUANTILES
                                                 : MON_SKETCH_COUNTS;
}

static const double *resketch_column(void *ctx, size_t col, double *scratch) {
  const struct resketch *x = ctx;
  const mw_buf *b = &x->slots[col + 1];
  mon__unpack_doubles(b->data, b->len / 8, scratch);
  return scratch;
}

static mw_status resketch(mw_conn *c, const mon_block *m, const mw_buf *slots,
                          mon_chunk *chunks, size_t *nchunks, mw_buf *buf) {
  const struct mon_store *store = mon__store(c);
  char model[256];
  int64_t version = 0, id = 0, model_id = 0;
  char *schema = NULL;
  mon_schema sc;
  memset(&sc, 0, sizeof sc);
  mw_status s = store->version_name(c, m->version_id, model, sizeof model, &version);
  if(!s)
    s = store->version_find(c, model, version, &id, &model_id, &schema);
  mon_version v = {m->version_id, model_id, model, version, schema};
  bool have = !s && schema && !mon__schema_parse(schema, &v, &sc, NULL) &&
              sc.ncols == (size_t)m->ncols;
  if(s == MW_ENOTFOUND)
    s = MW_OK;
  if(!s && have) {
    struct resketch x = {slots, &sc};
    s = mon__sketch_chunks(sc.ncols, (size_t)m->n, m->has_ids, resketch_kind,
                           resketch_column, &x, buf, chunks, nchunks);
  }
  mon__schema_free(&sc);
  free(schema);
  return s;
}

/* Reads the chunks of blk[0..n) and writes them as one block. */
static mw_status merge_blocks(mw_conn *c, const mon_block *blk, size_t n) {
  const struct mon_store *store = mon__store(c);
  size_t ncols = (size_t)blk[0].ncols;
  mon_block m = {0, blk[0].version_id, blk[0].bucket, INT64_MAX,  INT64_MIN,
                 0, blk[0].ncols,      false,         mw_now_ms()};
  int64_t *ids = malloc(n * sizeof *ids);
  mw_buf *slots = calloc(ncols + 2, sizeof *slots);
  mon_chunk *chunks = calloc(2 * ncols + 2, sizeof *chunks);
  mw_buf sk;
  mw_buf_init(&sk, (size_t)1 << 30);
  mw_status s = ids && slots && chunks ? MW_OK : MW_ENOMEM;
  for(size_t k = 0; !s && k < n; k++) {
    assert(blk[k].ncols == blk[0].ncols && blk[k].bucket == blk[0].bucket);
    ids[k] = blk[k].id;
    m.n += blk[k].n;
    m.ts_min = blk[k].ts_min < m.ts_min ? blk[k].ts_min : m.ts_min;
    m.ts_max = blk[k].ts_max > m.ts_max ? blk[k].ts_max : m.ts_max;
    m.has_ids |= blk[k].has_ids;
  }
  size_t nslots = ncols + 1 + (m.has_ids ? 1 : 0);
  for(size_t k = 0; slots && k < ncols + 2; k++)
    mw_buf_init(&slots[k], (size_t)1 << 30);
  for(size_t k = 0; !s && k < nslots; k++) {
    struct merge x = {blk, slots, (int)k};
    s = store->chunks_read(c, (int)k, ids, n, append_chunk, &x);
    chunks[k] = (mon_chunk){slots[k].data ? slots[k].data : "", slots[k].len};
  }
  if(!s)
    s = resketch(c, &m, slots, chunks, &nslots, &sk);
  if(!s)
    s = store->block_insert(c, &m, chunks, nslots);
  if(!s)
    s = store->blocks_delete(c, ids, n);
  for(size_t k = 0; slots && k < ncols + 2; k++)
    mw_buf_free(&slots[k]);
  free(slots);
  free(chunks);
  free(ids);
  mw_buf_free(&sk);
  return s;
}

/* One (version, bucket) with several small blocks below before_bucket. */
static mw_status compact(mw_conn *c, int64_t before_bucket, int64_t *merged) {
  const struct mon_store *store = mon__store(c);
  int64_t version_id, bucket, ncols;
  int found = 0;
  mw_status s = store->compaction_candidate(c, before_bucket, SMALL_BLOCK,
                                            &version_id, &bucket, &ncols, &found);
  if(s || !found)
    return s;
  enum { MAX_MERGE = 4096 }; /* blocks looked at per step */
  mon_block *blk = malloc(MAX_MERGE * sizeof *blk);
  size_t n = 0, take = 0;
  int64_t total = 0;
  if(!blk)
    return MW_ENOMEM;
  s = store->compaction_blocks(c, version_id, bucket, ncols, SMALL_BLOCK, MAX_MERGE,
                               blk, &n);
  while(take < n && total < MERGED_BLOCK)
    total += blk[take++].n;
  if(!s && take >= 2 && !(s = merge_blocks(c, blk, take)))
    *merged = (int64_t)take;
  free(blk);
  return s;
}

mw_status mon__compact_step(mon_ctx *m, mw_conn *c, int64_t before_bucket,
                            int64_t *merged) {
  (void)m;
  *merged = 0;
  mw_status st = mw_tx_begin(c);
  if(!st)
    st = compact(c, before_bucket, merged);
  if(!st)
    st = mw_tx_commit(c);
  if(st) {
    mw_tx_rollback(c);
    *merged = 0;
  }
  return st;
}

void mon__compaction_pass(mon_ctx *m, mw_conn *c) {
  int64_t before = (mw_now_ms() - 60000) / MON_BUCKET_MS;
  int64_t merged = 0;
  for(int k = 0; k < 256 && !mon__stopping(m); k++) {
    if(mon__compact_step(m, c, before, &merged)) {
      mw_log(MW_LOG_WARN, "monitor", "compaction step failed; retrying later");
      return;
    }
    if(merged == 0)
      break;
  }
  /* Buckets compaction is done with get their rollups (monitor/rollup.c);
   * one it is not done with yet would lose its rollup to the next merge. */
  if(merged == 0)
    mon__rollup_pass(m, c);
}
