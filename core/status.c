/* core/status.c - the one table of statuses, their codes and messages. */
#include <stdio.h>

#include "core/core.h"

mw_status mw_errf(mw_err *e, mw_status st, const char *fmt, ...) {
  if(!e)
    return st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return st;
}

void mw_err_clear(mw_err *e) {
  if(!e)
    return;
  cJSON_Delete(e->details);
  e->details = NULL;
  e->msg[0] = '\0';
}

const char *mw_strerror(mw_status st) {
  switch(st) {
#define MW_X_MSG(name, val, code, msg) \
  case name:                           \
    return msg;
    MW_STATUS_MAP(MW_X_MSG)
#undef MW_X_MSG
  }
  return "unknown error";
}

const char *mw_status_code(mw_status st) {
  switch(st) {
#define MW_X_CODE(name, val, code, msg) \
  case name:                            \
    return code;
    MW_STATUS_MAP(MW_X_CODE)
#undef MW_X_CODE
  }
  return "internal";
}
