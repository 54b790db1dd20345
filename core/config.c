/* core/config.c - configuration from defaults, MODELWATCH_* environment
 * variables and command-line flags, in that order of precedence (flags win).
 * One table drives parsing, the environment and --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

enum opt_kind {
  OPT_STR,
  OPT_INT,
  OPT_SIZE,
  OPT_BOOL,
  OPT_SYNC,
  OPT_LEVEL,
  OPT_ARTIFACTS
};

struct opt {
  const char *flag;
  const char *env;
  enum opt_kind kind;
  size_t off;
  size_t size; /* for strings */
  const char *help;
};

#define OFF(f) offsetof(mw_config, f)
#define SZ(f) sizeof(((mw_config *)0)->f)

static const struct opt opts[] = {
    {"--listen", "MODELWATCH_LISTEN", OPT_STR, OFF(listen), SZ(listen),
     "address to listen on, host:port (default 127.0.0.1:8080)"},
    {"--data-dir", "MODELWATCH_DATA_DIR", OPT_STR, OFF(data_dir), SZ(data_dir),
     "directory for the database, artifacts and admin.token (default ./var)"},
    {"--database", "MODELWATCH_DATABASE_URL", OPT_STR, OFF(database), SZ(database),
     "PostgreSQL database shared by every replica, as a postgresql:// URL or "
     "libpq key=value settings; empty (default) = SQLite in --data-dir"},
    {"--secret-key-file", "MODELWATCH_SECRET_KEY_FILE", OPT_STR,
     OFF(secret_key_file), SZ(secret_key_file),
     "key (mode 0600) that encrypts channel URLs and webhook secrets in the "
     "database; the same file on every replica (default "
     "<data-dir>/secret.key, created on first start)"},
    {"--threads", "MODELWATCH_THREADS", OPT_INT, OFF(threads), 0,
     "HTTP worker threads; each keep-alive connection holds one (default 64)"},
    {"--max-body", "MODELWATCH_MAX_BODY", OPT_SIZE, OFF(max_body), 0,
     "largest JSON request body in bytes (default 67108864)"},
    {"--max-artifact", "MODELWATCH_MAX_ARTIFACT", OPT_SIZE, OFF(max_artifact), 0,
     "largest artifact upload in bytes (default 2147483648)"},
    {"--artifact-store", "MODELWATCH_ARTIFACT_STORE", OPT_ARTIFACTS,
     OFF(artifact_store), 0,
     "dir|database: artifacts as files under --data-dir/artifacts (default; "
     "a shared mount serves every replica) or in the database"},
    {"--sync", "MODELWATCH_SYNC", OPT_SYNC, OFF(sync_full), 0,
     "full|normal: fsync every commit (full, default) or only checkpoints"},
    {"--access-log", "MODELWATCH_ACCESS_LOG", OPT_BOOL, OFF(access_log), 0,
     "on|off: one line per request on stderr (default on)"},
    {"--log-level", "MODELWATCH_LOG_LEVEL", OPT_LEVEL, OFF(log_level), 0,
     "debug|info|warn|error (default info)"},
    {"--external-url", "MODELWATCH_EXTERNAL_URL", OPT_STR, OFF(external_url),
     SZ(external_url),
     "base URL for links in notifications (default http://<listen>)"},
    {"--retention-days", "MODELWATCH_RETENTION_DAYS", OPT_INT, OFF(retention_days),
     0, "days raw predictions are kept, 0 = forever (default 30)"},
    {"--eval-interval-seconds", "MODELWATCH_EVAL_INTERVAL_SECONDS", OPT_INT,
     OFF(eval_interval_seconds), 0,
     "scheduled drift evaluation of every version with a reference, 0 = never "
     "(default 300; a version's drift config may override)"},
    {"--eval-window-seconds", "MODELWATCH_EVAL_WINDOW_SECONDS", OPT_INT,
     OFF(eval_window_seconds), 0,
     "window a scheduled evaluation looks back over (default 3600)"},
    {"--drift-memory-mb", "MODELWATCH_DRIFT_MEMORY_MB", OPT_INT,
     OFF(drift_memory_mb), 0,
     "column data in flight during a drift report; larger windows are "
     "sampled for KS/Wasserstein (default 256)"},
    {"--drift-cache-mb", "MODELWATCH_DRIFT_CACHE_MB", OPT_INT, OFF(drift_cache_mb),
     0,
     "memory for the sorted values of recently reported windows, so a "
     "sliding window's next report reads only what changed, and for the "
     "versions' reference columns; 0 = off (default 256)"},
    {"--tls-cert", "MODELWATCH_TLS_CERT", OPT_STR, OFF(tls_cert), SZ(tls_cert),
     "PEM certificate: serve HTTPS"},
    {"--tls-key", "MODELWATCH_TLS_KEY", OPT_STR, OFF(tls_key), SZ(tls_key),
     "PEM private key for --tls-cert"},
    {"--allow-private-webhooks", "MODELWATCH_ALLOW_PRIVATE_WEBHOOKS", OPT_BOOL,
     OFF(allow_private_webhooks), 0,
     "on|off: allow webhook and node URLs on loopback/private addresses"},
    {"--allow-self-approval", "MODELWATCH_ALLOW_SELF_APPROVAL", OPT_BOOL,
     OFF(allow_self_approval), 0,
     "on|off: let the token that created a version approve or reject it "
     "(default off: four eyes)"},
    {"--rate-limit", "MODELWATCH_RATE_LIMIT", OPT_INT, OFF(rate_limit), 0,
     "API requests per second per token, 0 = unlimited (default 1000)"},
    {"--rate-burst", "MODELWATCH_RATE_BURST", OPT_INT, OFF(rate_burst), 0,
     "requests a token may send at once above the rate (default 2000)"},
    {"--alert-group-wait-seconds", "MODELWATCH_ALERT_GROUP_WAIT_SECONDS", OPT_INT,
     OFF(alert_group_wait_s), 0,
     "wait before the first notification of a new alert group (default 30)"},
    {"--alert-group-interval-seconds", "MODELWATCH_ALERT_GROUP_INTERVAL_SECONDS",
     OPT_INT, OFF(alert_group_interval_s), 0,
     "least time between notifications of a changed group (default 300)"},
    {"--alert-repeat-interval-seconds", "MODELWATCH_ALERT_REPEAT_INTERVAL_SECONDS",
     OPT_INT, OFF(alert_repeat_interval_s), 0,
     "resend an unchanged firing group after this long (default 14400)"},
    {"--rollout-tick-ms", "MODELWATCH_ROLLOUT_TICK_MS", OPT_INT,
     OFF(rollout_tick_ms), 0,
     "how often running rollouts are looked at, 50-60000 ms (default 1000)"},
    {"--delivery-workers", "MODELWATCH_DELIVERY_WORKERS", OPT_INT,
     OFF(delivery_workers), 0, "concurrent webhook transfers, 1-64 (default 8)"},
    {"--delivery-max-attempts", "MODELWATCH_DELIVERY_MAX_ATTEMPTS", OPT_INT,
     OFF(delivery_max_attempts), 0,
     "attempts before a webhook is dead (default 8: Standard Webhooks' schedule)"},
    {"--delivery-max-age-seconds", "MODELWATCH_DELIVERY_MAX_AGE_SECONDS", OPT_INT,
     OFF(delivery_max_age_seconds), 0,
     "age after which a webhook is no longer retried (default 259200)"},
    {"--delivery-timeout-ms", "MODELWATCH_DELIVERY_TIMEOUT_MS", OPT_INT,
     OFF(delivery_timeout_ms), 0, "one webhook request, in all (default 15000)"},
    {"--delivery-retention-days", "MODELWATCH_DELIVERY_RETENTION_DAYS", OPT_INT,
     OFF(delivery_retention_days), 0,
     "days delivered and dead webhooks (and their attempts) are kept after "
     "their last attempt, 0 = forever (default 7)"},
    {"--request-timeout-ms", "MODELWATCH_REQUEST_TIMEOUT_MS", OPT_INT,
     OFF(request_timeout_ms), 0,
     "longest a request body or a reply may make no progress (default 30000)"},
    {"--header-timeout-ms", "MODELWATCH_HEADER_TIMEOUT_MS", OPT_INT,
     OFF(header_timeout_ms), 0,
     "time to receive a request's headers, from its first byte or from the "
     "end of the previous reply on a kept-alive connection (default 10000)"},
    {"--metrics-public", "MODELWATCH_METRICS_PUBLIC", OPT_BOOL, OFF(metrics_public),
     0,
     "on|off: serve /metrics without a token (default off: a token with "
     "the read or metrics scope)"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static mw_status apply(mw_config *cfg, const struct opt *o, const char *val) {
  char *base = (char *)cfg + o->off;
  int64_t v;
  switch(o->kind) {
  case OPT_STR:
    return mw_strlcpy(base, val, o->size) ? MW_EINVAL : MW_OK;
  case OPT_INT:
    if(mw_parse_i64(val, &v) || v < 0 || v > 1000000000)
      return MW_EINVAL;
    *(int *)base = (int)v;
    return MW_OK;
  case OPT_SIZE:
    if(mw_parse_i64(val, &v) || v <= 0)
      return MW_EINVAL;
    if(o->off == OFF(max_body))
      *(size_t *)base = (size_t)v;
    else
      *(int64_t *)base = v;
    return MW_OK;
  case OPT_BOOL:
    if(!strcmp(val, "on") || !strcmp(val, "1") || !strcmp(val, "true"))
      *(int *)base = 1;
    else if(!strcmp(val, "off") || !strcmp(val, "0") || !strcmp(val, "false"))
      *(int *)base = 0;
    else
      return MW_EINVAL;
    return MW_OK;
  case OPT_SYNC:
    if(!strcmp(val, "full"))
      *(int *)base = 1;
    else if(!strcmp(val, "normal"))
      *(int *)base = 0;
    else
      return MW_EINVAL;
    return MW_OK;
  case OPT_LEVEL:
    return mw_log_parse_level(val, (enum mw_log_level *)base);
  case OPT_ARTIFACTS:
    if(!strcmp(val, "dir"))
      *(enum mw_artifact_store *)base = MW_ARTIFACTS_DIR;
    else if(!strcmp(val, "database"))
      *(enum mw_artifact_store *)base = MW_ARTIFACTS_DATABASE;
    else
      return MW_EINVAL;
    return MW_OK;
  }
  return MW_EINVAL;
}

void mw_config_defaults(mw_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mw_strlcpy(cfg->listen, "127.0.0.1:8080", sizeof cfg->listen);
  mw_strlcpy(cfg->data_dir, "./var", sizeof cfg->data_dir);
  cfg->threads = 64;
  cfg->max_body = 64u << 20;
  cfg->max_artifact = (int64_t)2 << 30;
  cfg->sync_full = 1;
  cfg->access_log = 1;
  cfg->log_level = MW_LOG_INFO;
  cfg->retention_days = 30;
  cfg->eval_interval_seconds = 300;
  cfg->eval_window_seconds = 3600;
  cfg->drift_memory_mb = 256;
  cfg->drift_cache_mb = 256;
  cfg->request_timeout_ms = 30000;
  cfg->header_timeout_ms = 10000;
  cfg->rate_limit = 1000;
  cfg->rate_burst = 2000;
  cfg->alert_group_wait_s = 30;
  cfg->rollout_tick_ms = 1000;
  cfg->alert_group_interval_s = 300;
  cfg->alert_repeat_interval_s = 4 * 3600;
  cfg->delivery_workers = 8;
  cfg->delivery_max_attempts = 8;
  cfg->delivery_max_age_seconds = 3 * 86400;
  cfg->delivery_timeout_ms = 15000;
  cfg->delivery_retention_days = 7;
  for(size_t i = 0; i < NOPTS; i++) {
    const char *v = getenv(opts[i].env);
    if(v && *v && apply(cfg, &opts[i], v))
      mw_log(MW_LOG_WARN, "config", "ignoring bad %s=%s", opts[i].env, v);
  }
}

mw_status mw_config_parse_args(mw_config *cfg, int argc, char **argv, char *err,
                               size_t errcap) {
  for(int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    const char *eq = strchr(arg, '=');
    size_t flen = eq ? (size_t)(eq - arg) : strlen(arg);
    const struct opt *o = NULL;
    for(size_t k = 0; k < NOPTS; k++)
      if(strlen(opts[k].flag) == flen && !strncmp(opts[k].flag, arg, flen))
        o = &opts[k];
    if(!o) {
      snprintf(err, errcap, "unknown option %s (see --help)", arg);
      return MW_EINVAL;
    }
    const char *val = eq ? eq + 1 : NULL;
    if(!val) {
      if(o->kind == OPT_BOOL && (i + 1 >= argc || argv[i + 1][0] == '-')) {
        val = "on";
      } else {
        if(i + 1 >= argc) {
          snprintf(err, errcap, "option %s needs a value", o->flag);
          return MW_EINVAL;
        }
        val = argv[++i];
      }
    }
    if(apply(cfg, o, val)) {
      snprintf(err, errcap, "bad value for %s: %s", o->flag, val);
      return MW_EINVAL;
    }
  }
  if(cfg->threads < 1)
    cfg->threads = 1;
  if(cfg->header_timeout_ms < 1)
    cfg->header_timeout_ms = 1;
  if(cfg->request_timeout_ms < 1)
    cfg->request_timeout_ms = 1;
  return MW_OK;
}

void mw_config_usage(FILE *out) {
  fprintf(out, "Options (each also read from its environment variable):\n");
  for(size_t i = 0; i < NOPTS; i++)
    fprintf(out, "  %-26s %-34s %s\n", opts[i].flag, opts[i].env, opts[i].help);
}
