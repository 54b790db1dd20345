/* registry/store.c - picks the registry's store implementation for a
 * connection's backend. */
#include "registry/store.h"

const struct reg_store *reg__store(mw_conn *c) {
  static const struct reg_store *const by_kind[MW_DB_KIND_COUNT] = {
      [MW_DB_SQLITE] = &reg_store_sqlite,
      [MW_DB_POSTGRES] = &reg_store_pg,
  };
  return by_kind[mw_conn_kind(c)];
}
