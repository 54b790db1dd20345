/* core/store.c - picks core's store implementation for a connection's
 * backend. */
#include "core/store.h"

const struct mw_core_store *mw__store(mw_conn *c) {
  static const struct mw_core_store *const by_kind[MW_DB_KIND_COUNT] = {
      [MW_DB_SQLITE] = &mw_core_store_sqlite,
      [MW_DB_POSTGRES] = &mw_core_store_pg,
  };
  return by_kind[mw_conn_kind(c)];
}
