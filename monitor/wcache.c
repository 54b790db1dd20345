/* monitor/wcache.c - the live-window cache of drift reports.
 *
 * A dashboard or an alert rule asks for the drift of a sliding window ("the
 * last hour") again and again; between two asks a few seconds of new rows
 * arrive and a few seconds of old ones leave. Without a cache each report
 * reads and sorts every value of the window again. An entry here keeps, per
 * column, the window's finite values sorted (numeric) or its rows per code
 * (categorical), together with what it covers: the window [from, to) and
 * every block with id <= max_block. The next report of the same version
 * whose window overlaps it reads only the difference, at either end:
 *   out:  rows of blocks <= max_block with ts in [from, from') or [to', to)
 *   in:   rows of blocks <= max_block with ts in [from', from) or [to, to'),
 *         and rows of blocks in (max_block, max_block'] in [from', to')
 * and merges it in one linear pass per column. Blocks are immutable and
 * their ids only grow, except when blocks are deleted (retention,
 * compaction, version or model deletes): pred_block_epoch (migration 0007)
 * counts deletes and keeps the latest deleted ts and the highest deleted
 * id, so an entry stays valid when every delete since lies before its
 * window (retention) and cannot have freed an id it has seen.
 *
 * The result is the same multiset of values, in the same order, as the full
 * read gives, so the report is identical to an uncached one
 * (tests/unit/test_monitor.c checks it against a context with the cache
 * off). Entries are used for windows that are computed exactly anyway (not
 * sampled); their memory is bounded by drift_cache_mb, least recently used
 * entries are evicted first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/internal.h"

static void entry_free(mon_wentry *e) {
  if(!e)
    return;
  for(size_t k = 0; e->cols && k < e->ncols; k++) {
    free(e->cols[k].vals);
    free(e->cols[k].counts);
  }
  free(e->cols);
  free(e);
}

/* Bytes an entry of count rows takes: the numeric values, and the category
 * counts it holds now. */
static size_t entry_bytes(const mon_wentry *e, int64_t count, size_t nnumeric) {
  size_t b = sizeof *e + e->ncols * sizeof *e->cols;
  b += (size_t)(count > 0 ? count : 0) * nnumeric * sizeof(double);
  for(size_t k = 0; k < e->ncols; k++)
    b += e->cols[k].ncounts * sizeof(double);
  return b;
}

/* Under wc_mu: takes e out of the list and frees it. */
static void unlink_free(mon_ctx *m, mon_wentry *e) {
  for(mon_wentry **pp = &m->wc_head; *pp; pp = &(*pp)->next)
    if(*pp == e) {
      *pp = e->next;
      break;
    }
  m->wc_bytes -= e->bytes;
  entry_free(e);
}

/* Under wc_mu: evicts idle entries, least recently used first, until need
 * more bytes fit the budget. Returns false when they cannot. */
static bool make_room(mon_ctx *m, size_t need, size_t budget) {
  while(m->wc_bytes + need > budget) {
    mon_wentry *lru = NULL;
    for(mon_wentry *e = m->wc_head; e; e = e->next)
      if(!e->busy && (!lru || e->used_ms < lru->used_ms))
        lru = e;
    if(!lru)
      return false;
    unlink_free(m, lru);
    m->wc_evictions++;
  }
  return true;
}

/* An entry nobody asked for in this long is dropped: the scheduled
 * evaluation's window (every 5 minutes by default) stays, a dashboard
 * closed an hour ago does not keep its window in memory. */
#define WCACHE_IDLE_MS (15LL * 60 * 1000)

/* Under wc_mu: drops idle entries unused for WCACHE_IDLE_MS. */
static void expire(mon_ctx *m, int64_t now) {
  for(mon_wentry *e = m->wc_head, *next; e; e = next) {
    next = e->next;
    if(!e->busy && now - e->used_ms > WCACHE_IDLE_MS) {
      unlink_free(m, e);
      m->wc_evictions++;
    }
  }
}

static size_t budget_bytes(const mon_ctx *m) {
  return (size_t)m->opt.drift_cache_mb << 20;
}

mon_wentry *mon__wcache_acquire(mon_ctx *m, int64_t version_id, size_t ncols,
                                int64_t from, int64_t to) {
  if(!m || m->opt.drift_cache_mb < 0 || to <= from)
    return NULL;
  int64_t now = mw_mono_ns() / 1000000;
  pthread_mutex_lock(&m->wc_mu);
  expire(m, now);
  mon_wentry *best = NULL;
  for(;;) {
    best = NULL;
    int64_t best_cost = 0;
    for(mon_wentry *e = m->wc_head; e; e = e->next) {
      if(e->version_id != version_id || e->ncols != ncols || from >= e->to ||
         to <= e->from)
        continue;
      /* Milliseconds of rows to move at both ends; past the window's own
       * length a fresh read is cheaper. */
      int64_t cost = llabs(from - e->from) + llabs(to - e->to);
      if(cost >= to - from || cost >= e->to - e->from)
        continue; /* a fresh read is cheaper, or this entry serves others */
      if(!best || cost < best_cost) {
        best = e;
        best_cost = cost;
      }
    }
    if(!best || !best->busy)
      break;
    /* Another report is bringing it up to date: its result is ours to
     * continue from. */
    pthread_cond_wait(&m->wc_cv, &m->wc_mu);
  }
  if(!best) {
    /* A placeholder, so that reports of this window arriving while it is
     * built wait for it instead of building copies (measured: five entries
     * of one version after the first seconds of the load bench). It holds
     * nothing until mon__wcache_plan fills it. */
    best = calloc(1, sizeof *best);
    if(best && !(best->cols = calloc(ncols ? ncols : 1, sizeof *best->cols))) {
      free(best);
      best = NULL;
    }
    if(best) {
      best->version_id = version_id;
      best->ncols = ncols;
      best->from = from;
      best->to = to;
      best->empty = true;
      best->next = m->wc_head;
      m->wc_head = best;
    }
  }
  if(best) {
    best->busy = true;
    best->used_ms = now;
  }
  pthread_mutex_unlock(&m->wc_mu);
  return best;
}

/* Under wc_mu: empties e (keeping it in the list) for a fresh read. */
static void reset(mon_ctx *m, mon_wentry *e) {
  for(size_t k = 0; k < e->ncols; k++) {
    free(e->cols[k].vals);
    free(e->cols[k].counts);
    memset(&e->cols[k], 0, sizeof e->cols[k]);
  }
  m->wc_bytes -= e->bytes;
  e->bytes = 0;
  e->count = 0;
  e->empty = true;
}

static void plan_windows_free(mon_wplan *p) {
  for(int k = 0; k < MON_WPLAN_REM; k++)
    mon__window_free(&p->rem[k]);
  for(int k = 0; k < MON_WPLAN_ADD; k++)
    mon__window_free(&p->add[k]);
}

/* Drops e (busy, ours) from the cache. */
static void drop(mon_ctx *m, mon_wentry *e) {
  pthread_mutex_lock(&m->wc_mu);
  unlink_free(m, e);
  pthread_cond_broadcast(&m->wc_cv);
  pthread_mutex_unlock(&m->wc_mu);
}

/* Gives e (busy, ours, unchanged) back. */
static void release(mon_ctx *m, mon_wentry *e) {
  pthread_mutex_lock(&m->wc_mu);
  e->busy = false;
  pthread_cond_broadcast(&m->wc_cv);
  pthread_mutex_unlock(&m->wc_mu);
}

/* Whether e (not empty) still holds exactly the rows it says, seen from
 * the snapshot ep. */
static bool still_valid(const mon_wentry *e, const mon_epoch *ep) {
  if(e->gen != ep->gen || e->max_block > ep->max_block)
    return false; /* another database, or a snapshot older than the entry */
  if(e->epoch == ep->n)
    return true; /* nothing deleted since */
  /* Deleted blocks all ended before the window (retention) and none of
   * them can have freed an id at or below max_block for reuse (an id is
   * reused only after the highest one is deleted). */
  return ep->del_ts_max < e->from && ep->del_id_max < e->max_block;
}

mw_status mon__wcache_plan(mon_ctx *m, mw_conn *c, mon_wentry *e,
                           int64_t version_id, size_t ncols, size_t nnumeric,
                           int64_t from, int64_t to, int64_t max_rows,
                           mon_wplan *p) {
  memset(p, 0, sizeof *p);
  if(!m || m->opt.drift_cache_mb < 0 || to <= from) {
    if(e)
      drop(m, e);
    return MW_OK;
  }
  mon_epoch ep;
  mw_status st = mon__store_block_epoch(c, &ep);
  if(st) {
    if(e)
      drop(m, e);
    return st;
  }
  size_t budget = budget_bytes(m);
  pthread_mutex_lock(&m->wc_mu);
  if(e && !e->empty && !still_valid(e, &ep))
    reset(m, e); /* read the window afresh into the same entry */
  p->reset = !e || e->empty;
  if(p->reset)
    m->wc_misses++;
  else
    m->wc_hits++;
  pthread_mutex_unlock(&m->wc_mu);

  p->from = from;
  p->to = to;
  p->epoch = ep.n;
  p->gen = ep.gen;
  p->max_block = ep.max_block;
  if(!p->reset) {
    /* Rows of the blocks it has seen at the ends that moved, then the rows
     * of newer blocks anywhere in the window. A request that waited for
     * admission may end earlier than the entry; its window then shrinks at
     * that end. */
    int64_t lo = e->from, hi = e->to, M = e->max_block;
    struct {
      int64_t a, b, id_lo, id_hi;
      mon_window *w;
    } parts[] = {
        {lo, from < hi ? from : hi, INT64_MIN, M, &p->rem[0]},
        {to > lo ? to : lo, hi, INT64_MIN, M, &p->rem[1]},
        {from, to < lo ? to : lo, INT64_MIN, M, &p->add[0]},
        {from > hi ? from : hi, to, INT64_MIN, M, &p->add[1]},
        {from, to, M + 1, ep.max_block, &p->add[2]},
    };
    for(size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
      if(parts[k].a >= parts[k].b)
        continue;
      if((st = mon__window_open_ids(c, version_id, ncols, parts[k].a, parts[k].b,
                                    parts[k].id_lo, parts[k].id_hi, parts[k].w)))
        goto fail;
    }
    for(int k = 0; k < MON_WPLAN_REM; k++)
      p->nrem += p->rem[k].count;
    for(int k = 0; k < MON_WPLAN_ADD; k++)
      p->nadd += p->add[k].count;
    p->count = e->count - p->nrem + p->nadd;
  } else {
    if((st = mon__window_open(c, version_id, ncols, from, to, &p->add[0])))
      goto fail;
    p->nadd = p->count = p->add[0].count;
  }
  if(p->count > max_rows || !e)
    goto skip; /* sampled (the streaming path does it) or no placeholder */

  pthread_mutex_lock(&m->wc_mu);
  size_t need = entry_bytes(e, p->count, nnumeric);
  if(need > e->bytes) {
    size_t more = need - e->bytes;
    if(need > budget || !make_room(m, more, budget)) {
      pthread_mutex_unlock(&m->wc_mu);
      goto skip;
    }
    e->bytes = need;
    m->wc_bytes += more;
  }
  e->empty = false;
  pthread_mutex_unlock(&m->wc_mu);
  p->e = e;
  return MW_OK;
skip:
  st = MW_OK;
fail:
  plan_windows_free(p);
  if(e) {
    if(p->reset || st)
      drop(m, e);
    else
      release(m, e); /* untouched: it still serves its own window */
  }
  p->e = NULL;
  return st;
}

void mon__wcache_done(mon_ctx *m, mon_wplan *p, bool ok, size_t nnumeric) {
  plan_windows_free(p);
  mon_wentry *e = p->e;
  p->e = NULL;
  if(!e)
    return;
  pthread_mutex_lock(&m->wc_mu);
  if(!ok) {
    unlink_free(m, e);
  } else {
    e->from = p->from;
    e->to = p->to;
    e->epoch = p->epoch;
    e->gen = p->gen;
    e->max_block = p->max_block;
    e->count = p->count;
    size_t b = entry_bytes(e, e->count, nnumeric);
    m->wc_bytes = m->wc_bytes - e->bytes + b;
    e->bytes = b;
    e->busy = false;
    e->used_ms = mw_mono_ns() / 1000000;
    /* Category counts may have grown past what was reserved. */
    if(m->wc_bytes > budget_bytes(m)) {
      e->busy = true; /* keep make_room off it */
      bool fits = make_room(m, 0, budget_bytes(m));
      e->busy = false;
      if(!fits)
        unlink_free(m, e);
    }
  }
  pthread_cond_broadcast(&m->wc_cv);
  pthread_mutex_unlock(&m->wc_mu);
}

void mon__wcache_clear(mon_ctx *m) {
  if(!m)
    return;
  pthread_mutex_lock(&m->wc_mu);
  while(m->wc_head)
    unlink_free(m, m->wc_head);
  pthread_mutex_unlock(&m->wc_mu);
}

/* ------------------------------------------------------------ columns */

int mon__wcol_apply(mon_wcol *w, double *rem, size_t nrem, double *add,
                    size_t nadd) {
  size_t nr = 0, na = 0, mr = 0, ma = 0;
  int rc = MW_OK;
  if(mon_stats_filter_finite(rem, nrem, rem, &nr, &mr) < 0 ||
     mon_stats_filter_finite(add, nadd, add, &na, &ma) < 0 ||
     mon_stats_sort(rem, nr) < 0 || mon_stats_sort(add, na) < 0) {
    rc = MW_ENOMEM;
    goto out;
  }
  if(!w->vals && w->n == 0 && nrem == 0) {
    /* A fresh column: the sorted additions are the column. */
    w->vals = add;
    w->n = na;
    add = NULL;
    w->missing += (int64_t)ma;
    goto out;
  }
  /* Out: one pass that keeps the values not matched in rem (both sorted,
   * so each removed value is met in order). Compared by the sort's key, so
   * -0.0 and +0.0 stay where a full sort puts them. */
  size_t i = 0, j = 0, o = 0, n0 = w->n;
  double *x = w->vals;
  for(; i < n0; i++) {
    if(j < nr && mon_stats_sort_key(x[i]) == mon_stats_sort_key(rem[j])) {
      j++;
      continue;
    }
    if(j < nr && mon_stats_sort_key(rem[j]) < mon_stats_sort_key(x[i]))
      break; /* a value to remove that the column does not hold */
    x[o++] = x[i];
  }
  if(j < nr) {
    rc = MW_EINTERNAL;
    goto out;
  }
  /* In: grow, then merge from the back so nothing is overwritten early;
   * equal keys keep the column's value first, as a stable full sort of
   * old-then-new would (they are the same bits anyway). */
  size_t n = o + na;
  if(na > 0 || (o < n0 / 2 && x)) {
    /* Grow for the additions, or give back what a shrunken window no
     * longer needs (the budget counts rows, not capacity). */
    double *nx = realloc(x, (n ? n : 1) * sizeof *nx);
    if(!nx) {
      rc = MW_ENOMEM;
      goto out;
    }
    x = w->vals = nx;
    size_t a = o, b = na, d = n;
    while(b > 0) {
      if(a > 0 && mon_stats_sort_key(x[a - 1]) >
                       mon_stats_sort_key(add[b - 1]))
        x[--d] = x[--a];
      else
        x[--d] = add[--b];
    }
  }
  w->n = n;
  w->missing += (int64_t)ma - (int64_t)mr;
out:
  free(rem);
  free(add);
  return rc;
}

mw_status mon__wcol_count(void *ctx, const double *v, size_t n) {
  mon_wcount *wc = ctx;
  mon_wcol *w = wc->col;
  for(size_t i = 0; i < n; i++) {
    double x = v[i];
    if(!(x >= 0) || x >= MON_MAX_CATEGORIES) {
      if(wc->sign < 0 && w->missing < 1)
        return MW_EINTERNAL;
      w->missing += wc->sign;
      continue;
    }
    size_t code = (size_t)x;
    if(code >= w->ncounts) {
      size_t nc = w->ncounts ? w->ncounts : 16;
      while(nc <= code)
        nc *= 2;
      double *cc = realloc(w->counts, nc * sizeof *cc);
      if(!cc)
        return MW_ENOMEM;
      memset(cc + w->ncounts, 0, (nc - w->ncounts) * sizeof *cc);
      w->counts = cc;
      w->ncounts = nc;
    }
    if(wc->sign < 0 && w->counts[code] < 1)
      return MW_EINTERNAL; /* a row to remove that was never counted */
    w->counts[code] += (double)wc->sign;
  }
  return MW_OK;
}
