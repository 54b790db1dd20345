/* rollouts/controller.c - the thread that runs rollout_tick while this
 * replica leads the replicas sharing the database (core/cluster.h), so
 * each step is judged by one process. A replica that still believes it
 * leads for a moment after losing the lock can only repeat a judgement,
 * never its effect: rollout_tick applies a decision only to the revision
 * it was made on. */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "rollouts/internal.h"

#define NAP_MS 50

struct rollout_controller {
  pthread_t thread;
  mw_db *db;
  struct rollout_env env;
  int tick_ms;
  atomic_int stop;
};

static void *controller_main(void *arg) {
  struct rollout_controller *rc = arg;
  while(!atomic_load(&rc->stop)) {
    if(mw_cluster_is_leader(rc->env.cluster)) {
      mw_conn *c = mw_db_conn(rc->db);
      if(c)
        rollout_tick(c, &rc->env, mw_now_ms());
    }
    for(int i = 0; i < rc->tick_ms / NAP_MS && !atomic_load(&rc->stop); i++)
      usleep(NAP_MS * 1000);
  }
  return NULL;
}

mw_status rollout_controller_start(mw_db *db, const struct rollout_env *env,
                                   int tick_ms, rollout_controller **out) {
  assert(db && env && out);
  *out = NULL;
  struct rollout_controller *rc = calloc(1, sizeof *rc);
  if(!rc)
    return MW_ENOMEM;
  rc->db = db;
  rc->env = *env;
  rc->tick_ms = tick_ms > 0 ? tick_ms : 1000;
  if(rc->tick_ms < NAP_MS)
    rc->tick_ms = NAP_MS;
  atomic_init(&rc->stop, 0);
  if(pthread_create(&rc->thread, NULL, controller_main, rc) != 0) {
    free(rc);
    return MW_EINTERNAL;
  }
  *out = rc;
  return MW_OK;
}

void rollout_controller_stop(rollout_controller *rc) {
  if(!rc)
    return;
  atomic_store(&rc->stop, 1);
  pthread_join(rc->thread, NULL);
  free(rc);
}
