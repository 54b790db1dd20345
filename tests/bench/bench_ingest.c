/* bench_ingest - prediction ingest over HTTP next to a straight insert of
 * the same rows into the database, in the same run: SQLite, or with
 * --pg-url a PostgreSQL COPY.
 *
 *   bench_ingest --port P --token T [--model m] [--clients 4]
 *                [--seconds 10] [--batch 1000] [--ids none|seq|uuid]
 *                [--sqlite-dir DIR] [--sync full|normal] [--pg-url URL]
 *
 * Each client is a thread with one keep-alive connection that POSTs batches
 * of `batch` predictions (10 numeric features + a numeric prediction,
 * values printed with 17 significant digits as Python's json does) to
 * /api/v1/models/<m>/versions/1/predictions for `seconds`. Bodies are built
 * once per client; only the ids are patched between batches, so the client
 * costs little CPU next to the server on the same machine.
 *
 * The straight insert writes the same rows (timestamp, id, 10 REAL, REAL)
 * as one row per prediction into a fresh WAL database with the same
 * synchronous setting, a prepared statement and one transaction per batch,
 * with a UNIQUE index on the id when the rows carry ids (what uniqueness
 * costs either way). With --pg-url the same rows go instead into a fresh
 * table of that PostgreSQL database with COPY ... FROM STDIN in binary
 * format (the fastest way in), one COPY and one transaction per batch, the
 * UNIQUE index likewise. Prints both rates and their ratio. Never fails on
 * time. */
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NFEAT 10

static int g_port = 8080, g_clients = 4, g_batch = 1000;
static double g_seconds = 10;
static const char *g_token = "", *g_model = "m", *g_ids = "seq";
static const char *g_sqlite_dir = "/tmp", *g_sync = "full", *g_pg_url = NULL;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* xorshift64*: cheap, reproducible values. */
static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

static double unif(uint64_t *s) { return (double)(rnd(s) >> 11) / 9007199254740992.0; }

/* Where the id of each row sits in the body (fixed width, patched). */
struct client {
  int index;
  char *body;
  size_t len;
  size_t *id_off; /* offset of the 12-digit counter in each row's id */
  uint64_t seed;
  long batches, errors;
  double *vals; /* batch x (NFEAT + 1), the values of the body */
};

static void build_body(struct client *c) {
  size_t cap = (size_t)g_batch * 600 + 64;
  c->body = malloc(cap);
  c->id_off = malloc((size_t)g_batch * sizeof *c->id_off);
  c->vals = malloc((size_t)g_batch * (NFEAT + 1) * sizeof *c->vals);
  size_t n = 0;
  n += (size_t)snprintf(c->body + n, cap - n, "{\"predictions\":[");
  for(int i = 0; i < g_batch; i++) {
    n += (size_t)snprintf(c->body + n, cap - n, "%s{", i ? "," : "");
    if(strcmp(g_ids, "none")) {
      /* seq: "c03-000000000000-0456": a per-client counter, so ids grow;
       * uuid: 32 random hex digits, the counter only keeps them unique. */
      if(!strcmp(g_ids, "uuid")) {
        n += (size_t)snprintf(c->body + n, cap - n, "\"id\":\"");
        c->id_off[i] = n;
        n += (size_t)snprintf(c->body + n, cap - n, "%032d\",", 0);
      } else {
        n += (size_t)snprintf(c->body + n, cap - n, "\"id\":\"c%02d-", c->index);
        c->id_off[i] = n;
        n += (size_t)snprintf(c->body + n, cap - n, "000000000000-%04d\",", i);
      }
    }
    n += (size_t)snprintf(c->body + n, cap - n, "\"features\":{");
    for(int f = 0; f < NFEAT; f++) {
      double v = (unif(&c->seed) - 0.5) * 10 + f;
      c->vals[i * (NFEAT + 1) + f] = v;
      n += (size_t)snprintf(c->body + n, cap - n, "%s\"f%d\":%.17g", f ? "," : "", f, v);
    }
    double p = unif(&c->seed);
    c->vals[i * (NFEAT + 1) + NFEAT] = p;
    n += (size_t)snprintf(c->body + n, cap - n, "},\"prediction\":%.17g}", p);
  }
  n += (size_t)snprintf(c->body + n, cap - n, "]}");
  c->len = n;
}

/* Writes the batch counter into every id (12 digits, fixed width), or in
 * uuid mode 32 fresh random hex digits per row, as UUIDv4 ids are. */
static void patch_ids(struct client *c, long batch) {
  if(!strcmp(g_ids, "none"))
    return;
  char digits[40];
  if(!strcmp(g_ids, "uuid")) {
    for(int i = 0; i < g_batch; i++) {
      snprintf(digits, sizeof digits, "%016llx%016llx",
               (unsigned long long)rnd(&c->seed), (unsigned long long)rnd(&c->seed));
      memcpy(c->body + c->id_off[i], digits, 32);
    }
    return;
  }
  snprintf(digits, sizeof digits, "%012llu", (unsigned long long)batch);
  for(int i = 0; i < g_batch; i++)
    memcpy(c->body + c->id_off[i], digits, 12);
}

static int connect_server(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if(connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int write_all(int fd, const char *p, size_t n) {
  while(n) {
    ssize_t k = write(fd, p, n);
    if(k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Reads one HTTP response; returns its status or -1. */
static int read_response(int fd) {
  char buf[8192];
  size_t n = 0;
  char *hdr_end = NULL;
  while(!hdr_end) {
    if(n == sizeof buf - 1)
      return -1;
    ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
    if(k <= 0)
      return -1;
    n += (size_t)k;
    buf[n] = '\0';
    hdr_end = strstr(buf, "\r\n\r\n");
  }
  int status = 0;
  if(sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    return -1;
  long clen = 0;
  char *cl = strcasestr(buf, "Content-Length:");
  if(cl)
    clen = strtol(cl + 15, NULL, 10);
  size_t have = n - (size_t)(hdr_end + 4 - buf);
  while((long)have < clen) {
    ssize_t k = read(fd, buf, sizeof buf);
    if(k <= 0)
      return -1;
    have += (size_t)k;
  }
  return status;
}

static volatile int g_go, g_stop;

static void *client_main(void *arg) {
  struct client *c = arg;
  int fd = connect_server();
  if(fd < 0) {
    c->errors++;
    return NULL;
  }
  char head[512];
  int hl = snprintf(head, sizeof head,
                    "POST /api/v1/models/%s/versions/1/predictions HTTP/1.1\r\n"
                    "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                    g_model, g_token, c->len);
  while(!__atomic_load_n(&g_go, __ATOMIC_ACQUIRE))
    usleep(100);
  long batch = (long)c->index * 100000000L;
  while(!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
    patch_ids(c, batch++);
    if(write_all(fd, head, (size_t)hl) || write_all(fd, c->body, c->len)) {
      c->errors++;
      break;
    }
    int st = read_response(fd);
    if(st != 200) {
      if(c->errors++ < 3)
        fprintf(stderr, "client %d: status %d\n", c->index, st);
      if(st < 0)
        break;
      continue;
    }
    c->batches++;
  }
  close(fd);
  return NULL;
}

static void ex(sqlite3 *db, const char *sql) {
  char *e = NULL;
  if(sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, e);
    exit(1);
  }
}

/* The same rows, one row per prediction, straight into SQLite. */
static double straight_insert(struct client *cl, long nbatches) {
  char path[1100];
  snprintf(path, sizeof path, "%s/straight.db", g_sqlite_dir);
  for(const char *suf = ""; ; suf = suf[0] ? NULL : "-wal") {
    char p[1200];
    snprintf(p, sizeof p, "%s%s", path, suf);
    unlink(p);
    if(!suf)
      break;
  }
  sqlite3 *db;
  if(sqlite3_open(path, &db) != SQLITE_OK)
    return 0;
  char pragma[200];
  snprintf(pragma, sizeof pragma,
           "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
           !strcmp(g_sync, "normal") ? "NORMAL" : "FULL");
  ex(db, pragma);
  ex(db, "CREATE TABLE p(ts INTEGER, id TEXT, f0 REAL, f1 REAL, f2 REAL, "
         "f3 REAL, f4 REAL, f5 REAL, f6 REAL, f7 REAL, f8 REAL, f9 REAL, "
         "prediction REAL)");
  if(strcmp(g_ids, "none"))
    ex(db, "CREATE UNIQUE INDEX p_id ON p(id)");
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "INSERT INTO p VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st,
                     NULL);
  char id[64];
  double t0 = now_s();
  for(long b = 0; b < nbatches; b++) {
    struct client *c = &cl[b % g_clients];
    ex(db, "BEGIN IMMEDIATE");
    for(int i = 0; i < g_batch; i++) {
      sqlite3_bind_int64(st, 1, 1795766400000LL + b);
      if(strcmp(g_ids, "none")) {
        unsigned long long v = (unsigned long long)b;
        if(!strcmp(g_ids, "uuid"))
          snprintf(id, sizeof id, "%016llx%016llx",
                   (unsigned long long)rnd(&c->seed),
                   (unsigned long long)rnd(&c->seed));
        else
          snprintf(id, sizeof id, "c%02d-%012llu-%04d", c->index, v, i);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
      }
      for(int f = 0; f <= NFEAT; f++)
        sqlite3_bind_double(st, 3 + f, c->vals[i * (NFEAT + 1) + f]);
      if(sqlite3_step(st) != SQLITE_DONE) {
        fprintf(stderr, "straight insert: %s\n", sqlite3_errmsg(db));
        exit(1);
      }
      sqlite3_reset(st);
    }
    ex(db, "COMMIT");
  }
  double dt = now_s() - t0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  unlink(path);
  return (double)nbatches * g_batch / dt;
}

/* ---------------------------------------------------- PostgreSQL COPY */

static void pg_ex(PGconn *pg, const char *sql) {
  PGresult *r = PQexec(pg, sql);
  if(PQresultStatus(r) != PGRES_COMMAND_OK) {
    fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(pg));
    exit(1);
  }
  PQclear(r);
}

static void put_be(unsigned char *p, uint64_t v, int n) {
  for(int i = 0; i < n; i++)
    p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

/* Appends one field (4-byte length, then the bytes) to a COPY buffer. */
static size_t field(unsigned char *p, const void *data, size_t len) {
  put_be(p, len, 4);
  memcpy(p + 4, data, len);
  return 4 + len;
}

/* The same rows, one row per prediction, COPYed (binary) into PostgreSQL. */
static double straight_copy(struct client *cl, long nbatches) {
  PGconn *pg = PQconnectdb(g_pg_url);
  if(PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "cannot connect: %s\n", PQerrorMessage(pg));
    exit(1);
  }
  pg_ex(pg, "DROP TABLE IF EXISTS p");
  pg_ex(pg, "CREATE TABLE p(ts bigint, id text, f0 float8, f1 float8, f2 float8, "
            "f3 float8, f4 float8, f5 float8, f6 float8, f7 float8, f8 float8, "
            "f9 float8, prediction float8)");
  if(strcmp(g_ids, "none"))
    pg_ex(pg, "CREATE UNIQUE INDEX p_id ON p(id)");
  size_t cap = (size_t)g_batch * (2 + 13 * 4 + 8 + 64 + 11 * 8) + 64;
  unsigned char *buf = malloc(cap);
  char id[64];
  double t0 = now_s();
  for(long b = 0; b < nbatches; b++) {
    struct client *c = &cl[b % g_clients];
    size_t n = 0;
    memcpy(buf, "PGCOPY\n\377\r\n\0", 11);
    memset(buf + 11, 0, 8); /* flags, header extension */
    n = 19;
    for(int i = 0; i < g_batch; i++) {
      unsigned char v[8];
      put_be(buf + n, 13, 2);
      n += 2;
      put_be(v, (uint64_t)(1795766400000LL + b), 8);
      n += field(buf + n, v, 8);
      if(strcmp(g_ids, "none")) {
        if(!strcmp(g_ids, "uuid"))
          snprintf(id, sizeof id, "%016llx%016llx",
                   (unsigned long long)rnd(&c->seed),
                   (unsigned long long)rnd(&c->seed));
        else
          snprintf(id, sizeof id, "c%02d-%012llu-%04d", c->index,
                   (unsigned long long)b, i);
        n += field(buf + n, id, strlen(id));
      } else {
        put_be(buf + n, 0xffffffffu, 4); /* NULL */
        n += 4;
      }
      for(int f = 0; f <= NFEAT; f++) {
        uint64_t u;
        memcpy(&u, &c->vals[i * (NFEAT + 1) + f], 8);
        put_be(v, u, 8);
        n += field(buf + n, v, 8);
      }
    }
    put_be(buf + n, 0xffff, 2);
    n += 2;
    PGresult *r = PQexec(pg, "COPY p FROM STDIN (FORMAT binary)");
    if(PQresultStatus(r) != PGRES_COPY_IN || PQputCopyData(pg, (char *)buf, (int)n) != 1 ||
       PQputCopyEnd(pg, NULL) != 1) {
      fprintf(stderr, "COPY: %s\n", PQerrorMessage(pg));
      exit(1);
    }
    PQclear(r);
    r = PQgetResult(pg);
    if(PQresultStatus(r) != PGRES_COMMAND_OK) {
      fprintf(stderr, "COPY: %s\n", PQerrorMessage(pg));
      exit(1);
    }
    PQclear(r);
    while((r = PQgetResult(pg)))
      PQclear(r);
  }
  double dt = now_s() - t0;
  free(buf);
  pg_ex(pg, "DROP TABLE p");
  PQfinish(pg);
  return (double)nbatches * g_batch / dt;
}

int main(int argc, char **argv) {
  for(int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if(!strcmp(k, "--port"))
      g_port = (int)strtol(v, NULL, 10);
    else if(!strcmp(k, "--token"))
      g_token = v;
    else if(!strcmp(k, "--model"))
      g_model = v;
    else if(!strcmp(k, "--clients"))
      g_clients = (int)strtol(v, NULL, 10);
    else if(!strcmp(k, "--seconds"))
      g_seconds = strtod(v, NULL);
    else if(!strcmp(k, "--batch"))
      g_batch = (int)strtol(v, NULL, 10);
    else if(!strcmp(k, "--ids"))
      g_ids = v;
    else if(!strcmp(k, "--sqlite-dir"))
      g_sqlite_dir = v;
    else if(!strcmp(k, "--sync"))
      g_sync = v;
    else if(!strcmp(k, "--pg-url"))
      g_pg_url = v;
    else {
      fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  if(g_clients < 1 || g_clients > 64 || g_batch < 1 || g_batch > 100000)
    return 2;
  struct client *cl = calloc((size_t)g_clients, sizeof *cl);
  pthread_t *th = calloc((size_t)g_clients, sizeof *th);
  size_t body_bytes = 0;
  for(int i = 0; i < g_clients; i++) {
    cl[i].index = i;
    cl[i].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
    build_body(&cl[i]);
    body_bytes = cl[i].len;
    pthread_create(&th[i], NULL, client_main, &cl[i]);
  }
  usleep(200000);
  double t0 = now_s();
  __atomic_store_n(&g_go, 1, __ATOMIC_RELEASE);
  usleep((useconds_t)(g_seconds * 1e6));
  __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
  long batches = 0, errors = 0;
  for(int i = 0; i < g_clients; i++) {
    pthread_join(th[i], NULL);
    batches += cl[i].batches;
    errors += cl[i].errors;
  }
  double dt = now_s() - t0;
  double http_rate = (double)batches * g_batch / dt;
  printf("ingest over HTTP: %d clients, batches of %d (%zu-byte bodies), ids=%s, "
         "sync=%s\n",
         g_clients, g_batch, body_bytes, g_ids, g_sync);
  printf("  %ld batches in %.2f s, %ld errors: %.0f predictions/s (%.1f MB/s of "
         "JSON)\n",
         batches, dt, errors, http_rate, (double)batches * body_bytes / dt / 1e6);
  long sb = batches < 50 ? 50 : batches;
  if(g_pg_url) {
    double cp_rate = straight_copy(cl, sb);
    printf("straight PostgreSQL COPY of the same rows (binary, one row per "
           "prediction%s, one COPY and transaction per batch): %.0f rows/s\n",
           strcmp(g_ids, "none") ? ", UNIQUE id index" : "", cp_rate);
    printf("  ratio HTTP / COPY: %.2f\n", http_rate / cp_rate);
  } else {
    double sq_rate = straight_insert(cl, sb);
    printf("straight SQLite insert of the same rows (one row per prediction%s, "
           "one transaction per batch, sync=%s): %.0f rows/s\n",
           strcmp(g_ids, "none") ? ", UNIQUE id index" : "", g_sync, sq_rate);
    printf("  ratio HTTP / straight insert: %.2f\n", http_rate / sq_rate);
  }
  for(int i = 0; i < g_clients; i++) {
    free(cl[i].body);
    free(cl[i].id_off);
    free(cl[i].vals);
  }
  free(cl);
  free(th);
  return 0;
}
