/* monitor/rollup.c - per-bucket rollups of the block summaries
 * (monitor/rollup.h).
 *
 * Why. A report beyond the memory budget merges the summaries of its
 * window's blocks (monitor/sketch_block.c): at most MON_SKETCH_BLOCK_K
 * items per block and column, so a window of 100 M rows in blocks of 8192
 * reads 12,000 summaries per column and sorts about 3 M items - seconds
 * where a report should take well under one. Most of a long window is
 * closed buckets that no longer change. Once compaction is done with a
 * bucket, this file merges its blocks' summaries once more, per column,
 * and prunes the union to MON_SKETCH_ROLLUP_K items: a rollup. A report
 * then merges one rollup per bucket its window covers whole, plus the
 * summaries (or rows) of the blocks at its ragged ends and of blocks that
 * came after the rollup: 10 rollups instead of 12,000 summaries for the
 * 100 M rows of tests/bench/bench_sketch.sh.
 *
 * Storage: one row per (version, bucket, schema width, column) in
 * pred_rollups (migration 0022), not chunk slots: a rollup describes a set
 * of blocks, not one, and is replaced when the set grows. Each row says
 * which blocks it covers: those of its (version, bucket, width) with id <=
 * id_max, nblocks of them holding nrows rows.
 *
 * Why a rollup stays true of the blocks it names:
 *  - Blocks are immutable; they are only deleted (retention, compaction,
 *    erasure's rewrite of a block, a version or model delete). A trigger
 *    on pred_blocks deletes the rollups of a deleted block's bucket in the
 *    deleting transaction, so no snapshot holds a rollup together with
 *    fewer blocks than it covers. The bucket is rolled up again by a later
 *    pass.
 *  - A block written into the bucket after the rollup (late rows, the new
 *    block of an erasure's rewrite) has a higher id: SQLite hands out the
 *    highest rowid plus one, which is above id_max while the covered
 *    blocks exist; on PostgreSQL ids come from a sequence drawn under
 *    core's write lock (monitor/wcache.c says why that orders them). So
 *    "the blocks with id <= id_max" stays the covered set, and later
 *    blocks are read from their own summaries until the next pass rolls
 *    the bucket up again (a candidate is a bucket whose highest block id
 *    is above its rollup's id_max).
 *  - The reader checks anyway: it merges a rollup only when the blocks its
 *    window lists in that bucket with id <= id_max are nblocks blocks of
 *    nrows rows, every one of them whole in the window (so a bucket at a
 *    ragged end is read block by block), and the rollup's bytes summarise
 *    exactly nrows rows. Otherwise it falls back to the blocks' summaries:
 *    a rollup can make a report faster, never different in kind.
 *  - Building: the summaries are merged in a read snapshot (no write lock
 *    held while a bucket's thousands of summaries are read and sorted)
 *    and the rollup is written in a short write transaction that first
 *    reads migration 0007's delete epoch: when any block was deleted since
 *    the snapshot, the rollup is dropped and built again later.
 *  - PostgreSQL with several replicas: only the scheduler's leader writes
 *    rollups; every replica reads them in the same snapshot as the window's
 *    block list, so whichever process deleted a block, the reader sees
 *    either the rollup with all its blocks or neither. A physical standby
 *    replays the trigger's deletes in the same transaction. Rollups are
 *    plain rows: what a remote collector would ship per bucket.
 *
 * The error bound composes (monitor/sketch.c proves each step): a rollup's
 * err is the sum of its blocks' errors (merge) plus the prune's, at most
 * floor(W / MON_SKETCH_ROLLUP_K) for a bucket of W rows. A window merging
 * rollups and block summaries has err = the sum of everything merged: at
 * most N / (2k) + B / 2 + N / K for N rows in B blocks with distinct values
 * (k = MON_SKETCH_BLOCK_K, K = MON_SKETCH_ROLLUP_K), N / k + B + N / K in
 * every case: about 0.25 % of the rows with 8192-row blocks. The report
 * states the err it actually earned. Categorical columns' rollups are
 * exact counts (never pruned, err 0).
 *
 * Cost: a step reads the bucket's summaries once per column (B x 3 KiB)
 * and writes ncols rows of at most 24 KiB; the candidate query scans the
 * closed buckets' blocks, as compaction's does. A report reads one index
 * range of pred_rollups per column. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "monitor/rollup.h"
#include "monitor/schema.h"
#include "monitor/sketch_block.h"
#include "monitor/store.h"

/* Rollups written per pass at most (each its own two transactions), and
 * the time after which a pass leaves the rest to the next one: the
 * scheduler's thread also runs the evaluations due. */
#define ROLLUPS_PER_PASS 64
#define ROLLUP_PASS_MS 5000

/* The kind of summary of each column of the version's schema into *kinds
 * (malloc'd; NULL when there is no such schema any more: the bucket is
 * rolled up as "none" and its blocks are read as before). */
static mw_status column_kinds(mw_conn *c, int64_t version_id, size_t ncols,
                              int **kinds) {
  const struct mon_store *store = mon__store(c);
  char model[256];
  int64_t version = 0, id = 0, model_id = 0;
  char *schema = NULL;
  mon_schema sc;
  memset(&sc, 0, sizeof sc);
  *kinds = NULL;
  mw_status st = store->version_name(c, version_id, model, sizeof model, &version);
  if(!st)
    st = store->version_find(c, model, version, &id, &model_id, &schema);
  if(!st && schema) {
    mon_version v = {version_id, model_id, model, version, schema};
    if(!mon__schema_parse(schema, &v, &sc, NULL) && sc.ncols == ncols) {
      if(!(*kinds = malloc(ncols * sizeof **kinds)))
        st = MW_ENOMEM;
      for(size_t k = 0; *kinds && k < ncols; k++)
        (*kinds)[k] = sc.cols[k].kind == MON_COLUMN_NUMERIC ? MON_SKETCH_QUANTILES
                                                            : MON_SKETCH_COUNTS;
    }
  }
  mon__schema_free(&sc);
  free(schema);
  return st == MW_ENOTFOUND ? MW_OK : st;
}

/* The rollup of column col over every block of w (one closed bucket),
 * serialised into *out (malloc'd, *len bytes; NULL and 0 when the column
 * cannot be rolled up: a damaged chunk, logged). */
static mw_status build_column(mw_conn *c, const mon_window *w, size_t col, int kind,
                              int64_t nrows, unsigned char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  mon_sketch s;
  mon_sketch_info info;
  mw_status st =
      mon__sketch_window(c, w, col, kind == MON_SKETCH_COUNTS, false, &s, &info);
  if(st == MW_EINTERNAL) {
    /* Logged by the reader: the bucket's blocks are read as they are. */
    mon_sketch_free(&s);
    return MW_OK;
  }
  if(!st && mon_sketch_compress(&s, MON_SKETCH_ROLLUP_K))
    st = MW_ENOMEM;
  if(!st && s.count + s.missing != nrows) {
    mw_log(MW_LOG_ERROR, "monitor",
           "rollup of bucket %lld column %zu: %lld rows summarised of %lld",
           (long long)(w->from / MON_BUCKET_MS), col,
           (long long)(s.count + s.missing), (long long)nrows);
    mon_sketch_free(&s);
    return MW_OK;
  }
  if(!st) {
    size_t size = mon_sketch_size(&s);
    if(!(*out = malloc(size)))
      st = MW_ENOMEM;
    else
      *len = mon_sketch_serialize(&s, *out, size);
  }
  mon_sketch_free(&s);
  return st;
}

/* The read half of a step: the candidate and its rollups, in one
 * snapshot (mon_rollup_built in monitor/rollup.h). */
struct mon_rollup_built {
  int64_t version_id;
  size_t ncols;
  mon_rollup r;
  mon_epoch epoch;
  unsigned char **data;
  size_t *len;
};

static mw_status build(mw_conn *c, int64_t before_bucket, struct mon_rollup_built *b,
                       int *found) {
  const struct mon_store *store = mon__store(c);
  int64_t version_id = 0, bucket = 0, ncols = 0;
  mw_status st = store->block_epoch(c, &b->epoch);
  if(!st)
    st = store->rollup_candidate(c, before_bucket, MON_SKETCH_MAX_COLS, &version_id,
                                 &bucket, &ncols, found);
  if(st || !*found)
    return st;
  b->version_id = version_id;
  b->ncols = (size_t)ncols;
  b->r.bucket = bucket;
  mon_window w;
  st = mon__window_open(c, version_id, (size_t)ncols, bucket * MON_BUCKET_MS,
                        (bucket + 1) * MON_BUCKET_MS, &w);
  for(size_t i = 0; !st && i < w.nblocks; i++) {
    b->r.nblocks++;
    b->r.nrows += w.blocks[i].n;
    if(w.blocks[i].id > b->r.id_max)
      b->r.id_max = w.blocks[i].id;
  }
  int *kinds = NULL;
  if(!st)
    st = column_kinds(c, version_id, (size_t)ncols, &kinds);
  b->data = calloc((size_t)ncols, sizeof *b->data);
  b->len = calloc((size_t)ncols, sizeof *b->len);
  if(!st && (!b->data || !b->len))
    st = MW_ENOMEM;
  /* Without the schema every column is written empty: the bucket stops
   * being a candidate and its blocks are read as they are. */
  for(size_t col = 0; !st && kinds && col < (size_t)ncols; col++)
    st = build_column(c, &w, col, kinds[col], b->r.nrows, &b->data[col],
                      &b->len[col]);
  free(kinds);
  mon__window_free(&w);
  return st;
}

static void built_free(struct mon_rollup_built *b) {
  if(!b)
    return;
  for(size_t k = 0; b->data && k < b->ncols; k++)
    free(b->data[k]);
  free(b->data);
  free(b->len);
}

mw_status mon__rollup_build(mw_conn *c, int64_t before_bucket,
                            struct mon_rollup_built **out) {
  *out = NULL;
  struct mon_rollup_built *b = calloc(1, sizeof *b);
  if(!b)
    return MW_ENOMEM;
  int found = 0;
  mw_status st = mon__read_begin(c);
  if(!st) {
    st = build(c, before_bucket, b, &found);
    mon__read_end(c);
  }
  if(st || !found) {
    built_free(b);
    free(b);
    return st;
  }
  *out = b;
  return MW_OK;
}

mw_status mon__rollup_write(mw_conn *c, struct mon_rollup_built *b, int *built) {
  *built = 0;
  mon_chunk *cols = calloc(b->ncols ? b->ncols : 1, sizeof *cols);
  mon_epoch now;
  mw_status st = cols ? MW_OK : MW_ENOMEM;
  for(size_t k = 0; cols && k < b->ncols; k++)
    cols[k] = (mon_chunk){b->data[k] ? (const void *)b->data[k] : "", b->len[k]};
  if(!st)
    st = mw_tx_begin(c);
  if(!st && !(st = mon__store(c)->block_epoch(c, &now))) {
    if(now.gen != b->epoch.gen || now.n != b->epoch.n) {
      *built = -1; /* a block was deleted since: maybe one of these */
    } else {
      st = mon__store(c)->rollup_put(c, b->version_id, b->ncols, &b->r, cols,
                                     mw_now_ms());
      *built = 1;
    }
  }
  if(!st)
    st = mw_tx_commit(c);
  if(st) {
    mw_tx_rollback(c);
    *built = 0;
  }
  free(cols);
  built_free(b);
  free(b);
  return st;
}

mw_status mon__rollup_step(mon_ctx *m, mw_conn *c, int64_t before_bucket,
                           int *built) {
  (void)m;
  *built = 0;
  struct mon_rollup_built *b;
  mw_status st = mon__rollup_build(c, before_bucket, &b);
  return st || !b ? st : mon__rollup_write(c, b, built);
}

void mon__rollup_pass(mon_ctx *m, mw_conn *c) {
  int64_t start = mw_now_ms(), before = (start - 60000) / MON_BUCKET_MS;
  for(int k = 0; k < ROLLUPS_PER_PASS && !mon__stopping(m) &&
                 mw_now_ms() - start < ROLLUP_PASS_MS;
      k++) {
    int built = 0;
    if(mon__rollup_step(m, c, before, &built)) {
      mw_log(MW_LOG_WARN, "monitor", "rollup step failed; retrying later");
      return;
    }
    if(built != 1)
      return; /* nothing to do, or a delete raced it: the next pass */
  }
}

/* ---------------------------------------------------------------- read */

struct key {
  int64_t bucket, id;
  size_t i; /* the block's index in w */
};

struct use {
  const mon_window *w;
  const struct key *order; /* blocks of w by (bucket, id) */
  size_t pos;              /* first of order not yet passed */
  bool counts;
  mon_sketch *out;
  uint8_t *covered;
  int64_t *used;
};

static mw_status use_rollup(void *ctx, const mon_rollup *r) {
  struct use *u = ctx;
  const mon_window *w = u->w;
  size_t nb = w->nblocks;
  while(u->pos < nb && u->order[u->pos].bucket < r->bucket)
    u->pos++;
  size_t first = u->pos, end = u->pos;
  int64_t nblocks = 0, nrows = 0;
  bool whole = true;
  for(; end < nb && u->order[end].bucket == r->bucket; end++) {
    const mon_wblock *b = &w->blocks[u->order[end].i];
    if(b->id > r->id_max)
      continue;
    nblocks++;
    nrows += b->n;
    whole &= !b->mask && b->nsel == b->n;
  }
  u->pos = end;
  if(!whole || nblocks != r->nblocks || nrows != r->nrows || r->len == 0)
    return MW_OK; /* a ragged end, or blocks the rollup does not know */
  mon_sketch s;
  if(mon_sketch_deserialize(&s, r->data, r->len) || s.count + s.missing != nrows ||
     s.counts != u->counts) {
    mon_sketch_free(&s);
    mw_log(MW_LOG_ERROR, "monitor",
           "the rollup of bucket %lld is damaged; reading its blocks",
           (long long)r->bucket);
    return MW_OK;
  }
  mw_status st =
      mon_sketch_merge(u->out, &s) ? MW_ENOMEM : mon__sketch_bound(u->out);
  mon_sketch_free(&s);
  if(st)
    return st;
  for(size_t k = first; k < end; k++)
    if(u->order[k].id <= r->id_max)
      u->covered[u->order[k].i] = 1;
  (*u->used)++;
  return MW_OK;
}

static int by_bucket(const void *a, const void *b) {
  const struct key *x = a, *y = b;
  return x->bucket != y->bucket ? (x->bucket < y->bucket ? -1 : 1)
         : x->id != y->id       ? (x->id < y->id ? -1 : 1)
                                : 0;
}

mw_status mon__rollup_window(mw_conn *c, const mon_window *w, size_t col,
                             bool counts, mon_sketch *out, uint8_t *covered,
                             int64_t *used) {
  *used = 0;
  size_t nb = w->nblocks;
  if(nb < 2 || w->ncols > MON_SKETCH_MAX_COLS)
    return MW_OK;
  struct key *order = malloc(nb * sizeof *order);
  if(!order)
    return MW_ENOMEM;
  for(size_t i = 0; i < nb; i++)
    order[i] = (struct key){w->blocks[i].ts_min / MON_BUCKET_MS, w->blocks[i].id, i};
  qsort(order, nb, sizeof *order, by_bucket);
  struct use u = {w, order, 0, counts, out, covered, used};
  mw_status st =
      mon__store(c)->rollups_read(c, w->version_id, w->ncols, col, order[0].bucket,
                                  order[nb - 1].bucket, use_rollup, &u);
  free(order);
  return st;
}
