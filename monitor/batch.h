/* monitor/batch.h - a parsed batch of rows, shared by prediction ingest
 * and reference uploads: validated as a whole against the version's
 * schema into a column-major staging area (monitor/batch.c). */
#ifndef MW_MONITOR_BATCH_H
#define MW_MONITOR_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/schema.h"

typedef struct mon_batch {
  size_t n, ncols;
  int64_t *ts;             /* n */
  double *vals;            /* ncols * n, column-major; NaN = missing; categorical
                        columns hold codes after mon__batch_encode */
  const char **cats;       /* ncols * n; categorical text, NULL = missing */
  const char **ids;        /* n; NULL = no id */
  bool *has_label;         /* n */
  double *labels;          /* n; numeric label, or code after encoding */
  const char **label_cats; /* n; categorical label text */
  bool any_ids, any_labels, any_cats;
  char **arena; /* strings made from numbers, freed with the batch */
  size_t narena, arena_cap;
} mon_batch;

/* Validates the array of rows against s into b. for_reference: rows need
 * only features and prediction (id, timestamp, label are ignored). Rows
 * without a timestamp get now_ms. Problems are added to errs; returns
 * MW_ENOMEM on allocation failure only. Caller frees b with
 * mon__batch_free (b is empty after a failure). */
mw_status mon__batch_parse(const mon_schema *s, const cJSON *rows,
                           bool for_reference, int64_t now_ms, mon_batch *b,
                           mon_errors *errs);
/* Assigns dictionary codes to categorical values and labels, storing new
 * categories of version_id (inside the caller's write transaction). */
mw_status mon__batch_encode(mw_conn *c, int64_t version_id, const mon_schema *s,
                            mon_batch *b, mon_errors *errs);
void mon__batch_free(mon_batch *b);
/* Keeps the rows i with keep[i] set, in order, moving them to the front
 * (before mon__batch_encode); b->n becomes their number. */
void mon__batch_compact(mon_batch *b, const uint8_t *keep);

/* Keeps a copy of s alive as long as b; NULL when memory runs out. */
const char *mon__batch_keep(mon_batch *b, const char *s);
/* The text of an id: a string of 1..MON_MAX_ID_LEN bytes, or an integer
 * printed into b's arena. Returns 0 when it is neither; *st is MW_ENOMEM
 * when the copy failed. */
int mon__batch_id_text(mon_batch *b, const cJSON *it, const char **out,
                       mw_status *st);
/* Reports ids given twice among b->ids[0..b->n) into errs. */
mw_status mon__batch_check_ids(const mon_batch *b, mon_errors *errs);
/* "features.<name>" (or "prediction") for column col, into buf. */
const char *mon__batch_field(const mon_schema *s, size_t col, char *buf, size_t cap);

#endif
