/* cli/main.c - the modelwatch command: serve, migrate, token, backup,
 * restore, version, and the client commands of cli/client.h. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gsl/gsl_errno.h>

#include "alerts/alerts.h"
#include "cli/client.h"
#include "monitor/monitor.h"
#include "registry/registry.h"
#include "rollouts/rollouts.h"
#include "web/web.h"

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void usage(FILE *out) {
  fprintf(
      out,
      "modelwatch %s - model registry, drift monitor and alerting\n\n"
      "Usage:\n"
      "  modelwatch serve [options]      run the HTTP server\n"
      "  modelwatch migrate [options]    apply database migrations and exit\n"
      "  modelwatch token create --name NAME --scopes read,promote [options]\n"
      "                                  create an API token and print it\n"
      "  modelwatch backup FILE [--data-dir DIR]\n"
      "                                  consistent copy of the database (and\n"
      "                                  artifacts to FILE.artifacts), while "
      "serving\n"
      "  modelwatch restore FILE [--data-dir DIR] [--force]\n"
      "                                  restore a backup into a data directory\n"
      "  modelwatch version              print the version\n"
      "  modelwatch --help               this help\n\n",
      MW_VERSION);
  cli_usage(out);
  fprintf(out, "serve, migrate, token, backup and restore take the server "
               "options.\n");
  mw_config_usage(out);
}

/* Creates the data directory (0700) if missing. */
static mw_status ensure_dir(const char *dir) {
  if(mkdir(dir, 0700) == 0 || errno == EEXIST)
    return MW_OK;
  mw_log(MW_LOG_ERROR, "cli", "cannot create data directory %s: %s", dir,
         strerror(errno));
  return MW_EIO;
}

/* The database cfg names into target (cap bytes): --database when set,
 * otherwise modelwatch.db in the data directory (created if missing). */
static mw_status db_target(const mw_config *cfg, char *target, size_t cap) {
  if(cfg->database[0]) {
    if(!mw_db_target_is_postgres(cfg->database)) {
      fprintf(stderr, "modelwatch: --database must be a postgresql:// URL or "
                      "libpq key=value settings (SQLite lives in --data-dir)\n");
      return MW_EINVAL;
    }
    return mw_strlcpy(target, cfg->database, cap) ? MW_EINVAL : MW_OK;
  }
  mw_status st = ensure_dir(cfg->data_dir);
  if(st)
    return st;
  int n = snprintf(target, cap, "%s/modelwatch.db", cfg->data_dir);
  return n < 0 || (size_t)n >= cap ? MW_EINVAL : MW_OK;
}

/* Opens and migrates the database of cfg. */
static mw_status open_db(const mw_config *cfg, char *path, size_t cap, mw_db **out) {
  mw_status st = db_target(cfg, path, cap);
  if(st)
    return st;
  st = mw_db_open(path, cfg->sync_full, out);
  if(st) {
    fprintf(stderr, "modelwatch: cannot open the database: %s\n", mw_strerror(st));
    return st;
  }
  st = mw_migrate(mw_db_conn(*out), NULL);
  if(st) {
    if(st == MW_ESCHEMA)
      fprintf(stderr, "modelwatch: %s\n", mw_strerror(st));
    mw_db_close(*out);
    *out = NULL;
  }
  return st;
}

/* On first start (no token at all) creates the admin token, prints it once
 * and writes it to <data-dir>/admin.token with mode 0600. */
static mw_status bootstrap_admin(const mw_config *cfg, mw_db *db) {
  mw_conn *c = mw_db_conn(db);
  int64_t n = 0;
  mw_status st = mw_token_count(c, &n);
  if(st || n > 0)
    return st;
  char secret[128];
  st = mw_token_create(c, "admin", MW_SCOPE_ADMIN, "system", secret, sizeof secret);
  if(st == MW_ECONFLICT) {
    /* Another replica sharing the database started at the same moment and
     * created it: its data directory holds the token. */
    mw_log(MW_LOG_INFO, "cli", "the admin token was created by another replica");
    return MW_OK;
  }
  if(st)
    return st;
  char path[1100];
  snprintf(path, sizeof path, "%s/admin.token", cfg->data_dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if(fd < 0 || fchmod(fd, 0600) != 0 ||
     write(fd, secret, strlen(secret)) != (ssize_t)strlen(secret) ||
     write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
    mw_log(MW_LOG_ERROR, "cli", "cannot write %s: %s", path, strerror(errno));
    if(fd >= 0)
      close(fd);
    return MW_EIO;
  }
  close(fd);
  printf("modelwatch: created the admin token (shown once, also in %s):\n%s\n", path,
         secret);
  fflush(stdout);
  return MW_OK;
}

/* The drift report an alert rule reads its metric from. */
/* The drift report an alert rule reads its metric from: the monitor's
 * report of the version over the rule's window. */
static mw_status alert_report(void *ctx, mw_conn *c, const char *model,
                              int64_t version, int64_t from_ms, int64_t to_ms,
                              cJSON **report) {
  *report = NULL;
  reg_version_info vi;
  mw_err err = {0};
  mw_status st = reg_version_lookup(c, model, version, &vi, &err);
  if(!st) {
    mon_version v = {vi.id, vi.model_id, model, vi.version, vi.schema_json};
    st = mon_drift_report(ctx, c, &v, from_ms, to_ms, report, &err);
    /* No reference set: volume and performance rules still get their
     * numbers; drift metrics find nothing (nodata). */
    if(st == MW_ECONFLICT)
      st = mon_window_summary(ctx, c, &v, from_ms, to_ms, report, &err);
  }
  reg_version_info_free(&vi);
  mw_err_clear(&err);
  return st;
}

/* Collects the artifact store (registry/artifacts.c): unreferenced
 * artifacts and what interrupted uploads left, at start-up and then hourly
 * from the main thread, which otherwise only waits for a signal. */
#define SWEEP_PERIOD_MS (3600 * 1000LL)
static void sweep_artifacts(mw_db *db, const struct reg_env *env) {
  reg_sweep_stats st;
  mw_conn *c = mw_db_conn(db);
  mw_status s = c ? reg_artifact_sweep(c, env, REG_ARTIFACT_GRACE_MS, &st) : MW_EDB;
  if(s)
    mw_log(MW_LOG_WARN, "cli", "artifact sweep failed (%s); next try in an hour",
           mw_strerror(s));
  else if(st.blobs_removed || st.temps_removed)
    mw_log(MW_LOG_INFO, "cli",
           "artifact sweep: %lld of %lld blobs no version names, %lld stale "
           "upload files removed",
           (long long)st.blobs_removed, (long long)st.blobs_seen,
           (long long)st.temps_removed);
}

/* The first half of serving: the data directory's lock (held shared while
 * serving: restore refuses to run under a server), the database, the
 * admin token, this replica's membership, the signals. 0 when all are
 * there; otherwise what was taken is given back. */
static int serve_open(struct mw_app *app, int *lock) {
  char lerr[512] = "";
  *lock = -1;
  if(ensure_dir(app->cfg.data_dir) ||
     mw_datadir_lock(app->cfg.data_dir, 0, lock, lerr, sizeof lerr)) {
    fprintf(stderr, "modelwatch: %s\n",
            lerr[0] ? lerr : "cannot create the data directory");
    return -1;
  }
  if(open_db(&app->cfg, app->db_path, sizeof app->db_path, &app->db)) {
    mw_datadir_unlock(*lock);
    return -1;
  }
  if(bootstrap_admin(&app->cfg, app->db) ||
     mw_cluster_start(app->db, app->cfg.listen, &app->cluster)) {
    mw_db_close(app->db);
    mw_datadir_unlock(*lock);
    return -1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

/* Serves until SIGINT or SIGTERM, sweeping unreferenced artifacts now and
 * then. */
static void serve_until_signal(struct mw_app *app, const struct reg_env *reg_env) {
  int64_t next_sweep = mw_now_ms() + SWEEP_PERIOD_MS;
  while(!g_stop) {
    usleep(100 * 1000);
    if(mw_now_ms() >= next_sweep) {
      sweep_artifacts(app->db, reg_env);
      next_sweep = mw_now_ms() + SWEEP_PERIOD_MS;
    }
  }
}

static int cmd_serve(mw_config *cfg) {
  struct mw_app app;
  memset(&app, 0, sizeof app);
  app.cfg = *cfg;
  app.started_ms = mw_now_ms();
  if(!app.cfg.external_url[0])
    snprintf(app.cfg.external_url, sizeof app.cfg.external_url, "%s://%s",
             app.cfg.tls_cert[0] ? "https" : "http", app.cfg.listen);
  int lock;
  if(serve_open(&app, &lock))
    return 1;
  mon_options mon_opts = {app.cfg.eval_interval_seconds,
                          app.cfg.eval_window_seconds,
                          app.cfg.retention_days,
                          app.cfg.drift_memory_mb,
                          2,
                          app.cfg.drift_cache_mb > 0 ? app.cfg.drift_cache_mb : -1,
                          app.cluster};
  struct reg_env reg_env = {app.cfg.data_dir, app.cfg.external_url,
                            app.cfg.artifact_store, app.cfg.allow_self_approval};
  struct alert_env alert_env = {
      .reg = &reg_env,
      .cluster = app.cluster,
      .external_url = app.cfg.external_url,
      .report = alert_report,
      .group_wait_ms = (int64_t)app.cfg.alert_group_wait_s * 1000,
      .group_interval_ms = (int64_t)app.cfg.alert_group_interval_s * 1000,
      .repeat_interval_ms = (int64_t)app.cfg.alert_repeat_interval_s * 1000,
  };
  struct rollout_env rollout_env = {&reg_env, NULL, app.cluster,
                                    app.cfg.external_url};
  rollout_controller *rollouts = NULL;
  alert_scheduler *alerts = NULL;
  struct alert_delivery_opts delivery_opts;
  alert_delivery_opts_from_config(&app.cfg, &delivery_opts);
  struct web_server *srv = NULL;
  int rc = 1;
  if(!mon_ctx_new(app.db, &mon_opts, &app.monitor)) {
    alert_env.report_ctx = app.monitor;
    rollout_env.mon = app.monitor;
    app.alert_env = &alert_env;
    sweep_artifacts(app.db, &reg_env);
    if(!alert_scheduler_start(app.db, &alert_env, &alerts) &&
       !alert_delivery_start(app.db, &delivery_opts, &app.delivery) &&
       !rollout_controller_start(app.db, &rollout_env, app.cfg.rollout_tick_ms,
                                 &rollouts) &&
       !web_server_start(&app, &srv)) {
      mon_scheduler_start(app.monitor);
      serve_until_signal(&app, &reg_env);
      mw_log(MW_LOG_INFO, "cli", "shutting down");
      rc = 0;
    }
  }
  app.stopping = 1;
  web_server_stop(srv);
  /* The alert scheduler's evaluations ask the monitor for reports: it
   * stops first (ASan saw one read the freed monitor at shutdown). */
  alert_scheduler_stop(alerts);
  rollout_controller_stop(rollouts); /* its analysis reads the monitor too */
  mon_ctx_free(app.monitor);         /* joins the scheduler before the db closes */
  alert_delivery_stop(app.delivery);
  app.delivery = NULL;
  mw_cluster_stop(app.cluster);
  mw_db_close(app.db);
  mw_datadir_unlock(lock);
  mw_log(MW_LOG_INFO, "cli", rc ? "could not start" : "stopped");
  return rc;
}

static int cmd_migrate(mw_config *cfg) {
  char path[1100];
  mw_db *db = NULL;
  if(db_target(cfg, path, sizeof path))
    return 1;
  if(mw_db_open(path, cfg->sync_full, &db)) {
    fprintf(stderr, "modelwatch: cannot open the database\n");
    return 1;
  }
  int applied = 0, version = 0;
  mw_status st = mw_migrate(mw_db_conn(db), &applied);
  if(!st)
    st = mw_schema_version(mw_db_conn(db), &version);
  mw_db_close(db);
  if(st) {
    fprintf(stderr, "modelwatch: migrate failed: %s\n", mw_strerror(st));
    return 1;
  }
  printf("modelwatch: applied %d migration(s); schema version %d\n", applied,
         version);
  return 0;
}

static int cmd_token(mw_config *cfg, int argc, char **argv) {
  if(argc < 1 || strcmp(argv[0], "create") != 0) {
    fprintf(stderr, "usage: modelwatch token create --name NAME --scopes "
                    "read,ingest,promote,admin [--models fraud,churn-*] "
                    "[options]\n");
    return 2;
  }
  const char *name = NULL;
  char scopes[256] = "", models[4096] = "";
  char *rest[64];
  int nrest = 0;
  for(int i = 1; i < argc; i++) {
    if(!strcmp(argv[i], "--name") && i + 1 < argc)
      name = argv[++i];
    else if(!strncmp(argv[i], "--name=", 7))
      name = argv[i] + 7;
    else if(!strcmp(argv[i], "--scopes") && i + 1 < argc)
      mw_strlcpy(scopes, argv[++i], sizeof scopes);
    else if(!strncmp(argv[i], "--scopes=", 9))
      mw_strlcpy(scopes, argv[i] + 9, sizeof scopes);
    else if(!strcmp(argv[i], "--models") && i + 1 < argc)
      mw_strlcpy(models, argv[++i], sizeof models);
    else if(!strncmp(argv[i], "--models=", 9))
      mw_strlcpy(models, argv[i] + 9, sizeof models);
    else if(nrest < 64)
      rest[nrest++] = argv[i];
  }
  char err[256];
  if(mw_config_parse_args(cfg, nrest, rest, err, sizeof err)) {
    fprintf(stderr, "modelwatch: %s\n", err);
    return 2;
  }
  unsigned bits = 0;
  char *save = NULL;
  for(char *s = strtok_r(scopes, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
    unsigned b = mw_scope_parse(s);
    if(!b) {
      fprintf(stderr, "modelwatch: unknown scope %s\n", s);
      return 2;
    }
    bits |= b;
  }
  if(!name || !bits) {
    fprintf(stderr, "modelwatch: token create needs --name and --scopes\n");
    return 2;
  }
  char path[1100];
  mw_db *db = NULL;
  if(open_db(cfg, path, sizeof path, &db))
    return 1;
  /* --models a,b*: a token limited to those models. An empty list would
   * read as "every model": refused. */
  int limited = 0;
  for(int i = 1; i < argc; i++)
    limited |= !strcmp(argv[i], "--models") || !strncmp(argv[i], "--models=", 9);
  if(limited && !models[0]) {
    fprintf(stderr, "modelwatch: --models needs at least one model name\n");
    mw_db_close(db);
    return 2;
  }
  cJSON *limit = models[0] ? cJSON_CreateArray() : NULL;
  for(char *s = strtok_r(models, ",", &save); s; s = strtok_r(NULL, ",", &save))
    cJSON_AddItemToArray(limit, cJSON_CreateString(s));
  char secret[128];
  mw_err e = {0};
  mw_status st = mw_token_create_limited(mw_db_conn(db), name, bits, limit, "cli",
                                         secret, sizeof secret, &e);
  mw_db_close(db);
  cJSON_Delete(limit);
  if(st) {
    fprintf(stderr, "modelwatch: cannot create token: %s\n",
            st == MW_ECONFLICT ? "the name is taken"
            : e.msg[0]         ? e.msg
                               : mw_strerror(st));
    return 1;
  }
  printf("%s\n", secret);
  return 0;
}

/* backup FILE / restore FILE [--force], with the usual options. */
static int cmd_backup(mw_config *cfg, int restore, int argc, char **argv) {
  const char *file = NULL;
  int force = 0;
  char *rest[64];
  int nrest = 0;
  for(int i = 0; i < argc; i++) {
    if(!strcmp(argv[i], "--force"))
      force = 1;
    else if(argv[i][0] != '-' && !file &&
            (i == 0 || argv[i - 1][0] != '-' || strchr(argv[i - 1], '=')))
      file = argv[i];
    else if(nrest < 64)
      rest[nrest++] = argv[i];
  }
  char err[512];
  if(!file || mw_config_parse_args(cfg, nrest, rest, err, sizeof err)) {
    fprintf(stderr, "usage: modelwatch %s FILE [--data-dir DIR]%s\n",
            restore ? "restore" : "backup", restore ? " [--force]" : "");
    return 2;
  }
  if(cfg->database[0]) {
    /* PostgreSQL has its own tools, consistent under concurrent writes
     * and with point-in-time recovery; a copy made here could not do
     * better. */
    fprintf(stderr,
            "modelwatch: %s works on the embedded SQLite database only. With "
            "PostgreSQL use its tools: pg_dump -Fc (and pg_restore) for a "
            "consistent copy, or continuous archiving (WAL) for point-in-time "
            "recovery; artifacts kept in --data-dir are copied with it.\n",
            restore ? "restore" : "backup");
    return 1;
  }
  mw_status st = restore ? mw_restore(file, cfg->data_dir, force, err, sizeof err)
                         : mw_backup(cfg->data_dir, file, err, sizeof err);
  if(st) {
    fprintf(stderr, "modelwatch: %s failed: %s\n", restore ? "restore" : "backup",
            err);
    return 1;
  }
  printf("modelwatch: %s %s %s\n", restore ? "restored" : "backed up",
         restore ? "into" : "to", restore ? cfg->data_dir : file);
  return 0;
}

int main(int argc, char **argv) {
  /* glibc gives each busy thread its own malloc arena; with 64 HTTP workers
   * each keeping the freed pages of large drift buffers, RSS grew by
   * hundreds of MB under load. A few shared arenas keep it bounded. */
  mallopt(M_ARENA_MAX, 4);
  /* Allocations of 1 MiB and more (window columns, cached windows, bodies)
   * are mapped and unmapped on their own. Left alone, glibc raises this
   * threshold to the size of the last freed block (up to 32 MiB), after
   * which such buffers come from the arenas and their freed pages stay in
   * the process: RSS grew by ~300 MB in a 60 s load run. */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  /* Libraries that keep global state are initialised before any thread. */
  web_library_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  gsl_set_error_handler_off();

  mw_config cfg;
  mw_config_defaults(&cfg);
  mw_log_set_level(cfg.log_level);
  if(argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
     !strcmp(argv[1], "help")) {
    usage(stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  int rc;
  if(cli_is_command(argc - 1, argv + 1)) {
    rc = cli_main(argc - 1, argv + 1);
  } else if(!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("modelwatch %s (schema %d)\n", MW_VERSION, mw_migrations_latest());
    rc = 0;
  } else if(!strcmp(cmd, "backup") || !strcmp(cmd, "restore")) {
    rc = cmd_backup(&cfg, !strcmp(cmd, "restore"), argc - 2, argv + 2);
  } else if(!strcmp(cmd, "token")) {
    rc = cmd_token(&cfg, argc - 2, argv + 2);
  } else if(!strcmp(cmd, "serve") || !strcmp(cmd, "migrate")) {
    char err[256];
    for(int i = 2; i < argc; i++)
      if(!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
        usage(stdout);
        return 0;
      }
    if(mw_config_parse_args(&cfg, argc - 2, argv + 2, err, sizeof err)) {
      fprintf(stderr, "modelwatch: %s\n", err);
      return 2;
    }
    mw_log_set_level(cfg.log_level);
    rc = !strcmp(cmd, "serve") ? cmd_serve(&cfg) : cmd_migrate(&cfg);
  } else {
    fprintf(stderr, "modelwatch: unknown command %s (see --help)\n", cmd);
    rc = 2;
  }
  curl_global_cleanup();
  web_library_exit();
  return rc;
}
