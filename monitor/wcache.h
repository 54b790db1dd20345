/* monitor/wcache.h - the live-window cache of drift reports: per version,
 * the sorted values (numeric) or counts per code (categorical) of recent
 * windows, brought up to date from the difference at either end instead
 * of read again (monitor/wcache.c says why it stays exact). */
#ifndef MW_MONITOR_WCACHE_H
#define MW_MONITOR_WCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/flight.h"
#include "monitor/window.h"

/* One column of a cached window. */
typedef struct mon_wcol {
  double *vals; /* numeric: the window's finite values, sorted */
  size_t n;
  double *counts; /* categorical: rows per code */
  size_t ncounts;
  int64_t missing; /* rows whose value is missing */
} mon_wcol;

/* A cached window: the rows of blocks with id <= max_block whose ts is in
 * [from, to), as seen in epoch. busy while one report uses it. */
typedef struct mon_wentry {
  struct mon_wentry *next;
  int64_t version_id, from, to, max_block, epoch, gen, count;
  size_t ncols;
  mon_wcol *cols;
  size_t bytes;    /* charged to the budget */
  int64_t used_ms; /* monotonic ms of the last use: LRU order and expiry */
  bool busy;
  bool empty; /* a placeholder or reset entry: holds no rows yet */
} mon_wentry;

struct mon_rentry; /* monitor/rcache.h */

/* The cache of one monitor context. The budget is shared by the windows
 * and the references (monitor/rcache.h): bytes counts both, and the least
 * recently used entry of either kind is evicted first. */
typedef struct mon_wcache {
  int budget_mb; /* < 0: off */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  mon_wentry *head;
  size_t bytes;
  uint64_t hits, misses, evictions;
  /* The references: their entries, the part of bytes they hold, lookups
   * and evictions. */
  struct mon_rentry *rhead;
  size_t rbytes;
  uint64_t rhits, rmisses, revictions;
  /* Reports waiting to start that others may join (monitor/flight.c);
   * kept here, with the entries they will use, also when the cache is
   * off. */
  mon_flights flights;
} mon_wcache;

/* Under wc->mu, for monitor/rcache.c: evicts idle entries of either kind
 * until need more bytes fit the budget; false when they cannot (or the
 * cache is off). */
bool mon__wcache_make_room(mon_wcache *wc, size_t need);
/* Under wc->mu: drops entries of either kind idle for 15 minutes. */
void mon__wcache_expire(mon_wcache *wc, int64_t now_ms);

/* budget_mb < 0 turns the cache off. */
void mon__wcache_init(mon_wcache *wc, int budget_mb);
/* Frees every entry (none may be busy) and the lock. */
void mon__wcache_destroy(mon_wcache *wc);

typedef struct mon_wcache_stats {
  size_t bytes, entries; /* bytes: windows and references */
  uint64_t hits, misses, evictions;
  size_t ref_bytes, ref_entries;
  uint64_t ref_hits, ref_misses, ref_evictions;
} mon_wcache_stats;
void mon__wcache_stats(mon_wcache *wc, mon_wcache_stats *out);

/* What a report takes out of and puts into its entry: rows at either end
 * that leave or enter the window, and rows of blocks written since. */
#define MON_WPLAN_REM 2
#define MON_WPLAN_ADD 3
typedef struct mon_wplan {
  mon_wentry *e; /* NULL: no cache; the report streams the window */
  mon_window rem[MON_WPLAN_REM], add[MON_WPLAN_ADD];
  int64_t nrem, nadd;                             /* rows in rem, add */
  int64_t from, to, max_block, epoch, gen, count; /* the entry after it */
  bool reset; /* the entry was emptied (or new): keep it only if filled */
} mon_wplan;

/* Before the report's read transaction: the cached window of version_id
 * that the window [from, to) can continue from at the least cost, or a new
 * empty placeholder, marked busy (waits while another report holds it);
 * NULL when wc is NULL or off. Pass it to mon__wcache_plan. */
mon_wentry *mon__wcache_acquire(mon_wcache *wc, int64_t version_id, size_t ncols,
                                int64_t from, int64_t to);
/* In the read transaction: opens the windows of rows to remove and add (e
 * may be NULL: a new entry over the whole window), or leaves p->e NULL when
 * the window is not cached (cache off, more than max_rows rows, over the
 * budget). Takes e over in every case. On success with p->e set, the caller
 * feeds every column through mon__wcol_apply / mon__wcol_count and ends with
 * mon__wcache_done. */
mw_status mon__wcache_plan(mon_wcache *wc, mw_conn *c, mon_wentry *e,
                           int64_t version_id, size_t ncols, size_t nnumeric,
                           int64_t from, int64_t to, int64_t max_rows, mon_wplan *p);
/* Releases the plan: with ok the entry now holds the new window; otherwise
 * (a column failed) it is dropped. Safe on a plan without entry. */
void mon__wcache_done(mon_wcache *wc, mon_wplan *p, bool ok, size_t nnumeric);

/* Removes the values rem[0..nrem) from a numeric column and adds
 * add[0..nadd) (both raw, any order, non-finite counted as missing); both
 * arrays are consumed (freed). MW_EINTERNAL if a value to remove is not
 * there (the column is then unusable), MW_ENOMEM. */
int mon__wcol_apply(mon_wcol *w, double *rem, size_t nrem, double *add, size_t nadd);
/* mon_visit_fn adding (sign 1) or removing (sign -1) rows per code of a
 * categorical column. */
typedef struct mon_wcount {
  mon_wcol *col;
  int sign;
} mon_wcount;
mw_status mon__wcol_count(void *ctx, const double *v, size_t n);

#endif
