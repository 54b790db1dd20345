/* web/web.h - the HTTP face of modelwatch: CivetWeb server, router, auth,
 * handlers, /metrics and the dashboard. The only subsystem that knows HTTP. */
#ifndef MW_WEB_H
#define MW_WEB_H

#include "core/core.h"

struct web_metrics;
struct web_server;
struct mon_ctx;
struct alert_env;
struct alert_delivery;
struct web_ratelimit;

/* Everything a request handler can reach; handed to CivetWeb as user data.
 * Built by cli/main.c; no mutable globals anywhere else. */
struct mw_app {
  mw_config cfg;
  mw_db *db;
  char db_path[1100];
  int64_t started_ms;
  struct web_metrics *metrics;
  struct mon_ctx *monitor;           /* monitor subsystem (ingest lock, counters) */
  struct web_ratelimit *ratelimit;   /* NULL: no per-token limit */
  const struct alert_env *alert_env; /* NULL until the evaluator runs */
  struct alert_delivery *delivery;   /* the worker (outbox metrics); may be NULL */
  mw_cluster *cluster;               /* this replica; NULL in tests */
  volatile int stopping;
};

/* Initialises and releases CivetWeb's process-wide state (TLS, websocket
 * support): once in main(), before any thread starts and after the last
 * one stopped. */
void web_library_init(void);
void web_library_exit(void);

/* Starts the HTTP server on app->cfg.listen (and creates app->metrics).
 * Caller frees with
 * web_server_stop. MW_EIO (logged) when the port cannot be bound. */
mw_status web_server_start(struct mw_app *app, struct web_server **out);
/* Stops accepting, finishes in-flight requests and frees the server. */
void web_server_stop(struct web_server *srv);

/* ---- routing, exposed for unit tests ---- */

#define WEB_MAX_PARAMS 6

/* Matches a path like "/api/v1/models/m1/versions/3" against a pattern like
 * "/api/v1/models/{name}/versions/{v}". On a match returns 1 and stores each
 * {param} value (percent-decoded, NUL-terminated) in vals[i] (each of
 * valcap bytes) with its name in names[i] (borrowed from pattern, length in
 * namelen[i]); *nparams receives the count. Returns 0 when the path does not
 * match, or a value does not fit. */
int web_route_match(const char *pattern, const char *path, char vals[][256],
                    const char *names[], size_t namelen[], int *nparams);

#endif
