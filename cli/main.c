/* cli/main.c - the modelwatch command: serve, migrate, token, backup,
 * restore, rotate-key, version, and the client commands of cli/client.h. */
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
      "  modelwatch rotate-key --new-key-file PATH [options]\n"
      "                                  re-encrypt the stored credentials under\n"
      "                                  a new key (servers stopped; PATH is\n"
      "                                  created when missing)\n"
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
                              int64_t version, const char *segment, int64_t from_ms,
                              int64_t to_ms, cJSON **report) {
  *report = NULL;
  reg_version_info vi;
  mw_err err = {0};
  mw_status st = reg_version_lookup(c, model, version, &vi, &err);
  if(!st && segment) {
    /* A rule on one segment: that segment's report, which needs a
     * reference set (as drift does). */
    mon_version v = {vi.id, vi.model_id, model, vi.version, vi.schema_json};
    st = mon_drift_report_segment(ctx, c, &v, from_ms, to_ms, segment, report, &err);
  } else if(!st) {
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
  char kpath[1100], kerr[1500];
  if(mw_secrets_open(app->db, &app->cfg, kpath, sizeof kpath, kerr, sizeof kerr)) {
    fprintf(stderr, "modelwatch: %s\n", kerr);
    mw_db_close(app->db);
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

/* After a backup or a restore: the key that opens the copy's credentials
 * is in neither, and where it must be for a server to start on it. */
static void key_note(const mw_config *cfg, const char *db_file, int restore) {
  char id[16] = "", path[1100], err[1500];
  int explicit_file;
  if(mw_backup_key_id(db_file, id) ||
     mw_secret_key_path(cfg, path, sizeof path, &explicit_file))
    return;
  if(!id[0]) {
    fprintf(stderr, "modelwatch: this database was not yet served by a modelwatch "
                    "that encrypts credentials: its channel URLs and webhook "
                    "secrets are in plain text until the next start\n");
    return;
  }
  mw_secret_key k;
  int here = !mw_secret_key_load(path, &k, err, sizeof err) && !strcmp(k.id, id);
  mw_secret_key_wipe(&k);
  if(!restore)
    fprintf(stderr,
            "modelwatch: the secret key is NOT in the backup. Its channel URLs and "
            "the signing secrets of its channels, nodes and subscriptions are "
            "encrypted with key %s (%s%s): keep a copy of that key file apart "
            "from the backups (a password manager or a secret store). Without it "
            "they cannot be read and must be entered again; a restore needs it "
            "at <data-dir>/secret.key or named by --secret-key-file.\n",
            id, here ? "" : "not the key in ", path);
  else if(here)
    fprintf(stderr,
            "modelwatch: its credentials are encrypted with key %s, the "
            "key in %s\n",
            id, path);
  else
    fprintf(stderr,
            "modelwatch: its credentials are encrypted with key %s, which is not "
            "the key in %s: put the key file kept with this backup there (or "
            "name it with --secret-key-file) before starting the server\n",
            id, path);
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
            "recovery; artifacts kept in --data-dir are copied with it. The "
            "secret key (--secret-key-file, or secret.key in --data-dir) is in "
            "neither: keep it apart, the credentials in a dump cannot be read "
            "without it.\n",
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
  fflush(stdout);
  char db_file[1100];
  snprintf(db_file, sizeof db_file, "%s/modelwatch.db", cfg->data_dir);
  key_note(cfg, restore ? db_file : file, restore);
  return 0;
}

/* rotate-key runs with every server stopped: the leadership every
 * running server holds or competes for (SQLite: a flock beside the file,
 * PostgreSQL: an advisory lock) must be free, and no replica may have
 * beaten in the last 10 s. 0 when none runs; the lock is then held. */
static int no_server_running(mw_db *db) {
  mw_conn *c = mw_db_conn(db);
  int held = 0;
  if(!c || mw_db_leader(c, 1, &held) || !held) {
    fprintf(stderr, "modelwatch: a modelwatch server is running on this database "
                    "(one holds the cluster's leadership): stop every replica, "
                    "then run rotate-key again\n");
    return -1;
  }
  cJSON *list = NULL;
  int n =
      mw_cluster_list(c, &list)
          ? -1
          : cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "replicas"));
  cJSON_Delete(list);
  if(n != 0) {
    fprintf(stderr,
            n < 0 ? "modelwatch: cannot read the list of replicas\n"
                  : "modelwatch: a replica was seen in the last 10 seconds "
                    "(GET /api/v1/cluster): stop every replica (one that was "
                    "killed drops out after 10 s), then run rotate-key again\n");
    mw_db_leader(c, 0, NULL);
    return -1;
  }
  return 0;
}

/* The key in use (it must exist) and the new one (created when missing). */
static int rotate_keys(const mw_config *cfg, const char *new_path,
                       mw_secret_key *old_key, mw_secret_key *new_key) {
  char path[1100], err[1500] = "";
  int explicit_file;
  if(mw_secret_key_path(cfg, path, sizeof path, &explicit_file) ||
     mw_secret_key_load(path, old_key, err, sizeof err)) {
    fprintf(stderr, "modelwatch: the key in use: %s\n",
            err[0] ? err : "the path is too long");
    return -1;
  }
  struct stat sb;
  mw_status st = stat(new_path, &sb) == 0
                     ? mw_secret_key_load(new_path, new_key, err, sizeof err)
                     : mw_secret_key_create(new_path, new_key, err, sizeof err);
  if(st) {
    fprintf(stderr, "modelwatch: the new key: %s\n", err);
    return -1;
  }
  return 0;
}

/* Re-encrypts under the new key, with every server stopped. */
static int rotate_locked(mw_config *cfg, const char *new_path) {
  char dbpath[1100], err[1500] = "";
  mw_db *db = NULL;
  if(open_db(cfg, dbpath, sizeof dbpath, &db))
    return 1;
  mw_secret_key old_key, new_key;
  memset(&old_key, 0, sizeof old_key);
  memset(&new_key, 0, sizeof new_key);
  int rc = 1;
  if(!no_server_running(db)) {
    mw_secrets_stats st;
    if(!rotate_keys(cfg, new_path, &old_key, &new_key) &&
       !mw_secrets_rotate(db, &old_key, &new_key, &st, err, sizeof err)) {
      printf("modelwatch: re-encrypted %ld credential(s) under key %s (was %s), "
             "in one transaction.\n"
             "Now give every replica the new key file before starting it: "
             "replace %s/secret.key with %s, or name it with --secret-key-file "
             "(MODELWATCH_SECRET_KEY_FILE). The old key opens nothing any more.\n",
             st.resealed, new_key.id, old_key.id, cfg->data_dir, new_path);
      rc = 0;
    } else if(err[0]) {
      fprintf(stderr, "modelwatch: rotate-key failed, nothing changed: %s\n", err);
    }
    mw_db_leader(mw_db_conn(db), 0, NULL);
  }
  mw_secret_key_wipe(&old_key);
  mw_secret_key_wipe(&new_key);
  mw_db_close(db);
  return rc;
}

static int cmd_rotate_key(mw_config *cfg, int argc, char **argv) {
  const char *new_path = NULL;
  char *rest[64];
  int nrest = 0;
  for(int i = 0; i < argc; i++) {
    if(!strcmp(argv[i], "--new-key-file") && i + 1 < argc)
      new_path = argv[++i];
    else if(!strncmp(argv[i], "--new-key-file=", 15))
      new_path = argv[i] + 15;
    else if(nrest < 64)
      rest[nrest++] = argv[i];
  }
  char err[512];
  if(!new_path || mw_config_parse_args(cfg, nrest, rest, err, sizeof err)) {
    fprintf(stderr, "usage: modelwatch rotate-key --new-key-file PATH [--data-dir "
                    "DIR] [--database URL] [--secret-key-file OLD]\n");
    return 2;
  }
  /* A server on this data directory holds its lock shared. */
  int lock = -1;
  err[0] = 0;
  if(ensure_dir(cfg->data_dir) ||
     mw_datadir_lock(cfg->data_dir, 1, &lock, err, sizeof err)) {
    if(err[0])
      fprintf(stderr, "modelwatch: %s\n", err);
    return 1;
  }
  int rc = rotate_locked(cfg, new_path);
  mw_datadir_unlock(lock);
  return rc;
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
  } else if(!strcmp(cmd, "rotate-key")) {
    rc = cmd_rotate_key(&cfg, argc - 2, argv + 2);
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
