/* alerts/scheduler.c - the thread that runs alert_tick once a second while
 * this replica leads the replicas sharing the database (core/cluster.h),
 * so each due rule is evaluated once per interval across the fleet, not
 * once per replica. When the leader dies another replica wins the lock at
 * its next heartbeat and goes on from the rules' stored next_eval_at.
 * A replica that believes it leads for a second too long can only repeat
 * an evaluation, never its effect: alert_rule_evaluate decides inside a
 * write transaction and a stale evaluation writes nothing. */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "alerts/internal.h"

#define TICK_MS 1000
#define NAP_MS 100

struct alert_scheduler {
  pthread_t thread;
  mw_db *db;
  struct alert_env env;
  atomic_int stop;
};

static void *scheduler_main(void *arg) {
  struct alert_scheduler *s = arg;
  while(!atomic_load(&s->stop)) {
    if(mw_cluster_is_leader(s->env.cluster)) {
      mw_conn *c = mw_db_conn(s->db);
      if(c)
        alert_tick(c, &s->env, mw_now_ms());
    }
    for(int i = 0; i < TICK_MS / NAP_MS && !atomic_load(&s->stop); i++)
      usleep(NAP_MS * 1000);
  }
  return NULL;
}

mw_status alert_scheduler_start(mw_db *db, const struct alert_env *env,
                                alert_scheduler **out) {
  assert(db && env && out);
  *out = NULL;
  struct alert_scheduler *s = calloc(1, sizeof *s);
  if(!s)
    return MW_ENOMEM;
  s->db = db;
  s->env = *env;
  atomic_init(&s->stop, 0);
  if(pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
    free(s);
    return MW_EINTERNAL;
  }
  *out = s;
  return MW_OK;
}

void alert_scheduler_stop(alert_scheduler *s) {
  if(!s)
    return;
  atomic_store(&s->stop, 1);
  pthread_join(s->thread, NULL);
  free(s);
}
