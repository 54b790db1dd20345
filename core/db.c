/* core/db.c - the backend-neutral half of the database seam (core/db.h):
 * chooses the backend when a database is opened, keeps one connection per
 * thread, serialises this process's writers on one mutex and tracks each
 * connection's transaction state, so that every backend gets the same
 * calls in the same order and only has to say how to do them. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/db_backend.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/secrets.h"

static void conn_destructor(void *p) {
  mw_conn *c = p;
  if(c)
    c->be->conn_close(c);
}

int mw_db_target_is_postgres(const char *target) {
  return !strncmp(target, "postgresql://", 13) ||
         !strncmp(target, "postgres://", 11) || strstr(target, "dbname=") ||
         strstr(target, "host=") || strstr(target, "service=");
}

static const struct mw_db_backend *backend_for(const char *target) {
  return mw_db_target_is_postgres(target) ? &mw_db_backend_pg
                                          : &mw_db_backend_sqlite;
}

mw_status mw_db_open(const char *target, int sync_full, mw_db **out) {
  assert(target && out);
  *out = NULL;
  mw_db *d = calloc(1, sizeof *d);
  if(!d)
    return MW_ENOMEM;
  d->be = backend_for(target);
  d->target = strdup(target);
  d->sync_full = sync_full;
  pthread_mutex_init(&d->write_lock, NULL);
  if(!d->target || pthread_key_create(&d->key, conn_destructor) != 0) {
    pthread_mutex_destroy(&d->write_lock);
    free(d->target);
    free(d);
    return MW_ENOMEM;
  }
  mw_status s = d->be->open(d);
  /* Open the caller's connection now so that a bad target fails here. */
  if(!s && !mw_db_conn(d)) {
    d->be->close(d);
    s = MW_EDB;
  }
  if(s) {
    pthread_key_delete(d->key);
    pthread_mutex_destroy(&d->write_lock);
    free(d->target);
    free(d);
    return s;
  }
  *out = d;
  return MW_OK;
}

void mw_db_close(mw_db *d) {
  if(!d)
    return;
  mw_conn *c = pthread_getspecific(d->key);
  if(c)
    d->be->conn_close(c);
  pthread_setspecific(d->key, NULL);
  pthread_key_delete(d->key);
  d->be->close(d);
  pthread_mutex_destroy(&d->write_lock);
  mw_secret_key_wipe(d->secret_key);
  free(d->secret_key);
  free(d->target);
  free(d);
}

mw_status mw_secrets_attach(mw_db *d, const mw_secret_key *k) {
  assert(d && k);
  if(!d->secret_key && !(d->secret_key = malloc(sizeof *d->secret_key)))
    return MW_ENOMEM;
  *d->secret_key = *k;
  return MW_OK;
}

const mw_secret_key *mw_secrets_key(mw_conn *c) { return c->db->secret_key; }

enum mw_db_kind mw_db_kind(const mw_db *d) { return d->be->kind; }
enum mw_db_kind mw_conn_kind(const mw_conn *c) { return c->be->kind; }
const char *mw_db_name(const mw_db *d) { return d->target; }
mw_db *mw_conn_db(mw_conn *c) { return c->db; }
int mw_tx_state(const mw_conn *c) { return (int)c->tx; }

mw_conn *mw_db_conn(mw_db *d) {
#ifdef MW_FAULT_INJECTION
  mw__fault_request_start();
#endif
  mw_conn *c = pthread_getspecific(d->key);
  if(c)
    return c;
  c = d->be->conn_open(d);
  if(!c)
    return NULL;
  c->be = d->be;
  c->db = d;
  c->tx = MW_TX_NONE;
  if(pthread_setspecific(d->key, c) != 0) {
    d->be->conn_close(c);
    return NULL;
  }
  return c;
}

static void release_write(mw_conn *c) {
  if(c->tx != MW_TX_WRITE)
    return;
  if(c->rows_only) {
    c->rows_only = 0;
    c->tx = MW_TX_NONE;
    c->in_savepoint = 0;
    return;
  }
  int64_t held = mw_mono_ns() - c->write_t0;
  __atomic_add_fetch(&c->db->held_ns, (uint64_t)(held > 0 ? held : 0),
                     __ATOMIC_RELAXED);
  c->tx = MW_TX_NONE;
  c->in_savepoint = 0;
  pthread_mutex_unlock(&c->db->write_lock);
}

mw_status mw_tx_begin(mw_conn *c) {
  if(c->tx != MW_TX_NONE) {
    mw_log(MW_LOG_ERROR, "db", "transaction already open on this connection");
    return MW_EINTERNAL;
  }
  int64_t t0 = mw_mono_ns();
  pthread_mutex_lock(&c->db->write_lock);
  c->write_t0 = mw_mono_ns();
  __atomic_add_fetch(&c->db->wait_ns, (uint64_t)(c->write_t0 - t0),
                     __ATOMIC_RELAXED);
  __atomic_add_fetch(&c->db->tx_count, 1, __ATOMIC_RELAXED);
  mw_status s = c->be->begin(c, MW_TX_WRITE);
  c->tx = MW_TX_WRITE;
  if(s)
    release_write(c);
  return s;
}

mw_status mw_tx_begin_rows(mw_conn *c) {
  if(!c->be->row_locks)
    return mw_tx_begin(c);
  if(c->tx != MW_TX_NONE) {
    mw_log(MW_LOG_ERROR, "db", "transaction already open on this connection");
    return MW_EINTERNAL;
  }
  mw_status s = c->be->begin(c, MW_TX_ROWS);
  if(!s) {
    c->tx = MW_TX_WRITE;
    c->rows_only = 1;
  }
  return s;
}

mw_status mw_tx_read(mw_conn *c) {
  if(c->tx != MW_TX_NONE) {
    mw_log(MW_LOG_ERROR, "db", "transaction already open on this connection");
    return MW_EINTERNAL;
  }
  mw_status s = c->be->begin(c, MW_TX_READ);
  if(!s)
    c->tx = MW_TX_READ;
  return s;
}

mw_status mw_tx_commit(mw_conn *c) {
  assert(c->tx != MW_TX_NONE);
  assert(!c->in_savepoint);
  mw_status s = c->be->commit(c);
  if(s)
    c->be->rollback(c);
  if(c->tx == MW_TX_WRITE)
    release_write(c);
  c->tx = MW_TX_NONE;
  return s;
}

void mw_tx_rollback(mw_conn *c) {
  if(c->tx == MW_TX_NONE)
    return;
  c->be->rollback(c);
  if(c->tx == MW_TX_WRITE)
    release_write(c);
  c->tx = MW_TX_NONE;
  c->in_savepoint = 0;
}

mw_status mw_savepoint(mw_conn *c) {
  assert(c->tx == MW_TX_WRITE && !c->in_savepoint);
  mw_status s = c->be->savepoint(c, MW_SP_BEGIN);
  if(!s)
    c->in_savepoint = 1;
  return s;
}

mw_status mw_savepoint_release(mw_conn *c) {
  assert(c->in_savepoint);
  c->in_savepoint = 0;
  return c->be->savepoint(c, MW_SP_RELEASE);
}

void mw_savepoint_rollback(mw_conn *c) {
  assert(c->in_savepoint);
  /* Rolling back to a savepoint keeps it open: release it too. */
  c->be->savepoint(c, MW_SP_ROLLBACK);
  c->be->savepoint(c, MW_SP_RELEASE);
  c->in_savepoint = 0;
}

mw_status mw_db_data_version(mw_conn *c, int64_t *out) {
  return c->be->data_version(c, out);
}

mw_status mw_db_ping(mw_conn *c) { return c->be->ping(c); }

mw_status mw_db_leader(mw_conn *c, int take, int *held) {
  int dummy;
  return c->be->leader(c, take, held ? held : &dummy);
}

mw_status mw_db_wait(mw_conn *c, int timeout_ms) {
  assert(c->tx == MW_TX_NONE);
  return c->be->wait(c, timeout_ms);
}

int64_t mw_db_size(const mw_db *d) { return d->be->size(d); }

void mw_db_stats_get(mw_db *d, mw_db_stats *out) {
  out->tx_count = __atomic_load_n(&d->tx_count, __ATOMIC_RELAXED);
  out->wait_ns = __atomic_load_n(&d->wait_ns, __ATOMIC_RELAXED);
  out->held_ns = __atomic_load_n(&d->held_ns, __ATOMIC_RELAXED);
}
