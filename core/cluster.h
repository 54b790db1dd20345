/* core/cluster.h - the replicas that share one database, and the one among
 * them that runs what must happen once (scheduled drift evaluation, alert
 * evaluation, retention).
 *
 * Each `modelwatch serve` joins with mw_cluster_start: a row in the
 * replicas table, refreshed by a heartbeat thread every second, and a try
 * for leadership on each beat. Leadership is a lock the database itself
 * releases when its holder dies, so no lease has to run out and no clock
 * has to be trusted:
 *  - PostgreSQL: a session-level advisory lock on the heartbeat thread's
 *    connection; a killed replica's connection closes and the lock is free
 *    at once; a replica that loses its connection loses the lock with it
 *    and stops leading until it wins it again.
 *  - SQLite (processes on one machine): an exclusive flock on
 *    <database>.leader, released by the kernel when the process dies.
 * A replica learns it lost or won at its next beat (at most a second);
 * work that must happen once must still be decided inside a write
 * transaction (as the alert evaluator does), so two leaders for a second
 * can only repeat an evaluation, never its effect. */
#ifndef MW_CORE_CLUSTER_H
#define MW_CORE_CLUSTER_H

#include <cjson/cJSON.h>

#include "core/db.h"

typedef struct mw_cluster mw_cluster;

/* Joins db's cluster as a replica listening on listen (for the list) and
 * starts the heartbeat thread. Caller frees with mw_cluster_stop. */
mw_status mw_cluster_start(mw_db *db, const char *listen, mw_cluster **out);
/* Leaves: stops the heartbeat, gives up leadership, removes the row.
 * NULL is fine. */
void mw_cluster_stop(mw_cluster *cl);
/* 1 while this replica leads (as of its last beat). A NULL cluster (tests,
 * one-shot commands) always leads. Thread-safe. */
int mw_cluster_is_leader(const mw_cluster *cl);
/* This replica's id (borrowed, 32 chars). */
const char *mw_cluster_id(const mw_cluster *cl);
/* {replicas: [{id, listen, started_at, last_seen, leader}]}: the replicas
 * seen in the last 10 seconds, oldest first. Caller frees with
 * cJSON_Delete. */
mw_status mw_cluster_list(mw_conn *c, cJSON **out);

#endif
