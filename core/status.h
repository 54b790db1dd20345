/* core/status.h - the one status enum of modelwatch (an X-macro
 * table of value, JSON code and message) and mw_err, the message and
 * details a failing call leaves for the API client. */
#ifndef MW_CORE_STATUS_H
#define MW_CORE_STATUS_H

#include <cjson/cJSON.h>

/* One table of statuses: enum value, short code (used as the JSON error code
 * by web/) and a default message. */
#define MW_STATUS_MAP(X)                                                            \
  X(MW_OK, 0, "ok", "success")                                                      \
  X(MW_EINVAL, -1, "invalid", "invalid argument")                                   \
  X(MW_ENOTFOUND, -2, "not_found", "not found")                                     \
  X(MW_ECONFLICT, -3, "conflict", "conflict with the current state")                \
  X(MW_ETOOBIG, -4, "too_large", "too large")                                       \
  X(MW_EDB, -5, "database_error", "database error")                                 \
  X(MW_EIO, -6, "io_error", "input/output error")                                   \
  X(MW_ENOMEM, -7, "out_of_memory", "out of memory")                                \
  X(MW_EVALIDATION, -8, "validation_failed", "validation failed")                   \
  X(MW_EUNAUTH, -9, "unauthenticated", "missing or invalid token")                  \
  X(MW_EFORBIDDEN, -10, "forbidden", "insufficient scope")                          \
  X(MW_EBUSY, -11, "unavailable", "temporarily unavailable")                        \
  X(MW_ETOOMANY, -12, "rate_limited", "too many requests")                          \
  X(MW_ESCHEMA, -13, "schema_too_new", "database schema is newer than this binary") \
  X(MW_EINTERNAL, -14, "internal", "internal error")                                \
  X(MW_ENOTAPPROVED, -15, "not_approved", "version not approved")                   \
  X(MW_ESELFAPPROVAL, -16, "self_approval",                                         \
    "a version's creator cannot decide on it")                                      \
  X(MW_ESECRET, -17, "secret_unreadable",                                           \
    "a stored secret cannot be decrypted with this key")

typedef enum mw_status {
#define MW_X_ENUM(name, val, code, msg) name = (val),
  MW_STATUS_MAP(MW_X_ENUM)
#undef MW_X_ENUM
} mw_status;

/* A message (and optional JSON details) explaining a failed call, filled by
 * the layer that knows what went wrong and shown to the API client by web/. */
typedef struct mw_err {
  char msg[512];
  cJSON *details; /* owned; may be NULL; free with mw_err_clear */
} mw_err;

/* Sets e's message (printf-style) and returns st, so a failing path reads
 * `return mw_errf(err, MW_ECONFLICT, "model %s exists", name);`. e may be
 * NULL. */
mw_status mw_errf(mw_err *e, mw_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees e's details and clears its message. */
void mw_err_clear(mw_err *e);

/* Default human message for a status; never NULL, static storage. */
const char *mw_strerror(mw_status st);
/* Short machine code for a status ("not_found"); never NULL, static. */
const char *mw_status_code(mw_status st);

#endif
