/* Mixed-workload load generator for modelwatch (issue 7, "Load").
 *
 * N connections (default 64), each a thread with one keep-alive socket,
 * send a weighted mix for D seconds: prediction batches, registry reads,
 * drift queries and promotions. Prints per-endpoint throughput and p50/p99
 * latency, the error count (any status other than the expected one) and the
 * server's RSS at the start, after warm-up, along the run and at the end.
 *
 * Usage: bench_load PORT TOKEN SERVER_PID [SECONDS] [CONNECTIONS] [REQUESTS]
 * With REQUESTS > 0 the run lasts until that many requests were answered
 * (SECONDS is then only a cap) and the RSS is printed every tenth of them:
 * the soak that shows whether memory stays flat. Latency percentiles come
 * from a uniform reservoir sample of every request.
 * The server must hold model "load" with versions 1 and 2 (schema x0..x9
 * numeric, prediction numeric, both ready, v1 with a reference set); the
 * wrapper tests/bench/bench_load.sh prepares all of it. Not a test: it
 * prints figures and never fails on time. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { EP_INGEST, EP_MODEL, EP_VERSIONS, EP_VERSION, EP_DRIFT, EP_PROMOTE, NEP };
static const char *ep_names[NEP] = {"POST predictions (100 rows)", "GET model",
                                    "GET versions?limit=10", "GET version",
                                    "GET drift (last 60 s)", "PUT alias (promote)"};
/* Weights out of 1000. */
static const int ep_weight[NEP] = {150, 320, 160, 320, 20, 30};

#define SAMPLES 32768 /* latency samples kept per thread and endpoint */

struct stats {
  uint64_t count[NEP], errors[NEP];
  uint32_t *lat_us[NEP]; /* the first SAMPLES latencies */
  size_t nlat[NEP];
};

static int port;
static const char *token;
static volatile int stop;
static double seconds = 60;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if(connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while(n) {
    ssize_t w = write(fd, p, n);
    if(w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads one response; returns the status or -1. */
static int read_response(int fd, char *buf, size_t cap) {
  size_t have = 0;
  char *hdr_end = NULL;
  while(!hdr_end) {
    if(have == cap)
      return -1;
    ssize_t r = read(fd, buf + have, cap - have);
    if(r <= 0)
      return -1;
    have += (size_t)r;
    hdr_end = memmem(buf, have, "\r\n\r\n", 4);
  }
  int status = (int)strtol(buf + 9, NULL, 10);
  char *cl = memmem(buf, (size_t)(hdr_end - buf), "Content-Length: ", 16);
  size_t len = cl ? strtoul(cl + 16, NULL, 10) : 0;
  size_t body_have = have - (size_t)(hdr_end + 4 - buf);
  while(body_have < len) {
    char sink[65536];
    ssize_t r = read(fd, sink, sizeof sink < len - body_have ? sizeof sink : len - body_have);
    if(r <= 0)
      return -1;
    body_have += (size_t)r;
  }
  return status;
}

struct worker {
  pthread_t th;
  int id;
  struct stats st;
};

static void *run(void *arg) {
  struct worker *w = arg;
  unsigned seed = 12345u + (unsigned)w->id;
  char *req = malloc(1 << 20), *resp = malloc(1 << 20), *body = malloc(1 << 19);
  int fd = dial();
  uint64_t seq = 0;
  int version_flip = 0;
  while(!stop && fd >= 0) {
    int pick = rand_r(&seed) % 1000, ep = 0;
    while(pick >= ep_weight[ep]) {
      pick -= ep_weight[ep];
      ep++;
    }
    int n = 0, want = 200;
    switch(ep) {
    case EP_INGEST: {
      int b = snprintf(body, 1 << 19, "{\"predictions\":[");
      for(int i = 0; i < 100; i++) {
        b += snprintf(body + b, (1 << 19) - b, "%s{\"id\":\"w%d-%llu-%d\",\"features\":{", i ? "," : "",
                      w->id, (unsigned long long)seq, i);
        for(int k = 0; k < 10; k++)
          b += snprintf(body + b, (1 << 19) - b, "%s\"x%d\":%.4f", k ? "," : "", k,
                        (double)(rand_r(&seed) % 10000) / 1000.0);
        b += snprintf(body + b, (1 << 19) - b, "},\"prediction\":%.3f}",
                      (double)(rand_r(&seed) % 1000) / 1000.0);
      }
      b += snprintf(body + b, (1 << 19) - b, "]}");
      seq++;
      n = snprintf(req, 1 << 20,
                   "POST /api/v1/models/load/versions/1/predictions HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s", token, b, body);
      break;
    }
    case EP_MODEL:
      n = snprintf(req, 1 << 20, "GET /api/v1/models/load HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n", token);
      break;
    case EP_VERSIONS:
      n = snprintf(req, 1 << 20, "GET /api/v1/models/load/versions?limit=10 HTTP/1.1\r\n"
                   "Host: x\r\nAuthorization: Bearer %s\r\n\r\n", token);
      break;
    case EP_VERSION:
      n = snprintf(req, 1 << 20, "GET /api/v1/models/load/versions/%d HTTP/1.1\r\n"
                   "Host: x\r\nAuthorization: Bearer %s\r\n\r\n", 1 + rand_r(&seed) % 2, token);
      break;
    case EP_DRIFT: {
      time_t t = time(NULL) - 60;
      struct tm tm;
      gmtime_r(&t, &tm);
      char from[32];
      strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tm);
      n = snprintf(req, 1 << 20, "GET /api/v1/models/load/versions/1/drift?from=%s HTTP/1.1\r\n"
                   "Host: x\r\nAuthorization: Bearer %s\r\n\r\n", from, token);
      break;
    }
    case EP_PROMOTE:
      version_flip ^= 1;
      n = snprintf(body, 1 << 19, "{\"version\":%d,\"reason\":\"load\"}", 1 + version_flip);
      n = snprintf(req, 1 << 20, "PUT /api/v1/models/load/aliases/load-%d HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s", w->id, token, (int)strlen(body), body);
      break;
    }
    double t0 = now_s();
    int status = send_all(fd, req, (size_t)n) == 0 ? read_response(fd, resp, 1 << 20) : -1;
    double dt = now_s() - t0;
    __atomic_add_fetch(&w->st.count[ep], 1, __ATOMIC_RELAXED);
    if(status != want)
      w->st.errors[ep]++;
    /* Reservoir sampling (Vitter's algorithm R): every request of a long
     * soak has the same chance to be in the percentiles. */
    if(w->st.nlat[ep] < SAMPLES) {
      w->st.lat_us[ep][w->st.nlat[ep]++] = (uint32_t)(dt * 1e6);
    } else {
      uint64_t r = ((uint64_t)rand_r(&seed) << 31 | (uint64_t)rand_r(&seed)) %
                   w->st.count[ep];
      if(r < SAMPLES)
        w->st.lat_us[ep][r] = (uint32_t)(dt * 1e6);
    }
    if(status < 0) {
      close(fd);
      fd = dial();
    }
  }
  if(fd >= 0)
    close(fd);
  free(req);
  free(resp);
  free(body);
  return NULL;
}

static long rss_kb(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while(f && fgets(line, sizeof line, f))
    if(!strncmp(line, "VmRSS:", 6))
      kb = strtol(line + 6, NULL, 10);
  if(f)
    fclose(f);
  return kb;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if(argc < 4) {
    fprintf(stderr, "usage: bench_load PORT TOKEN SERVER_PID [SECONDS] [CONNECTIONS] "
                    "[REQUESTS]\n");
    return 2;
  }
  port = (int)strtol(argv[1], NULL, 10);
  token = argv[2];
  int pid = (int)strtol(argv[3], NULL, 10);
  if(argc > 4)
    seconds = atof(argv[4]);
  int nconn = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 64;
  uint64_t target = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
  struct worker *w = calloc((size_t)nconn, sizeof *w);
  for(int i = 0; i < nconn; i++) {
    w[i].id = i;
    for(int e = 0; e < NEP; e++)
      w[i].st.lat_us[e] = malloc(SAMPLES * sizeof(uint32_t));
  }
  long rss0 = rss_kb(pid);
  double t0 = now_s();
  for(int i = 0; i < nconn; i++)
    pthread_create(&w[i].th, NULL, run, &w[i]);
  long rss_warm = -1;
  uint64_t step = target ? (target + 9) / 10 : 0, next = step;
  while(now_s() - t0 < seconds) {
    usleep(200000);
    if(rss_warm < 0 && now_s() - t0 > 5)
      rss_warm = rss_kb(pid);
    if(!target)
      continue;
    uint64_t done = 0;
    for(int i = 0; i < nconn; i++)
      for(int e = 0; e < NEP; e++)
        done += __atomic_load_n(&w[i].st.count[e], __ATOMIC_RELAXED);
    if(done >= next) {
      printf("  %9llu requests, %5.0f s: server RSS %ld MB\n", (unsigned long long)done,
             now_s() - t0, rss_kb(pid) / 1024);
      fflush(stdout);
      next += step;
    }
    if(done >= target)
      break;
  }
  stop = 1;
  for(int i = 0; i < nconn; i++)
    pthread_join(w[i].th, NULL);
  double el = now_s() - t0;
  long rss1 = rss_kb(pid);
  uint64_t total = 0, errs = 0;
  printf("%d connections, %.0f s\n%-30s %10s %8s %9s %9s %7s\n", nconn, el, "endpoint", "requests",
         "req/s", "p50 ms", "p99 ms", "errors");
  for(int e = 0; e < NEP; e++) {
    size_t n = 0;
    uint64_t cnt = 0, er = 0;
    for(int i = 0; i < nconn; i++) {
      n += w[i].st.nlat[e];
      cnt += w[i].st.count[e];
      er += w[i].st.errors[e];
    }
    uint32_t *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for(int i = 0; i < nconn; i++) {
      size_t m = w[i].st.nlat[e];
      memcpy(all + k, w[i].st.lat_us[e], m * sizeof *all);
      k += m;
    }
    qsort(all, n, sizeof *all, cmp_u32);
    printf("%-30s %10llu %8.0f %9.2f %9.2f %7llu\n", ep_names[e], (unsigned long long)cnt,
           cnt / el, n ? all[n / 2] / 1e3 : 0, n ? all[(size_t)(n * 0.99)] / 1e3 : 0,
           (unsigned long long)er);
    total += cnt;
    errs += er;
    free(all);
  }
  printf("total %llu requests, %.0f req/s, %llu errors\n", (unsigned long long)total, total / el,
         (unsigned long long)errs);
  printf("server RSS: start %ld MB, after 5 s %ld MB, end %ld MB (growth after warm-up %+ld MB)\n",
         rss0 / 1024, rss_warm / 1024, rss1 / 1024, (rss1 - rss_warm) / 1024);
  return 0;
}
