/* monitor/wcache.c - the live-window cache of drift reports
 * (monitor/wcache.h).
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
 * and merges it in one linear pass per column.
 *
 * Why that is exact, also when other processes (replicas) write:
 *  - Blocks are immutable: written once, never updated; only deleted.
 *  - "Every block with id <= max_block is one the entry has seen" needs ids
 *    to become visible in id order: no block with a lower id may commit
 *    after a reader saw a higher one. On SQLite there is one writer at a
 *    time and a rowid is taken at insert, so it holds. On PostgreSQL ids
 *    come from an identity sequence, which concurrent transactions draw
 *    from in any order and commit in any other; what makes it hold there
 *    is core's write lock (core/db_pg.c): a transaction-scoped advisory
 *    lock that every write transaction of every replica takes right after
 *    BEGIN and keeps to its end. A block's id is drawn at INSERT, inside
 *    the lock; the holder commits before the next writer gets the lock,
 *    and PostgreSQL makes a commit visible to new snapshots before it
 *    releases the transaction's locks (CommitTransaction: the proc array
 *    is cleared before the lock release). So every id drawn by a later
 *    writer is higher (a sequence hands out values in call order; the
 *    identity columns keep the default CACHE 1, which this relies on) and
 *    every snapshot holds a prefix of the writers in lock order: a
 *    snapshot that sees block id M sees every block below M that ever
 *    commits (a rolled-back writer leaves a gap that stays empty).
 *  - Deletes (retention, compaction, version or model deletes) update the
 *    single row of pred_block_epoch in the deleting transaction (migration
 *    0007: a trigger on both backends): how many deletes so far, the
 *    latest ts_max and the highest id deleted. The cache reads that row
 *    and the highest block id in the report's own read snapshot, so it
 *    knows whether anything it holds may have changed, whichever process
 *    deleted: an entry stays valid when every delete since lies before its
 *    window (retention) and cannot have freed an id it has seen (SQLite
 *    reuses the highest rowid after a delete; PostgreSQL never reuses one).
 *    Otherwise the entry is read afresh.
 *
 * The result is the same multiset of values, in the same order, as the full
 * read gives, so the report is identical to an uncached one
 * (tests/unit/test_monitor.c checks it against a context with the cache
 * off; tests/integration/test_monitor.py against a replica without cache
 * while two others write and delete). Entries are used for windows that are
 * computed exactly anyway (not sampled); their memory is bounded by the
 * budget (--drift-cache-mb), least recently used entries are evicted
 * first. The budget is shared with the versions' references
 * (monitor/rcache.c): make_room evicts the least recently used entry of
 * either kind. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "monitor/rcache.h"
#include "monitor/schema.h"
#include "monitor/wcache.h"

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

/* Under wc->mu: takes e out of the list and frees it. */
static void unlink_free(mon_wcache *wc, mon_wentry *e) {
  for(mon_wentry **pp = &wc->head; *pp; pp = &(*pp)->next)
    if(*pp == e) {
      *pp = e->next;
      break;
    }
  wc->bytes -= e->bytes;
  entry_free(e);
}

/* Under wc->mu: evicts idle entries, windows and references alike, least
 * recently used first, until need more bytes fit the budget. Returns false
 * when they cannot. */
static bool make_room(mon_wcache *wc, size_t need, size_t budget) {
  while(wc->bytes + need > budget) {
    mon_wentry *lru = NULL;
    for(mon_wentry *e = wc->head; e; e = e->next)
      if(!e->busy && (!lru || e->used_ms < lru->used_ms))
        lru = e;
    mon_rentry *rlru = NULL;
    for(mon_rentry *e = wc->rhead; e; e = e->next)
      if(!e->users && (!rlru || e->used_ms < rlru->used_ms))
        rlru = e;
    if(rlru && (!lru || rlru->used_ms < lru->used_ms)) {
      mon__rcache_unlink_free(wc, rlru);
      wc->revictions++;
      continue;
    }
    if(!lru)
      return false;
    unlink_free(wc, lru);
    wc->evictions++;
  }
  return true;
}

bool mon__wcache_make_room(mon_wcache *wc, size_t need) {
  return wc->budget_mb >= 0 && need <= ((size_t)wc->budget_mb << 20) &&
         make_room(wc, need, (size_t)wc->budget_mb << 20);
}

/* An entry nobody asked for in this long is dropped: the scheduled
 * evaluation's window (every 5 minutes by default) stays, a dashboard
 * closed an hour ago does not keep its window in memory. */
#define WCACHE_IDLE_MS (15LL * 60 * 1000)

/* Under wc->mu: drops idle entries (windows and references) unused for
 * WCACHE_IDLE_MS. */
static void expire(mon_wcache *wc, int64_t now) {
  for(mon_wentry *e = wc->head, *next; e; e = next) {
    next = e->next;
    if(!e->busy && now - e->used_ms > WCACHE_IDLE_MS) {
      unlink_free(wc, e);
      wc->evictions++;
    }
  }
  for(mon_rentry *e = wc->rhead, *next; e; e = next) {
    next = e->next;
    if(!e->users && now - e->used_ms > WCACHE_IDLE_MS) {
      mon__rcache_unlink_free(wc, e);
      wc->revictions++;
    }
  }
}

void mon__wcache_expire(mon_wcache *wc, int64_t now_ms) { expire(wc, now_ms); }

static size_t budget_bytes(const mon_wcache *wc) {
  assert(wc->budget_mb >= 0);
  return (size_t)wc->budget_mb << 20;
}

mon_wentry *mon__wcache_acquire(mon_wcache *wc, int64_t version_id, size_t ncols,
                                int64_t from, int64_t to) {
  if(!wc || wc->budget_mb < 0 || to <= from)
    return NULL;
  int64_t now = mw_mono_ns() / 1000000;
  pthread_mutex_lock(&wc->mu);
  expire(wc, now);
  mon_wentry *best = NULL;
  for(;;) {
    best = NULL;
    int64_t best_cost = 0;
    for(mon_wentry *e = wc->head; e; e = e->next) {
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
    pthread_cond_wait(&wc->cv, &wc->mu);
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
      best->next = wc->head;
      wc->head = best;
    }
  }
  if(best) {
    best->busy = true;
    best->used_ms = now;
  }
  pthread_mutex_unlock(&wc->mu);
  return best;
}

/* Under wc->mu: empties e (keeping it in the list) for a fresh read. */
static void reset(mon_wcache *wc, mon_wentry *e) {
  for(size_t k = 0; k < e->ncols; k++) {
    free(e->cols[k].vals);
    free(e->cols[k].counts);
    memset(&e->cols[k], 0, sizeof e->cols[k]);
  }
  wc->bytes -= e->bytes;
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
static void drop(mon_wcache *wc, mon_wentry *e) {
  pthread_mutex_lock(&wc->mu);
  unlink_free(wc, e);
  pthread_cond_broadcast(&wc->cv);
  pthread_mutex_unlock(&wc->mu);
}

/* Gives e (busy, ours, unchanged) back. */
static void release(mon_wcache *wc, mon_wentry *e) {
  pthread_mutex_lock(&wc->mu);
  e->busy = false;
  pthread_cond_broadcast(&wc->cv);
  pthread_mutex_unlock(&wc->mu);
}

/* Whether e (not empty) still holds exactly the rows it says, seen from
 * the snapshot ep. */
static bool still_valid(const mon_wentry *e, const mon_epoch *ep) {
  if(e->gen != ep->gen || e->max_block > ep->max_block)
    return false; /* another database, or a snapshot older than the entry */
  if(e->epoch == ep->n)
    return true; /* nothing deleted since */
  /* Deleted blocks all ended before the window (retention) and none of
   * them can have freed an id at or below max_block for reuse (SQLite
   * reuses an id only after the highest one is deleted). */
  return ep->del_ts_max < e->from && ep->del_id_max < e->max_block;
}

/* Checks e against the snapshot's epoch (emptying it when it no longer
 * holds what it says) and counts the hit or miss: p->reset when the
 * window is read whole. */
static void plan_check(mon_wcache *wc, mon_wentry *e, const mon_epoch *ep,
                       mon_wplan *p) {
  pthread_mutex_lock(&wc->mu);
  if(e && !e->empty && !still_valid(e, ep))
    reset(wc, e); /* read the window afresh into the same entry */
  p->reset = !e || e->empty;
  if(p->reset)
    wc->misses++;
  else
    wc->hits++;
  pthread_mutex_unlock(&wc->mu);
}

/* Opens the windows of rows that leave and enter e's window on the way to
 * [from, to): rows of the blocks it has seen at the ends that moved, then
 * the rows of newer blocks anywhere in the window. A request that waited
 * for admission may end earlier than the entry; its window then shrinks at
 * that end. */
static mw_status plan_delta(mw_conn *c, const mon_wentry *e, int64_t version_id,
                            size_t ncols, int64_t from, int64_t to,
                            int64_t max_block, mon_wplan *p) {
  int64_t lo = e->from, hi = e->to, M = e->max_block;
  assert(M <= max_block);
  struct {
    int64_t a, b, id_lo, id_hi;
    mon_window *w;
  } parts[] = {
      {lo, from < hi ? from : hi, INT64_MIN, M, &p->rem[0]},
      {to > lo ? to : lo, hi, INT64_MIN, M, &p->rem[1]},
      {from, to < lo ? to : lo, INT64_MIN, M, &p->add[0]},
      {from > hi ? from : hi, to, INT64_MIN, M, &p->add[1]},
      {from, to, M + 1, max_block, &p->add[2]},
  };
  for(size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
    if(parts[k].a >= parts[k].b)
      continue;
    mw_status st = mon__window_open_ids(c, version_id, ncols, parts[k].a, parts[k].b,
                                        parts[k].id_lo, parts[k].id_hi, parts[k].w);
    if(st)
      return st;
  }
  for(int k = 0; k < MON_WPLAN_REM; k++)
    p->nrem += p->rem[k].count;
  for(int k = 0; k < MON_WPLAN_ADD; k++)
    p->nadd += p->add[k].count;
  p->count = e->count - p->nrem + p->nadd;
  assert(p->count >= 0);
  return MW_OK;
}

/* Charges e with the memory of p->count rows, evicting others as needed.
 * False when it does not fit the budget. */
static bool plan_reserve(mon_wcache *wc, mon_wentry *e, const mon_wplan *p,
                         size_t nnumeric) {
  size_t budget = budget_bytes(wc);
  bool ok = true;
  pthread_mutex_lock(&wc->mu);
  size_t need = entry_bytes(e, p->count, nnumeric);
  if(need > e->bytes) {
    size_t more = need - e->bytes;
    ok = need <= budget && make_room(wc, more, budget);
    if(ok) {
      e->bytes = need;
      wc->bytes += more;
    }
  }
  if(ok)
    e->empty = false;
  pthread_mutex_unlock(&wc->mu);
  return ok;
}

mw_status mon__wcache_plan(mon_wcache *wc, mw_conn *c, mon_wentry *e,
                           int64_t version_id, size_t ncols, size_t nnumeric,
                           int64_t from, int64_t to, int64_t max_rows,
                           mon_wplan *p) {
  memset(p, 0, sizeof *p);
  assert(!e || (e->busy && e->version_id == version_id));
  if(!wc || wc->budget_mb < 0 || to <= from) {
    if(e)
      drop(wc, e);
    return MW_OK;
  }
  mon_epoch ep;
  mw_status st = mon__store(c)->block_epoch(c, &ep);
  if(st) {
    if(e)
      drop(wc, e);
    return st;
  }
  plan_check(wc, e, &ep, p);
  p->from = from;
  p->to = to;
  p->epoch = ep.n;
  p->gen = ep.gen;
  p->max_block = ep.max_block;
  if(!p->reset) {
    st = plan_delta(c, e, version_id, ncols, from, to, ep.max_block, p);
  } else {
    st = mon__window_open(c, version_id, ncols, from, to, &p->add[0]);
    p->nadd = p->count = p->add[0].count;
  }
  /* Sampled windows (the streaming path does them), no placeholder, or
   * over the budget: the report streams the window. */
  if(!st && p->count <= max_rows && e && plan_reserve(wc, e, p, nnumeric)) {
    p->e = e;
    return MW_OK;
  }
  plan_windows_free(p);
  if(e) {
    if(p->reset || st)
      drop(wc, e);
    else
      release(wc, e); /* untouched: it still serves its own window */
  }
  p->e = NULL;
  return st;
}

void mon__wcache_done(mon_wcache *wc, mon_wplan *p, bool ok, size_t nnumeric) {
  plan_windows_free(p);
  mon_wentry *e = p->e;
  p->e = NULL;
  if(!e)
    return;
  assert(wc && e->busy);
  pthread_mutex_lock(&wc->mu);
  if(!ok) {
    unlink_free(wc, e);
  } else {
    e->from = p->from;
    e->to = p->to;
    e->epoch = p->epoch;
    e->gen = p->gen;
    e->max_block = p->max_block;
    e->count = p->count;
    size_t b = entry_bytes(e, e->count, nnumeric);
    wc->bytes = wc->bytes - e->bytes + b;
    e->bytes = b;
    e->busy = false;
    e->used_ms = mw_mono_ns() / 1000000;
    /* Category counts may have grown past what was reserved. */
    if(wc->bytes > budget_bytes(wc)) {
      e->busy = true; /* keep make_room off it */
      bool fits = make_room(wc, 0, budget_bytes(wc));
      e->busy = false;
      if(!fits)
        unlink_free(wc, e);
    }
  }
  pthread_cond_broadcast(&wc->cv);
  pthread_mutex_unlock(&wc->mu);
}

void mon__wcache_init(mon_wcache *wc, int budget_mb) {
  memset(wc, 0, sizeof *wc);
  wc->budget_mb = budget_mb;
  pthread_mutex_init(&wc->mu, NULL);
  pthread_cond_init(&wc->cv, NULL);
  mon__flights_init(&wc->flights);
}

void mon__wcache_destroy(mon_wcache *wc) {
  pthread_mutex_lock(&wc->mu);
  while(wc->head) {
    assert(!wc->head->busy);
    unlink_free(wc, wc->head);
  }
  while(wc->rhead) {
    assert(!wc->rhead->users);
    mon__rcache_unlink_free(wc, wc->rhead);
  }
  pthread_mutex_unlock(&wc->mu);
  pthread_mutex_destroy(&wc->mu);
  pthread_cond_destroy(&wc->cv);
  mon__flights_destroy(&wc->flights);
}

void mon__wcache_stats(mon_wcache *wc, mon_wcache_stats *out) {
  pthread_mutex_lock(&wc->mu);
  out->entries = 0;
  for(const mon_wentry *e = wc->head; e; e = e->next)
    out->entries++;
  out->bytes = wc->bytes;
  out->hits = wc->hits;
  out->misses = wc->misses;
  out->evictions = wc->evictions;
  out->ref_entries = 0;
  for(const mon_rentry *e = wc->rhead; e; e = e->next)
    out->ref_entries++;
  out->ref_bytes = wc->rbytes;
  out->ref_hits = wc->rhits;
  out->ref_misses = wc->rmisses;
  out->ref_evictions = wc->revictions;
  pthread_mutex_unlock(&wc->mu);
}

/* ------------------------------------------------------------ columns */

/* The first index in [lo, n) of the sorted x whose key is >= k (n if
 * none): steps of 1, 2, 4... from lo, then a binary search in the last
 * step, so finding m values in order costs O(m log(n / m)). */
static size_t gallop_key(const double *x, size_t lo, size_t n, uint64_t k) {
  size_t hi = lo, step = 1;
  while(hi < n && mon_stats_sort_key(x[hi]) < k) {
    lo = hi + 1;
    hi = lo + step;
    step *= 2;
  }
  if(hi > n)
    hi = n;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(mon_stats_sort_key(x[mid]) < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The first index p <= a of the sorted x such that every key of x[p..a)
 * is > k: steps of 1, 2, 4... down from a, then a binary search in the
 * last step. */
static size_t gallop_back_key(const double *x, size_t a, uint64_t k) {
  size_t hi = a, lo = 0, step = 1; /* every key of x[hi..a) is > k */
  while(hi > 0) {
    size_t probe = hi >= step ? hi - step : 0;
    if(mon_stats_sort_key(x[probe]) <= k) {
      lo = probe + 1;
      break;
    }
    hi = probe;
    step *= 2;
  }
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(mon_stats_sort_key(x[mid]) > k)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

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
  /* Out: each removed value (both sorted, so met in order) is found from
   * the last one's place by a galloping search, and the values between
   * two removals move down in one memmove: a sliding window drops a few
   * seconds of rows from a column of millions, whose values before the
   * first removal do not move at all. Compared by the sort's key, so -0.0
   * and +0.0 stay where a full sort puts them. */
  size_t n0 = w->n, o = n0, i = n0;
  double *x = w->vals;
  for(size_t j = 0; j < nr; j++) {
    uint64_t k = mon_stats_sort_key(rem[j]);
    size_t p = gallop_key(x, j ? i : 0, n0, k);
    if(p == n0 || mon_stats_sort_key(x[p]) != k) {
      rc = MW_EINTERNAL; /* a value to remove that the column does not hold */
      goto out;
    }
    if(j == 0)
      o = i = p; /* nothing before the first removal moves */
    if(p > i)
      memmove(x + o, x + i, (p - i) * sizeof *x);
    o += p - i;
    i = p + 1;
  }
  if(n0 > i)
    memmove(x + o, x + i, (n0 - i) * sizeof *x);
  o += n0 - i;
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
    /* Each addition, the largest first, goes above the column's values
     * of a key not greater (found by galloping down from the last one's
     * place), which move up past it in one memmove. */
    size_t a = o, b = na, d = n;
    while(b > 0) {
      size_t p = gallop_back_key(x, a, mon_stats_sort_key(add[b - 1]));
      if(p < a)
        memmove(x + d - (a - p), x + p, (a - p) * sizeof *x);
      d -= a - p;
      a = p;
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
