/* monitor/rcache.h - the reference cache of drift reports: each version's
 * reference columns as loaded from the store (sorted finite values, moments
 * and quantile bins of numeric columns, counts by category code), kept in
 * memory under the live-window cache's budget and shared by every report of
 * the version (monitor/rcache.c says when an entry may be used). */
#ifndef MW_MONITOR_RCACHE_H
#define MW_MONITOR_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/store.h"
#include "monitor/wcache.h"

/* One version's reference as of generation gen. ref is never written
 * after the entry is made: any number of reports read it at once. users
 * counts them; an entry with users is not evicted. An entry that left the
 * list while in use (a newer generation came, or it never fitted the
 * budget) is detached: its last user frees it. */
typedef struct mon_rentry {
  struct mon_rentry *next;
  int64_t version_id, gen;
  size_t ncols;
  mon_ref ref;
  size_t bytes;    /* charged to the budget while in the list */
  int64_t used_ms; /* monotonic ms of the last use: LRU order and expiry */
  int users;
  bool detached;
} mon_rentry;

/* In the report's read transaction: version_id's stored reference (ncols
 * columns) as of that snapshot, into *ref (borrowed until mon__rcache_put
 * of *held). Looks the reference's generation up (one row), then uses
 * the cached entry of that generation, or loads it (ref_load) and keeps
 * it when it fits the budget. wc NULL or off: loaded for this report
 * only. Errors as ref_load's: MW_ENOTFOUND without a reference,
 * MW_EINTERNAL for one stored under another schema. */
mw_status mon__rcache_get(mon_wcache *wc, mw_conn *c, int64_t version_id,
                          size_t ncols, const mon_ref **ref, mon_rentry **held);
/* Gives back what mon__rcache_get handed out (NULL is fine). */
void mon__rcache_put(mon_wcache *wc, mon_rentry *e);

/* Under wc->mu, for monitor/wcache.c: takes e (no users) out of the list
 * and frees it. */
void mon__rcache_unlink_free(mon_wcache *wc, mon_rentry *e);

#endif
