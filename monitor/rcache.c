/* monitor/rcache.c - the reference cache of drift reports
 * (monitor/rcache.h).
 *
 * Every drift report, scheduled evaluation, alert rule and rollout check
 * of a version compares a window with the same reference; loading it from
 * the store each time copies every column's sorted values out of the
 * database and back into memory (a 100k-row reference of 20 columns is
 * 16 MB per report). An entry here keeps what ref_load gives (the columns
 * prepared once, at PUT .../reference: finite values sorted, moments and
 * quantile bins, counts by category code) for every report of the version
 * to borrow at once, read-only.
 *
 * Why a report never sees a reference other than the one its snapshot
 * holds, whichever process changed it: reference_sets.gen (migration
 * 0023) takes a new value in the transaction of every write to a
 * reference: a replacement (PUT .../reference deletes the set and inserts
 * a new one), a delete of the version or model (the set goes: no row), and
 * any insert, update or delete of its columns or rows (triggers on both
 * backends, so an erasure or any future writer cannot forget it). The
 * report reads gen in its own read snapshot, and uses an entry only when it
 * was loaded under that gen for the same version and number of columns; a
 * miss loads the reference in that same snapshot. PostgreSQL draws gen
 * from a sequence (never repeated); SQLite draws a random 64-bit value, so
 * a version id reused after a delete cannot meet its predecessor's gen but
 * with probability 2^-64.
 *
 * Memory: an entry is charged what its arrays take, under the live-window
 * cache's budget (--drift-cache-mb, shared: the least recently used entry
 * of either kind goes first, monitor/wcache.c); entries idle 15 minutes
 * are dropped with the windows. A reference that does not fit is loaded
 * for its report only, as without cache. When a newer generation of a
 * version is loaded the older entries of that version go (or are detached
 * when in use, and freed by their last user).
 *
 * Operations and cost: mon__rcache_get, one indexed single-row read on a
 * hit, ref_load on a miss; mon__rcache_put, O(1). Both take wc->mu briefly
 * (a list walk of the entries, one per version in use). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "monitor/rcache.h"

/* Bytes e's reference takes. */
static size_t ref_bytes(const mon_rentry *e) {
  size_t b = sizeof *e + e->ref.ncols * sizeof *e->ref.cols;
  for(size_t k = 0; k < e->ref.ncols; k++)
    b += (e->ref.cols[k].nsorted + e->ref.cols[k].ncat) * sizeof(double);
  return b;
}

static void entry_free(mon_rentry *e) {
  if(!e)
    return;
  mon__ref_free(&e->ref);
  free(e);
}

/* Under wc->mu: takes e out of the list (it stays allocated). */
static void unlink_entry(mon_wcache *wc, mon_rentry *e) {
  for(mon_rentry **pp = &wc->rhead; *pp; pp = &(*pp)->next)
    if(*pp == e) {
      *pp = e->next;
      assert(wc->bytes >= e->bytes && wc->rbytes >= e->bytes);
      wc->bytes -= e->bytes;
      wc->rbytes -= e->bytes;
      e->bytes = 0;
      e->next = NULL;
      return;
    }
  assert(!"reference entry not in the list");
}

void mon__rcache_unlink_free(mon_wcache *wc, mon_rentry *e) {
  assert(!e->users && !e->detached);
  unlink_entry(wc, e);
  entry_free(e);
}

/* Under wc->mu: the entries of version_id that are not of gen (an older
 * or a newer snapshot's) leave the list; those in use are detached. */
static void drop_others(mon_wcache *wc, int64_t version_id, int64_t gen) {
  for(mon_rentry *e = wc->rhead, *next; e; e = next) {
    next = e->next;
    if(e->version_id != version_id || e->gen == gen)
      continue;
    unlink_entry(wc, e);
    if(e->users)
      e->detached = true;
    else
      entry_free(e);
  }
}

/* Under wc->mu: the entry for (version_id, ncols, gen), NULL if none. */
static mon_rentry *find(mon_wcache *wc, int64_t version_id, size_t ncols,
                        int64_t gen) {
  for(mon_rentry *e = wc->rhead; e; e = e->next)
    if(e->version_id == version_id && e->ncols == ncols && e->gen == gen)
      return e;
  return NULL;
}

mw_status mon__rcache_get(mon_wcache *wc, mw_conn *c, int64_t version_id,
                          size_t ncols, const mon_ref **ref, mon_rentry **held) {
  *ref = NULL;
  *held = NULL;
  const struct mon_store *s = mon__store(c);
  bool on = wc && wc->budget_mb >= 0;
  int64_t gen = 0;
  mw_status st = MW_OK;
  if(on) {
    if((st = s->ref_gen(c, version_id, &gen)))
      return st;
    int64_t now = mw_mono_ns() / 1000000;
    pthread_mutex_lock(&wc->mu);
    mon__wcache_expire(wc, now);
    mon_rentry *e = find(wc, version_id, ncols, gen);
    if(e) {
      e->users++;
      e->used_ms = now;
      wc->rhits++;
    } else {
      wc->rmisses++;
    }
    pthread_mutex_unlock(&wc->mu);
    if(e) {
      *ref = &e->ref;
      *held = e;
      return MW_OK;
    }
  }
  mon_rentry *e = calloc(1, sizeof *e);
  if(!e)
    return MW_ENOMEM;
  e->version_id = version_id;
  e->ncols = ncols;
  e->gen = gen;
  e->users = 1;
  e->detached = true; /* until it is in the list */
  if((st = s->ref_load(c, version_id, ncols, true, &e->ref))) {
    free(e);
    return st;
  }
  if(on) {
    size_t b = ref_bytes(e);
    pthread_mutex_lock(&wc->mu);
    mon_rentry *other = find(wc, version_id, ncols, gen);
    if(other) {
      /* Another report loaded the same generation meanwhile. */
      other->users++;
      other->used_ms = mw_mono_ns() / 1000000;
      pthread_mutex_unlock(&wc->mu);
      entry_free(e);
      *ref = &other->ref;
      *held = other;
      return MW_OK;
    }
    drop_others(wc, version_id, gen);
    if(mon__wcache_make_room(wc, b)) {
      e->detached = false;
      e->bytes = b;
      e->used_ms = mw_mono_ns() / 1000000;
      e->next = wc->rhead;
      wc->rhead = e;
      wc->bytes += b;
      wc->rbytes += b;
    }
    pthread_mutex_unlock(&wc->mu);
  }
  *ref = &e->ref;
  *held = e;
  return MW_OK;
}

void mon__rcache_put(mon_wcache *wc, mon_rentry *e) {
  if(!e)
    return;
  bool gone = false;
  if(wc)
    pthread_mutex_lock(&wc->mu);
  assert(e->users > 0);
  e->users--;
  gone = !e->users && e->detached;
  if(wc)
    pthread_mutex_unlock(&wc->mu);
  if(gone)
    entry_free(e);
}
