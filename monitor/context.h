/* monitor/context.h - the monitor's context in one place: its options and
 * their defaults, the counters behind /metrics, the group commit queue of
 * ingest, the admission of drift reports, the live-window cache and the
 * scheduler thread's state. Created by mon_ctx_new (monitor/context.c).
 *
 * One write lock: the monitor has none of its own. Every write
 * transaction goes through core's mw_tx_begin, which serialises the
 * writers of the process (and, on PostgreSQL, of every replica); ingest's
 * group commit (monitor/ingest.c) batches several requests into one such
 * transaction. */
#ifndef MW_MONITOR_CONTEXT_H
#define MW_MONITOR_CONTEXT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "monitor/monitor.h"
#include "monitor/wcache.h"

#define MON_VCOUNT_MAX 10000

struct mon_vcount {
  int64_t version_id, version;
  char model[129];
  uint64_t predictions, labels;
};

/* Adds to v's counters (monitor/metrics.c). */
void mon__vcount_add(mon_ctx *m, const mon_version *v, uint64_t predictions,
                     uint64_t labels);

struct mon_ctx {
  mw_db *db;
  mon_options opt; /* every field filled (mon__options_fill) */
  /* Group commit of ingested batches (monitor/ingest.c). */
  pthread_mutex_t q_mu;
  pthread_cond_t q_cv;
  struct mon_wjob *q_head, *q_tail;
  int q_leader;
  /* Counters for /metrics (atomic builtins). */
  uint64_t n_predictions;
  uint64_t n_labels;
  uint64_t n_rejected;
  uint64_t n_quarantined; /* rows kept in a quarantine */
  uint64_t n_evaluations;
  uint64_t n_retained_blocks;
  uint64_t n_batches, n_commits; /* group commit: batches per transaction */
  /* Per version: predictions and labels accepted by this process, for
   * modelwatch_predictions_total{model,version} (monitor/metrics.c). At
   * most MON_VCOUNT_MAX versions; the counts of any more are dropped. */
  pthread_mutex_t vc_mu;
  struct mon_vcount *vc;
  size_t vc_n, vc_cap;
  uint64_t vc_dropped;
  /* Drift reports running now: at most opt.workers at a time, so the
   * memory in flight is bounded by workers x drift_memory_mb whatever the
   * number of concurrent requests (monitor/report.c). */
  pthread_mutex_t report_mu;
  pthread_cond_t report_cv;
  int reports_running;
  /* The live-window cache (monitor/wcache.c). */
  mon_wcache wc;
  /* The scheduler thread (monitor/scheduler.c). */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running;
  int stop;
  /* The privacy key of hashed columns, once read (monitor/privacy.c): it
   * never changes once made (rotate-key re-encrypts, keeps it). */
  pthread_mutex_t pk_mu;
  bool pk_loaded;
  unsigned char pk[32];
};

/* The defaults of every option that is 0 (or out of range) in o: no
 * scheduled evaluation, windows of an hour, no retention, 256 MB for a
 * report's values and for the cache, two workers (at most 16). Inline so
 * that every file can fill options without depending on this one's. */
static inline void mon__options_fill(mon_options *o) {
  if(o->eval_interval_seconds < 0)
    o->eval_interval_seconds = 0;
  if(o->eval_window_seconds <= 0)
    o->eval_window_seconds = 3600;
  if(o->retention_days < 0)
    o->retention_days = 0;
  if(o->drift_memory_mb <= 0)
    o->drift_memory_mb = 256;
  if(o->workers <= 0)
    o->workers = 2;
  if(o->workers > 16)
    o->workers = 16;
  if(o->drift_cache_mb == 0)
    o->drift_cache_mb = 256;
}

/* The options m runs with, or the defaults when m is NULL (tests and
 * one-shot commands call the monitor without a context). */
static inline mon_options mon__options(const mon_ctx *m) {
  mon_options o = {0};
  if(m)
    o = m->opt;
  mon__options_fill(&o);
  return o;
}

/* Whether the scheduler thread was asked to stop (its passes check it
 * between transactions). */
static inline bool mon__stopping(mon_ctx *m) {
  pthread_mutex_lock(&m->mu);
  bool s = m->stop;
  pthread_mutex_unlock(&m->mu);
  return s;
}

/* Whether this process runs what must happen once across the replicas
 * (scheduled evaluation, retention, compaction): the cluster's leader, or
 * always without a cluster. */
static inline int mon__is_leader(const mon_ctx *m) {
  return mw_cluster_is_leader(m->opt.cluster);
}

#endif
