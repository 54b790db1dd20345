/* monitor/scheduler.c - the monitor's background thread, and only that:
 * it naps, and on each turn runs the passes of monitor/retention.h and
 * monitor/evaluate.h while this replica leads (mon_options.cluster):
 * retention and compaction at most once a minute, scheduled evaluation
 * every second. A replica that does not lead only naps, so a fleet
 * evaluates once per interval; when the leader dies another takes over at
 * its next heartbeat (core/cluster.h). */
#include <errno.h>
#include <time.h>

#include "monitor/evaluate.h"
#include "monitor/retention.h"

/* Retention and compaction run at most this often. */
#define RETENTION_PERIOD_MS 60000

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

static void *thread_main(void *arg) {
  mon_ctx *m = arg;
  mw_conn *c = mw_db_conn(m->db);
  if(!c) {
    mw_log(MW_LOG_ERROR, "monitor", "scheduler has no database connection");
    return NULL;
  }
  int64_t last_retention = 0;
  /* A short first nap lets the server finish starting. */
  while(!nap(m, 1000)) {
    int64_t now = mw_now_ms();
    if(now - last_retention >= RETENTION_PERIOD_MS && mon__is_leader(m)) {
      /* Also with --retention-days 0 (forever): models may have their own. */
      mon__retention_pass(m, c);
      if(mon__is_leader(m))
        mon__compaction_pass(m, c);
      last_retention = now;
    }
    /* Leadership is checked again before each pass: it may have moved
     * while the previous one ran. */
    if(mon__is_leader(m))
      mon__evaluate_due(m, c);
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
         "scheduler started (evaluate every %d s over %d s, retention %d days%s)",
         m->opt.eval_interval_seconds, m->opt.eval_window_seconds,
         m->opt.retention_days, m->opt.cluster ? "; while this replica leads" : "");
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
