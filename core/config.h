/* core/config.h - the server configuration: defaults, MODELWATCH_*
 * environment variables and flags. */
#ifndef MW_CORE_CONFIG_H
#define MW_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/log.h"

/* Where artifact bytes live (the registry's artifact seam): files under
 * <data-dir>/artifacts, or chunks in the database every replica shares. */
enum mw_artifact_store { MW_ARTIFACTS_DIR = 0, MW_ARTIFACTS_DATABASE = 1 };

typedef struct mw_config {
  char listen[256];           /* host:port, "127.0.0.1:8080" */
  char data_dir[1024];        /* "./var" */
  char database[1024];        /* PostgreSQL URL; "" = SQLite in data_dir */
  char secret_key_file[1024]; /* "" = <data_dir>/secret.key */
  int threads;                /* CivetWeb worker threads */
  size_t max_body;            /* JSON request bodies, bytes */
  int64_t max_artifact;       /* artifact uploads, bytes */
  enum mw_artifact_store artifact_store; /* dir (default) or database */
  int sync_full;                         /* synchronous=FULL */
  int access_log;                        /* one line per request on stderr */
  enum mw_log_level log_level;
  char external_url[512];    /* base URL used in links (dashboard, artifacts) */
  int retention_days;        /* raw predictions kept, 0 = forever */
  int eval_interval_seconds; /* scheduled drift evaluation, 0 = never */
  int eval_window_seconds;   /* window of a scheduled evaluation */
  int drift_memory_mb;       /* column data in flight during a drift report */
  int drift_cache_mb;        /* live-window cache of drift reports, 0 = off */
  char tls_cert[1024];
  char tls_key[1024];
  int allow_private_webhooks;
  int allow_self_approval;      /* a version's creator may approve it */
  int request_timeout_ms;       /* a body or reply making no progress (30000) */
  int header_timeout_ms;        /* receiving a request's headers (10000) */
  int metrics_public;           /* /metrics without a token */
  int rate_limit;               /* requests/s per token, 0 = off (1000) */
  int rate_burst;               /* bucket size per token (2000) */
  int alert_group_wait_s;       /* Alertmanager's group_wait (30) */
  int alert_group_interval_s;   /* group_interval (300) */
  int alert_repeat_interval_s;  /* repeat_interval (14400) */
  int delivery_workers;         /* concurrent webhook transfers (8) */
  int delivery_max_attempts;    /* attempts before dead (8) */
  int delivery_max_age_seconds; /* age before dead (259200, 3 days) */
  int delivery_timeout_ms;      /* one webhook request, in all (15000) */
  int delivery_retention_days;  /* delivered/dead rows kept, 0 = forever (7) */
  int rollout_tick_ms;          /* how often running rollouts are judged (1000) */
} mw_config;

/* Fills defaults, then applies MODELWATCH_* environment variables. */
void mw_config_defaults(mw_config *cfg);
/* Applies flags from argv (after the subcommand). Unknown flags ->
 * MW_EINVAL with a message in err. */
mw_status mw_config_parse_args(mw_config *cfg, int argc, char **argv, char *err,
                               size_t errcap);
/* Prints the flags, their environment variables and defaults. */
void mw_config_usage(FILE *out);

#endif
