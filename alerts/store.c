/* alerts/store.c - picks the store implementation of alerts/ for a
 * connection's backend (alerts/store.h). */
#include "alerts/store.h"

const struct alert__store *alert__store(mw_conn *c) {
  static const struct alert__store *const by_kind[MW_DB_KIND_COUNT] = {
      [MW_DB_SQLITE] = &alert__store_sqlite,
      [MW_DB_POSTGRES] = &alert__store_pg,
  };
  return by_kind[mw_conn_kind(c)];
}
