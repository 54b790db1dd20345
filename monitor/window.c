/* monitor/window.c - windows over the store's blocks (monitor/window.h).
 * Opening a window is one listing of the version's blocks in the window's
 * buckets, plus one read of the timestamps of each block that straddles a
 * boundary (at most the two ends, and late rows). Visiting a column reads
 * that column's chunk of every block once, in block order, through
 * chunks_read (PostgreSQL: one statement for many blocks, binary bytes). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "monitor/pack.h"
#include "monitor/window.h"

mw_status mon__read_begin(mw_conn *c) { return mw_tx_read(c); }

void mon__read_end(mw_conn *c) { mw_tx_rollback(c); }

void mon__window_free(mon_window *w) {
  if(!w)
    return;
  for(size_t i = 0; i < w->nblocks; i++)
    free(w->blocks[i].mask);
  free(w->blocks);
  memset(w, 0, sizeof *w);
}

struct listing {
  mon_window *w;
  size_t cap;
};

/* blocks_list callback: keeps the blocks written under this schema. */
static mw_status add_block(void *ctx, const mon_block *b) {
  struct listing *l = ctx;
  mon_window *w = l->w;
  if(b->ncols != (int64_t)w->ncols)
    return MW_OK; /* written under another schema; cannot be read as this */
  if(w->nblocks == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 64;
    mon_wblock *nb = realloc(w->blocks, ncap * sizeof *nb);
    if(!nb)
      return MW_ENOMEM;
    w->blocks = nb;
    l->cap = ncap;
  }
  mon_wblock *wb = &w->blocks[w->nblocks++];
  memset(wb, 0, sizeof *wb);
  wb->id = b->id;
  wb->ts_min = b->ts_min;
  wb->ts_max = b->ts_max;
  wb->n = b->n;
  wb->nsel = b->n;
  return MW_OK;
}

struct masks {
  mon_window *w;
  mon_wblock **blocks; /* the straddling blocks, by chunks_read index */
};

/* chunks_read callback: marks the rows of a straddling block that fall in
 * the window. */
static mw_status mask_block(void *ctx, size_t i, const void *data, size_t len) {
  struct masks *m = ctx;
  mon_wblock *b = m->blocks[i];
  if(!data || len != (size_t)b->n * 8) {
    mw_log(MW_LOG_ERROR, "monitor", "block %lld has no valid timestamp chunk",
           (long long)b->id);
    return MW_EINTERNAL;
  }
  if(!(b->mask = malloc((size_t)b->n)))
    return MW_ENOMEM;
  b->nsel = 0;
  for(int64_t r = 0; r < b->n; r++) {
    int64_t t = mon__chunk_i64(data, (size_t)r);
    b->mask[r] = t >= m->w->from && t < m->w->to;
    b->nsel += b->mask[r];
  }
  return MW_OK;
}

/* Reads the timestamps of the blocks that straddle the window. */
static mw_status build_masks(mw_conn *c, mon_window *w) {
  size_t n = 0;
  for(size_t i = 0; i < w->nblocks; i++)
    n += w->blocks[i].ts_min < w->from || w->blocks[i].ts_max >= w->to;
  if(n == 0)
    return MW_OK;
  int64_t *ids = malloc(n * sizeof *ids);
  struct masks m = {w, malloc(n * sizeof *m.blocks)};
  mw_status s = ids && m.blocks ? MW_OK : MW_ENOMEM;
  for(size_t i = 0, k = 0; !s && i < w->nblocks; i++) {
    mon_wblock *b = &w->blocks[i];
    if(b->ts_min < w->from || b->ts_max >= w->to) {
      ids[k] = b->id;
      m.blocks[k++] = b;
    }
  }
  if(!s)
    s = mon__store(c)->chunks_read(c, MON_SLOT_TS, ids, n, mask_block, &m);
  free(ids);
  free(m.blocks);
  return s;
}

mw_status mon__window_open(mw_conn *c, int64_t version_id, size_t ncols,
                           int64_t from, int64_t to, mon_window *w) {
  return mon__window_open_ids(c, version_id, ncols, from, to, INT64_MIN, INT64_MAX,
                              w);
}

mw_status mon__window_open_ids(mw_conn *c, int64_t version_id, size_t ncols,
                               int64_t from, int64_t to, int64_t id_lo,
                               int64_t id_hi, mon_window *w) {
  assert(mw_tx_state(c) != 0); /* one snapshot for the listing and reads */
  memset(w, 0, sizeof *w);
  w->version_id = version_id;
  w->from = from;
  w->to = to;
  w->ncols = ncols;
  if(to <= from || id_hi < id_lo)
    return MW_OK;
  struct listing l = {w, 0};
  mw_status s = mon__store(c)->blocks_list(c, version_id, from, to, id_lo, id_hi,
                                           add_block, &l);
  if(!s)
    s = build_masks(c, w);
  for(size_t i = 0; !s && i < w->nblocks; i++)
    w->count += w->blocks[i].nsel;
  if(s)
    mon__window_free(w);
  return s;
}

struct visit {
  const mon_window *w;
  const mon_wblock **blocks; /* the blocks read, by chunks_read index */
  double *tmp;
  mon_visit_fn fn;
  void *ctx;
};

/* chunks_read callback: the selected values of one block to fn. */
static mw_status visit_block(void *ctx, size_t i, const void *data, size_t len) {
  struct visit *v = ctx;
  const mon_wblock *b = v->blocks[i];
  if(!data || len != (size_t)b->n * 8)
    return MW_EINTERNAL;
  size_t k = 0;
  if(!b->mask) {
    mon__unpack_doubles(data, (size_t)b->n, v->tmp);
    k = (size_t)b->n;
  } else {
    for(int64_t r = 0; r < b->n; r++)
      if(b->mask[r])
        v->tmp[k++] = mon__chunk_double(data, (size_t)r);
  }
  return v->fn(v->ctx, v->tmp, k);
}

mw_status mon__window_visit(mw_conn *c, const mon_window *w, size_t col,
                            mon_visit_fn fn, void *ctx) {
  assert(col < w->ncols || w->nblocks == 0);
  int64_t maxn = 0;
  size_t n = 0;
  for(size_t i = 0; i < w->nblocks; i++) {
    if(w->blocks[i].n > maxn)
      maxn = w->blocks[i].n;
    n += w->blocks[i].nsel > 0;
  }
  if(n == 0)
    return MW_OK;
  struct visit v = {w, malloc(n * sizeof *v.blocks),
                    malloc((size_t)maxn * sizeof *v.tmp), fn, ctx};
  int64_t *ids = malloc(n * sizeof *ids);
  mw_status s = v.blocks && v.tmp && ids ? MW_OK : MW_ENOMEM;
  for(size_t i = 0, k = 0; !s && i < w->nblocks; i++)
    if(w->blocks[i].nsel > 0) {
      ids[k] = w->blocks[i].id;
      v.blocks[k++] = &w->blocks[i];
    }
  if(!s)
    s = mon__store(c)->chunks_read(c, mon__slot_col(col), ids, n, visit_block, &v);
  if(s == MW_EINTERNAL)
    mw_log(MW_LOG_ERROR, "monitor",
           "a block of the window has a damaged chunk "
           "for column %zu",
           col);
  free(ids);
  free(v.blocks);
  free(v.tmp);
  return s;
}

/* --------------------------------------------------------------- gather */

void mon__gather_init(mon_gather *g, double *vals, size_t cap, size_t stride,
                      bool aggregate, const mon_bins *bins) {
  memset(g, 0, sizeof *g);
  g->vals = vals;
  g->cap = cap;
  g->stride = stride ? stride : 1;
  g->aggregate = aggregate;
  g->bins = bins;
  g->min = INFINITY;
  g->max = -INFINITY;
}

void mon__gather_range(mon_gather *g, double lo, double hi) {
  assert(lo <= hi);
  g->has_range = true;
  g->lo = lo;
  g->hi = hi;
}

mw_status mon__gather_visit(void *ctx, const double *v, size_t n) {
  mon_gather *g = ctx;
  assert(g->n <= g->cap);
  if(g->stride == 1 && !g->aggregate) {
    size_t k = n < g->cap - g->n ? n : g->cap - g->n;
    memcpy(g->vals + g->n, v, k * sizeof *v);
    g->n += k;
    g->seen += n;
    return MW_OK;
  }
  for(size_t i = 0; i < n; i++, g->seen++) {
    double x = v[i];
    if(g->seen % g->stride == 0 && g->n < g->cap)
      g->vals[g->n++] = x;
    if(!g->aggregate)
      continue;
    if(!isfinite(x)) {
      g->missing++;
      continue;
    }
    /* Welford's update: one pass, no catastrophic cancellation. */
    g->count++;
    double d = x - g->mean;
    g->mean += d / (double)g->count;
    g->m2 += d * (x - g->mean);
    if(x < g->min)
      g->min = x;
    if(x > g->max)
      g->max = x;
    if(g->bins)
      g->bin_counts[mon_stats_bins_index(g->bins, x)] += 1.0;
    if(g->has_range && (x < g->lo || x > g->hi))
      g->out_of_range++;
  }
  return MW_OK;
}
