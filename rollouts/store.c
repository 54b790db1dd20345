/* rollouts/store.c - picks the rollouts' store implementation for a
 * connection's backend. */
#include "rollouts/store.h"

const struct rollout__store *rollout__store(mw_conn *c) {
  static const struct rollout__store *const by_kind[MW_DB_KIND_COUNT] = {
      [MW_DB_SQLITE] = &rollout__store_sqlite,
      [MW_DB_POSTGRES] = &rollout__store_pg,
  };
  return by_kind[mw_conn_kind(c)];
}
