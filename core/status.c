/* core/status.c - the one table of statuses, their codes and messages. */
#include "core/core.h"

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
