/* monitor/scheduler.c - the subsystem context and its background thread:
 * scheduled drift evaluations (each stored as a point of the version's time
 * series) and retention of raw rows, deleted in small transactions so that
 * ingest never waits long for the write lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/internal.h"

/* Retention runs at most this often, and deletes this many blocks (about
 * that many thousand predictions) per transaction. */
#define MON_RETENTION_PERIOD_MS 60000
#define MON_RETENTION_BLOCKS 32

void mon__options_fill(mon_options *o) {
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

mw_status mon_ctx_new(mw_db *db, const mon_options *opt, mon_ctx **out) {
  *out = NULL;
  mon_ctx *m = calloc(1, sizeof *m);
  if(!m)
    return MW_ENOMEM;
  m->db = db;
  if(opt) {
    m->opt = *opt;
  } else {
    m->opt.eval_interval_seconds = 300;
    m->opt.retention_days = 30;
  }
  mon__options_fill(&m->opt);
  pthread_mutex_init(&m->write_lock, NULL);
  pthread_mutex_init(&m->q_mu, NULL);
  pthread_cond_init(&m->q_cv, NULL);
  pthread_mutex_init(&m->report_mu, NULL);
  pthread_cond_init(&m->report_cv, NULL);
  pthread_mutex_init(&m->wc_mu, NULL);
  pthread_cond_init(&m->wc_cv, NULL);
  pthread_mutex_init(&m->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->cv, &ca);
  pthread_condattr_destroy(&ca);
  *out = m;
  return MW_OK;
}

void mon_ctx_free(mon_ctx *m) {
  if(!m)
    return;
  mon_scheduler_stop(m);
  pthread_mutex_destroy(&m->write_lock);
  pthread_mutex_destroy(&m->q_mu);
  pthread_cond_destroy(&m->q_cv);
  pthread_mutex_destroy(&m->report_mu);
  pthread_cond_destroy(&m->report_cv);
  mon__wcache_clear(m);
  pthread_mutex_destroy(&m->wc_mu);
  pthread_cond_destroy(&m->wc_cv);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  free(m);
}

void mon__lock(mon_ctx *m) {
  if(!m)
    return;
  int64_t t0 = mw_mono_ns();
  pthread_mutex_lock(&m->write_lock);
  m->lock_t0 = mw_mono_ns();
  m->lock_wait_ns += (uint64_t)(m->lock_t0 - t0);
}

void mon__unlock(mon_ctx *m) {
  if(!m)
    return;
  m->lock_held_ns += (uint64_t)(mw_mono_ns() - m->lock_t0);
  pthread_mutex_unlock(&m->write_lock);
}

mw_status mon_retention_step(mon_ctx *m, mw_conn *c, int64_t cutoff_ms,
                             int max_blocks, int64_t *deleted) {
  *deleted = 0;
  mon__lock(m);
  mw_status st = mw_tx_begin(c);
  if(!st)
    st = mon__store_retention(c, cutoff_ms, max_blocks, deleted);
  if(!st)
    st = mw_tx_commit(c);
  if(st)
    mw_tx_rollback(c);
  mon__unlock(m);
  if(!st && m)
    __atomic_add_fetch(&m->n_retained_blocks, (uint64_t)*deleted,
                       __ATOMIC_RELAXED);
  return st;
}

static bool stopping(mon_ctx *m) {
  pthread_mutex_lock(&m->mu);
  bool s = m->stop;
  pthread_mutex_unlock(&m->mu);
  return s;
}

/* Sleeps up to ms or until stop is requested; returns true when stopping. */
static bool nap(mon_ctx *m, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if(ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&m->mu);
  while(!m->stop) {
    if(pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT)
      break;
  }
  bool s = m->stop;
  pthread_mutex_unlock(&m->mu);
  return s;
}

mw_status mon__compact_step(mon_ctx *m, mw_conn *c, int64_t before_bucket,
                            int64_t *merged) {
  *merged = 0;
  mon__lock(m);
  mw_status st = mw_tx_begin(c);
  if(!st)
    st = mon__store_compact(c, before_bucket, merged);
  if(!st)
    st = mw_tx_commit(c);
  if(st)
    mw_tx_rollback(c);
  mon__unlock(m);
  return st;
}

/* Merges small blocks of buckets closed for a minute, a bucket per
 * transaction, at most a few hundred per pass. */
static void run_compaction(mon_ctx *m, mw_conn *c) {
  int64_t before = (mw_now_ms() - 60000) / MON_BUCKET_MS;
  int64_t merged = 0;
  for(int k = 0; k < 256 && !stopping(m); k++) {
    if(mon__compact_step(m, c, before, &merged)) {
      mw_log(MW_LOG_WARN, "monitor", "compaction step failed; retrying later");
      return;
    }
    if(merged == 0)
      return;
  }
}

static void run_retention(mon_ctx *m, mw_conn *c) {
  int64_t cutoff = mw_now_ms() - (int64_t)m->opt.retention_days * 86400000LL;
  int64_t total = 0, n = 0;
  do {
    if(mon_retention_step(m, c, cutoff, MON_RETENTION_BLOCKS, &n)) {
      mw_log(MW_LOG_WARN, "monitor", "retention step failed; retrying later");
      return;
    }
    total += n;
  } while(n > 0 && !stopping(m));
  if(total > 0)
    mw_log(MW_LOG_INFO, "monitor", "retention removed %lld blocks older than "
           "%d days", (long long)total, m->opt.retention_days);
}

/* Evaluates every version whose schedule is due. */
static void run_due(mon_ctx *m, mw_conn *c) {
  mon_due *due = NULL;
  size_t n = 0;
  if(mon__store_due(c, &due, &n)) {
    mw_log(MW_LOG_WARN, "monitor", "cannot list versions to evaluate");
    return;
  }
  for(size_t i = 0; i < n && !stopping(m); i++) {
    mon_due *d = &due[i];
    mon_version v = {d->version_id, d->model_id, d->model, d->version, d->schema};
    mon_schema s;
    mon_dcfg cfg;
    memset(&cfg, 0, sizeof cfg);
    if(mon__schema_parse(d->schema, &v, &s, NULL))
      continue;
    if(mon__dcfg_load(m, c, &v, &s, &cfg)) {
      mon__schema_free(&s);
      continue;
    }
    int64_t now = mw_now_ms();
    bool is_due = cfg.schedule && cfg.interval_seconds > 0 &&
                  (d->last_at < 0 ||
                   now - d->last_at >= (int64_t)cfg.interval_seconds * 1000);
    int64_t window = (int64_t)cfg.window_seconds * 1000;
    mon__dcfg_free(&cfg);
    mon__schema_free(&s);
    if(!is_due)
      continue;
    cJSON *rep = NULL;
    mw_err err = {{0}, NULL};
    mw_status st = mon_drift_evaluate(m, c, &v, now - window, now, "schedule",
                                      &rep, &err);
    if(st)
      mw_log(MW_LOG_WARN, "monitor", "scheduled evaluation of %s/%lld failed: %s",
             d->model, (long long)d->version, err.msg[0] ? err.msg : mw_strerror(st));
    mw_err_clear(&err);
    cJSON_Delete(rep);
  }
  mon__due_free(due, n);
}

static void *thread_main(void *arg) {
  mon_ctx *m = arg;
  mw_conn *c = mw_db_conn(m->db);
  if(!c) {
    mw_log(MW_LOG_ERROR, "monitor", "scheduler has no database connection");
    return NULL;
  }
  int64_t last_retention = 0;
  /* A short first nap lets the server finish starting. */
  int64_t period = 1000;
  while(!nap(m, period)) {
    int64_t now = mw_now_ms();
    if(now - last_retention >= MON_RETENTION_PERIOD_MS) {
      if(m->opt.retention_days > 0)
        run_retention(m, c);
      run_compaction(m, c);
      last_retention = now;
    }
    run_due(m, c);
  }
  return NULL;
}

mw_status mon_scheduler_start(mon_ctx *m) {
  if(!m || m->running)
    return MW_OK;
  m->stop = 0;
  if(pthread_create(&m->thread, NULL, thread_main, m) != 0)
    return MW_EINTERNAL;
  m->running = 1;
  mw_log(MW_LOG_INFO, "monitor",
         "scheduler started (evaluate every %d s over %d s, retention %d days)",
         m->opt.eval_interval_seconds, m->opt.eval_window_seconds,
         m->opt.retention_days);
  return MW_OK;
}

void mon_scheduler_stop(mon_ctx *m) {
  if(!m || !m->running)
    return;
  pthread_mutex_lock(&m->mu);
  m->stop = 1;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  pthread_join(m->thread, NULL);
  m->running = 0;
}
