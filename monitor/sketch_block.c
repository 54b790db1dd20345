/* monitor/sketch_block.c - block summaries as chunks
 * (monitor/sketch_block.h).
 *
 * Write side: one summary per numeric column, built from the values the
 * ingest path already holds (a radix sort of the block's column and one
 * pass), at most MON_SKETCH_BLOCK_K items: 8 bytes a value for a block of
 * fewer distinct values (exact), about 2 KiB otherwise (3 KiB with ties).
 *
 * Read side: the rollups of the closed buckets the window covers whole
 * (monitor/rollup.c) when asked, then one chunks_read of the summary slot
 * for the other blocks wholly inside the window, then the column's values
 * of the others (straddling an end, or written before summaries existed)
 * through mon__window_visit, added as exact items. Cost: the window's
 * blocks' summaries (B x at most 3 KiB) instead of its rows (8 bytes
 * each). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "monitor/rollup.h"
#include "monitor/sketch_block.h"

mw_status mon__sketch_chunks(size_t ncols, size_t nrows, bool has_ids,
                             int (*kind)(void *ctx, size_t col),
                             mon_sketch_col_fn column, void *ctx, mw_buf *buf,
                             mon_chunk *chunks, size_t *nchunks) {
  *nchunks = ncols + 1 + (has_ids ? 1 : 0);
  buf->len = 0;
  /* A block of at most k rows keeps none: its column is as exact and as
   * small, and a report reads it instead (8 bytes a value either way). */
  if(ncols > MON_SKETCH_MAX_COLS || nrows <= MON_SKETCH_BLOCK_K)
    return MW_OK;
  size_t last = SIZE_MAX;
  for(size_t col = 0; col < ncols; col++)
    if(kind(ctx, col) != MON_SKETCH_NONE)
      last = col;
  if(last == SIZE_MAX)
    return MW_OK;
  size_t *off = malloc((last + 2) * sizeof *off);
  double *scratch = malloc(nrows * sizeof *scratch);
  unsigned char *tmp = NULL;
  mw_status st = off && scratch ? MW_OK : MW_ENOMEM;
  mon_sketch s;
  mon_sketch_init(&s);
  for(size_t col = 0; col <= last && !st; col++) {
    off[col] = buf->len;
    int k = kind(ctx, col);
    if(k == MON_SKETCH_NONE)
      continue;
    const double *x = column(ctx, col, scratch);
    mon_sketch_free(&s);
    s.counts = k == MON_SKETCH_COUNTS;
    if(mon_sketch_update(&s, x, nrows) ||
       mon_sketch_compress(&s, MON_SKETCH_BLOCK_K)) {
      st = MW_ENOMEM;
      break;
    }
    size_t size = mon_sketch_size(&s);
    unsigned char *t = realloc(tmp, size);
    if(!t) {
      st = MW_ENOMEM;
      break;
    }
    tmp = t;
    size_t wrote = mon_sketch_serialize(&s, tmp, size);
    assert(wrote == size);
    st = mw_buf_append(buf, tmp, wrote);
  }
  if(!st) {
    off[last + 1] = buf->len;
    if(!has_ids)
      chunks[ncols + 1] = (mon_chunk){"", 0};
    for(size_t col = 0; col <= last; col++)
      chunks[mon__slot_sketch(ncols, col)] =
          (mon_chunk){off[col + 1] > off[col] ? buf->data + off[col] : "",
                      off[col + 1] - off[col]};
    *nchunks = (size_t)mon__slot_sketch(ncols, last) + 1;
  }
  mon_sketch_free(&s);
  free(tmp);
  free(scratch);
  free(off);
  return st;
}

int mon__sketch_chunk_kind(const void *data, size_t len) {
  const unsigned char *p = data;
  if(!data || len < 8 || memcmp(p, "MWSK", 4))
    return MON_SKETCH_NONE;
  return p[5] & 4 ? MON_SKETCH_COUNTS : MON_SKETCH_QUANTILES;
}

/* ---------------------------------------------------------------- read */

struct gather {
  const mon_window *w;
  const mon_wblock **blocks; /* by chunks_read index */
  uint8_t *missing;          /* per block of w: needs its rows read */
  size_t *index;             /* chunks_read index -> block of w */
  mon_sketch *out;
};

/* The union is pruned to UNION_K items whenever it passes UNION_MAX, so a
 * window of blocks without summaries (written before they existed) is
 * bounded in memory too; the pruning's error is tracked like any other. */
#define UNION_MAX ((size_t)1 << 22)
#define UNION_K ((size_t)1 << 20)

mw_status mon__sketch_bound(mon_sketch *s) {
  if(s->n > UNION_MAX && mon_sketch_compress(s, UNION_K))
    return MW_ENOMEM;
  return MW_OK;
}

static mw_status add_values(void *ctx, const double *v, size_t n) {
  return mon_sketch_update(ctx, v, n) ? MW_ENOMEM : mon__sketch_bound(ctx);
}

static mw_status add_summary(void *ctx, size_t i, const void *data, size_t len) {
  struct gather *g = ctx;
  if(!data || len == 0) {
    g->missing[g->index[i]] = 1;
    return MW_OK;
  }
  mon_sketch s;
  if(mon_sketch_deserialize(&s, data, len) ||
     s.count + s.missing != g->blocks[i]->n) {
    mon_sketch_free(&s);
    mw_log(MW_LOG_ERROR, "monitor", "block %lld has a damaged summary chunk",
           (long long)g->blocks[i]->id);
    return MW_EINTERNAL;
  }
  mw_status st =
      mon_sketch_merge(g->out, &s) ? MW_ENOMEM : mon__sketch_bound(g->out);
  mon_sketch_free(&s);
  return st;
}

mw_status mon__sketch_window(mw_conn *c, const mon_window *w, size_t col,
                             bool counts, bool rollups, mon_sketch *out,
                             mon_sketch_info *info) {
  mon_sketch_init(out);
  out->counts = counts;
  memset(info, 0, sizeof *info);
  size_t nb = w->nblocks;
  struct gather g = {w, malloc((nb ? nb : 1) * sizeof *g.blocks),
                     calloc(nb ? nb : 1, 1), malloc((nb ? nb : 1) * sizeof *g.index),
                     out};
  int64_t *ids = malloc((nb ? nb : 1) * sizeof *ids);
  uint8_t *covered = calloc(nb ? nb : 1, 1); /* by a rollup */
  mw_status st =
      g.blocks && g.missing && g.index && ids && covered ? MW_OK : MW_ENOMEM;
  if(!st && rollups)
    st = mon__rollup_window(c, w, col, counts, out, covered, &info->rollups);
  size_t k = 0;
  bool sketches = w->ncols <= MON_SKETCH_MAX_COLS;
  for(size_t i = 0; !st && i < nb; i++) {
    const mon_wblock *b = &w->blocks[i];
    if(b->nsel == 0 || covered[i])
      continue;
    if(b->mask || !sketches) {
      g.missing[i] = 1;
      continue;
    }
    ids[k] = b->id;
    g.blocks[k] = b;
    g.index[k++] = i;
  }
  /* Room for every summary at once: no step-by-step growth. */
  if(!st && k && !counts &&
     mon_sketch_reserve(out, k * (size_t)MON_SKETCH_BLOCK_K < UNION_MAX
                                 ? k * (size_t)MON_SKETCH_BLOCK_K
                                 : UNION_MAX))
    st = MW_ENOMEM;
  if(!st && k)
    st = mon__store(c)->chunks_read(c, mon__slot_sketch(w->ncols, col), ids, k,
                                    add_summary, &g);
  /* The rest row by row, through a window of just those blocks. */
  mon_window rest = *w;
  rest.blocks = NULL;
  rest.nblocks = 0;
  size_t nrest = 0;
  for(size_t i = 0; !st && i < nb; i++)
    nrest += g.missing[i];
  if(!st && nrest && !(rest.blocks = malloc(nrest * sizeof *rest.blocks)))
    st = MW_ENOMEM;
  for(size_t i = 0; !st && i < nb; i++)
    if(g.missing[i]) {
      rest.blocks[rest.nblocks++] = w->blocks[i];
      info->exact_rows += w->blocks[i].nsel;
    }
  if(!st && rest.nblocks)
    st = mon__window_visit(c, &rest, col, add_values, out);
  free(rest.blocks); /* the masks are w's */
  if(!st && mon_sketch_compress(out, 0))
    st = MW_ENOMEM;
  free(g.blocks);
  free(g.missing);
  free(g.index);
  free(ids);
  free(covered);
  return st;
}

mw_status mon__sketch_counts(mw_conn *c, const mon_window *w, size_t col,
                             mon_wcol *out) {
  mon_sketch s;
  mon_sketch_info info;
  mw_status st = mon__sketch_window(c, w, col, true, true, &s, &info);
  if(!st)
    out->missing += s.missing;
  for(size_t i = 0; !st && i < s.n; i++) {
    double x = s.v[i];
    if(!(x >= 0) || x >= MON_MAX_CATEGORIES) {
      out->missing += s.w[i];
      continue;
    }
    size_t code = (size_t)x;
    if(code >= out->ncounts) {
      size_t nc = out->ncounts ? out->ncounts : 16;
      while(nc <= code)
        nc *= 2;
      double *cc = realloc(out->counts, nc * sizeof *cc);
      if(!cc) {
        st = MW_ENOMEM;
        break;
      }
      memset(cc + out->ncounts, 0, (nc - out->ncounts) * sizeof *cc);
      out->counts = cc;
      out->ncounts = nc;
    }
    out->counts[code] += (double)s.w[i];
  }
  mon_sketch_free(&s);
  return st;
}
