/* monitor/quarantine.h - the invalid rows of a batch ingested with
 * ?on_invalid=quarantine, kept with their errors (monitor/quarantine.c):
 * built from the parsed batch and its errors, written in the batch's
 * transaction, listed by GET .../quarantine, counted per column in a drift
 * report's quality, aged out by retention (the store's aged_delete). */
#ifndef MW_MONITOR_QUARANTINE_H
#define MW_MONITOR_QUARANTINE_H

#include "monitor/batch.h"
#include "monitor/store.h"

/* The invalid rows of one batch, ready to store (owns its texts). */
typedef struct mon_qset {
  mon_qrow *rows;
  size_t n;
  char **texts; /* 3 per row: row (may be NULL), errors, cols */
} mon_qset;

/* The rows of b with errors of their own (errs tracked per row,
 * mon__errors_track) into q, in index order; keep[i] is set for the rows
 * without errors. rows: the batch's JSON array (the rows as sent). */
mw_status mon__quarantine_build(const mon_schema *s, const cJSON *rows,
                                const mon_batch *b, const mon_errors *errs,
                                int64_t now_ms, mon_qset *q, uint8_t *keep);
void mon__quarantine_free(mon_qset *q);
/* Stores q for version_id inside the caller's write transaction, unless
 * the version's quarantine would pass MON_MAX_QUARANTINE rows: then
 * MW_ECONFLICT and nothing is stored (*held: the rows it holds). */
mw_status mon__quarantine_write(mw_conn *c, int64_t version_id, const mon_qset *q,
                                int64_t *held);
/* Adds to counts[0..ncols) the quarantined rows of version_id with time in
 * [from, to) that had an invalid value in each column, and to *rows all
 * of them (the caller's read transaction). */
mw_status mon__quarantine_invalid(mw_conn *c, int64_t version_id, int64_t from,
                                  int64_t to, int64_t *counts, size_t ncols,
                                  int64_t *rows);

#endif
