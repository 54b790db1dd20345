/* monitor/context.c - creating and freeing the monitor's context
 * (monitor/context.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/context.h"

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
  pthread_mutex_init(&m->q_mu, NULL);
  pthread_cond_init(&m->q_cv, NULL);
  pthread_mutex_init(&m->report_mu, NULL);
  pthread_mutex_init(&m->vc_mu, NULL);
  pthread_cond_init(&m->report_cv, NULL);
  mon__wcache_init(&m->wc, m->opt.drift_cache_mb);
  pthread_mutex_init(&m->mu, NULL);
  pthread_mutex_init(&m->pk_mu, NULL);
  /* The scheduler naps on a monotonic clock: a wall clock step must not
   * make it sleep for hours or spin. */
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
  pthread_mutex_destroy(&m->q_mu);
  pthread_cond_destroy(&m->q_cv);
  pthread_mutex_destroy(&m->report_mu);
  pthread_mutex_destroy(&m->vc_mu);
  free(m->vc);
  pthread_cond_destroy(&m->report_cv);
  mon__wcache_destroy(&m->wc);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  pthread_mutex_destroy(&m->pk_mu);
  explicit_bzero(m->pk, sizeof m->pk);
  free(m);
}
