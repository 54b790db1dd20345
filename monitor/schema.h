/* monitor/schema.h - a version's columns as the monitor reads its schema,
 * the list of validation errors every request of the monitor answers
 * with, how a JSON value becomes a column value, and the limits that keep
 * one request bounded. Pure functions (monitor/schema.c). */
#ifndef MW_MONITOR_SCHEMA_H
#define MW_MONITOR_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/monitor.h"
#include "monitor/stats.h"

/* Columns of a schema, features and prediction (a block's chunks are
 * numbered by column, and SQLite keys them inside a rowid: see
 * monitor/store_sqlite.c). */
#define MON_MAX_COLS 4000
/* Limits that keep one request bounded. */
#define MON_MAX_BATCH 100000
#define MON_MAX_ID_LEN 256
#define MON_MAX_CAT_LEN 1024
#define MON_MAX_CATEGORIES 10000
#define MON_MAX_ERRORS 10000
/* How far in the future a prediction's timestamp may lie. */
#define MON_FUTURE_SLACK_MS (24LL * 3600 * 1000)

/* What is stored of a feature's values ("privacy" in the schema;
 * monitor/privacy.c). */
typedef enum mon_privacy {
  MON_PRIVACY_KEEP, /* the value */
  MON_PRIVACY_HASH, /* HMAC-SHA256 of the value, as a category */
  MON_PRIVACY_DROP  /* nothing (validated, then stored as missing) */
} mon_privacy;

typedef struct mon_column {
  char *name;
  mon_column_kind kind;     /* as stored: categorical for a hashed column */
  mon_column_kind declared; /* as the schema says: how values validate */
  mon_privacy privacy;
  bool has_hkey;          /* hkey set (mon__privacy_attach) */
  unsigned char hkey[32]; /* the column's HMAC key, when hashed */
} mon_column;

/* The version's columns: features in schema order, then the prediction. */
typedef struct mon_schema {
  size_t ncols;
  mon_column *cols;
} mon_schema;

/* Parses a registry schema {"features": [{name, type, privacy?}],
 * "prediction": {type}} (privacy: "keep", "hash" or "drop"; a hashed
 * column is categorical; its key is attached by mon__privacy_attach). NULL json -> MW_EVALIDATION ("no schema"). Caller frees with
 * mon__schema_free (also after a failure). */
mw_status mon__schema_parse(const char *json, const mon_version *v, mon_schema *out,
                            mw_err *err);
void mon__schema_free(mon_schema *s);
/* Column index of name (len bytes), or -1. */
long mon__schema_find(const mon_schema *s, const char *name, size_t len);
/* Numeric columns of s. */
size_t mon__schema_numeric(const mon_schema *s);
/* "numeric" or "categorical". */
const char *mon__kind_name(mon_column_kind k);

/* ---- errors listed in details.errors ---- */

typedef struct mon_errors {
  cJSON *list;   /* array, owned until handed to mw_err */
  size_t count;  /* all errors, also those past MON_MAX_ERRORS */
  size_t listed; /* errors in list */
  /* With mon__errors_track: errors per row index (nrows entries), and
   * errors of no row (index < 0: the batch as a whole). */
  uint32_t *per_row;
  size_t nrows, batch;
} mon_errors;

void mon__errors_init(mon_errors *e);
/* Counts errors per row of a batch of nrows rows (quarantine): every row
 * with an error is known even past MON_MAX_ERRORS; the list then keeps at
 * most MON_ROW_ERRORS errors of each row. MW_ENOMEM. */
#define MON_ROW_ERRORS 8
mw_status mon__errors_track(mon_errors *e, size_t nrows);
/* Adds {index, field, message}; index < 0 leaves index out. */
void mon__errors_add(mon_errors *e, long index, const char *field, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
/* Moves the list, ordered by index, into err->details {errors,
 * error_count, truncated} and returns MW_EVALIDATION with msg. */
mw_status mon__errors_fail(mon_errors *e, mw_err *err, const char *msg);
void mon__errors_free(mon_errors *e);

/* ---- JSON values ---- */

/* Interprets a JSON value for a numeric column: numbers as they are; null
 * and the strings NaN, Infinity, -Infinity (any case, also inf) as missing
 * (NaN). Returns 0 for anything else. */
int mon__json_number(const cJSON *it, double *out);
/* Canonical text of a categorical JSON value into buf: strings as they
 * are (returned borrowed), integers in decimal, other numbers with %.17g,
 * booleans "true"/"false". *missing is set for null. NULL when the value
 * cannot be a category (object, array, too long). */
const char *mon__json_category(const cJSON *it, char *buf, size_t cap,
                               bool *missing);
/* Adds a number when it is finite (never NaN or infinities in JSON). */
void mon__json_add_number(cJSON *obj, const char *key, double v);
void mon__json_append_number(cJSON *arr, double v);

#endif
