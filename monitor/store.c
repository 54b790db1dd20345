/* monitor/store.c - picks the monitor's store implementation for a
 * connection's backend (monitor/store.h), and names a version for log
 * lines through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/store.h"

const struct mon_store *mon__store(mw_conn *c) {
  static const struct mon_store *const by_kind[MW_DB_KIND_COUNT] = {
      [MW_DB_SQLITE] = &mon__store_sqlite,
      [MW_DB_POSTGRES] = &mon__store_pg,
  };
  return by_kind[mw_conn_kind(c)];
}

void mon__version_label(mw_conn *c, int64_t version_id, char *buf, size_t cap) {
  char model[200];
  int64_t version;
  /* Called after a failed statement: on PostgreSQL the transaction may be
   * aborted, and the lookup fails too; the row id is said then. */
  if(!mon__store(c)->version_name(c, version_id, model, sizeof model, &version))
    snprintf(buf, cap, "model '%s' version %lld", model, (long long)version);
  else
    snprintf(buf, cap, "version row %lld", (long long)version_id);
}
