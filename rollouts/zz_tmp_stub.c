/* TEMPORARY until the monitor branch merges. */
#include "monitor/monitor.h"
mw_status mon_drift_compare(mon_ctx *m, mw_conn *c, const mon_version *base,
                            const mon_version *cand, int64_t from_ms, int64_t to_ms,
                            cJSON **out, mw_err *err);
mw_status mon_shadow_compare(mw_conn *c, const mon_version *base,
                             const mon_version *cand, int64_t from_ms, int64_t to_ms,
                             cJSON **out, mw_err *err);
mw_status mon_drift_compare(mon_ctx *m, mw_conn *c, const mon_version *base,
                            const mon_version *cand, int64_t from_ms, int64_t to_ms,
                            cJSON **out, mw_err *err) {
  (void)m;
  (void)c;
  (void)base;
  (void)cand;
  (void)from_ms;
  (void)to_ms;
  *out = NULL;
  return mw_errf(err, MW_EINTERNAL, "not yet");
}
mw_status mon_shadow_compare(mw_conn *c, const mon_version *base,
                             const mon_version *cand, int64_t from_ms, int64_t to_ms,
                             cJSON **out, mw_err *err) {
  (void)c;
  (void)base;
  (void)cand;
  (void)from_ms;
  (void)to_ms;
  *out = NULL;
  return mw_errf(err, MW_EINTERNAL, "not yet");
}
