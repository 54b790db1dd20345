/* monitor/dict.h - the dictionary of a categorical column: value <-> code,
 * codes 0..n-1 in order of first sight, kept per version and column in
 * the store so that blocks hold codes (8 bytes) instead of text.
 * monitor/dict.c. */
#ifndef MW_MONITOR_DICT_H
#define MW_MONITOR_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "core/db.h"

typedef struct mon_dict {
  size_t n, cap;
  char **values;   /* by code, owned */
  uint32_t *slots; /* open addressing: code + 1, 0 = empty */
  size_t nslots;
  size_t nloaded; /* codes that are already stored */
} mon_dict;

void mon__dict_init(mon_dict *d);
void mon__dict_free(mon_dict *d);
/* Code of value or -1. */
long mon__dict_find(const mon_dict *d, const char *s);
/* Code of value, adding it when new. MW_ETOOBIG past MON_MAX_CATEGORIES. */
mw_status mon__dict_intern(mon_dict *d, const char *s, long *code);

/* Loads the stored dictionary of (version_id, col) into d (initialised
 * here; caller frees with mon__dict_free, also after a failure). */
mw_status mon__dict_load(mw_conn *c, int64_t version_id, size_t col, mon_dict *d);
/* Stores the codes of d from d->nloaded on (inside the caller's write
 * transaction) and marks them stored. */
mw_status mon__dict_save(mw_conn *c, int64_t version_id, size_t col, mon_dict *d);

#endif
