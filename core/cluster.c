/* core/cluster.c - replica membership and leadership (core/cluster.h): a
 * heartbeat thread that refreshes this replica's row every second, tries
 * for leadership on each beat and records a win, and removes the row when
 * the replica leaves. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/cluster.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/store.h"

#define BEAT_MS 1000
/* Rows not refreshed for this long are gone from the list, and purged. */
#define GONE_MS 10000

struct mw_cluster {
  mw_db *db;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  int leader; /* atomic */
  char id[33];
  char listen[256];
  int64_t started_at;
};

/* One beat: refresh the row, try for (or keep) leadership, record a win. */
static void beat(mw_cluster *cl, mw_conn *c) {
  const struct mw_core_store *store = mw__store(c);
  int64_t now = mw_now_ms();
  int held = 0;
  mw_status s = mw_db_leader(c, 1, &held);
  if(s)
    held = 0;
  int was = __atomic_load_n(&cl->leader, __ATOMIC_ACQUIRE);
  if(!mw_tx_begin(c)) {
    s = store->replica_beat(c, cl->id, cl->listen, cl->started_at, now);
    if(!s && held && !was)
      s = store->replica_lead(c, cl->id, now);
    if(!s)
      s = store->replica_purge(c, now - GONE_MS * 6);
    if(!s)
      s = mw_tx_commit(c);
    mw_tx_rollback(c);
  }
  if(held != was) {
    /* A win is announced only once it is recorded, so the list never
     * shows an old leader next to a new one for long. */
    if(held && s)
      return;
    __atomic_store_n(&cl->leader, held, __ATOMIC_RELEASE);
    mw_log(MW_LOG_INFO, "cluster", "replica %s %s leadership", cl->id,
           held ? "took" : "lost");
  }
}

static void *heartbeat_main(void *arg) {
  mw_cluster *cl = arg;
  for(;;) {
    mw_conn *c = mw_db_conn(cl->db);
    if(c)
      beat(cl, c);
    else
      __atomic_store_n(&cl->leader, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&cl->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)BEAT_MS % 1000 * 1000000L;
    until.tv_sec += BEAT_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while(!cl->stop && pthread_cond_timedwait(&cl->cv, &cl->mu, &until) == 0)
      ;
    int stop = cl->stop;
    pthread_mutex_unlock(&cl->mu);
    if(stop)
      break;
  }
  mw_conn *c = mw_db_conn(cl->db);
  if(c) {
    mw_db_leader(c, 0, NULL);
    if(!mw_tx_begin(c)) {
      if(!mw__store(c)->replica_delete(c, cl->id))
        mw_tx_commit(c);
      mw_tx_rollback(c);
    }
  }
  return NULL;
}

mw_status mw_cluster_start(mw_db *db, const char *listen, mw_cluster **out) {
  *out = NULL;
  mw_cluster *cl = calloc(1, sizeof *cl);
  if(!cl)
    return MW_ENOMEM;
  cl->db = db;
  cl->started_at = mw_now_ms();
  mw_strlcpy(cl->listen, listen, sizeof cl->listen);
  if(mw_random_token(cl->id, 32)) {
    free(cl);
    return MW_EINTERNAL;
  }
  pthread_mutex_init(&cl->mu, NULL);
  pthread_cond_init(&cl->cv, NULL);
  if(pthread_create(&cl->thread, NULL, heartbeat_main, cl) != 0) {
    pthread_cond_destroy(&cl->cv);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
    return MW_EINTERNAL;
  }
  *out = cl;
  return MW_OK;
}

void mw_cluster_stop(mw_cluster *cl) {
  if(!cl)
    return;
  pthread_mutex_lock(&cl->mu);
  cl->stop = 1;
  pthread_cond_signal(&cl->cv);
  pthread_mutex_unlock(&cl->mu);
  pthread_join(cl->thread, NULL);
  pthread_cond_destroy(&cl->cv);
  pthread_mutex_destroy(&cl->mu);
  free(cl);
}

int mw_cluster_is_leader(const mw_cluster *cl) {
  return !cl || __atomic_load_n(&cl->leader, __ATOMIC_ACQUIRE);
}

const char *mw_cluster_id(const mw_cluster *cl) { return cl ? cl->id : ""; }

static mw_status list_row(void *ctx, const struct mw_replica_row *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", r->id);
  cJSON_AddStringToObject(o, "listen", r->listen);
  mw_json_add_time(o, "started_at", r->started_at);
  mw_json_add_time(o, "last_seen", r->last_seen);
  cJSON_AddBoolToObject(o, "leader", r->leader);
  cJSON_AddItemToArray(ctx, o);
  return MW_OK;
}

mw_status mw_cluster_list(mw_conn *c, cJSON **out) {
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "replicas");
  mw_status s = mw__store(c)->replica_list(c, mw_now_ms() - GONE_MS, list_row, arr);
  if(s) {
    cJSON_Delete(root);
    root = NULL;
  }
  *out = root;
  return s;
}
