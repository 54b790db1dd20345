/* core/fault.c - fault injection for test builds (cmake
 * -DMW_FAULT_INJECTION=ON, as `make build` and `make build-asan`
 * configure; off by default, and inert unless the server runs with
 * MODELWATCH_FAULT_FILE).
 *
 * With MODELWATCH_FAULT_FILE=<path>, a request starts when a CivetWeb
 * worker thread asks for its connection (the first thing web/server.c
 * does with a request). If <path> exists then, that request claims it
 * (renamed away first, so exactly one request takes it), reads one line -
 * "count", "prepare N" or "step N" - and counts its own statements through
 * mw__fault_hit, which each backend calls: SQLite counts each mw_stmt as a
 * prepare and each step or mw_exec as a step; PostgreSQL counts each
 * statement it runs as one prepare and one step. "prepare N" fails the
 * N-th prepare as a failed prepare would, "step N" the N-th step as an I/O
 * error would, without running it. After every counted statement
 * <path>.result holds "prepares P steps S fired F". Background threads
 * (schedulers, delivery) are never armed, so they cannot take a fault
 * meant for a request. */
#ifdef MW_FAULT_INJECTION
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/log.h"

static const char *fault_path; /* set once, before threads start */
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

enum fault_mode { FAULT_OFF, FAULT_COUNT, FAULT_PREPARE, FAULT_STEP };

/* The calling thread's armed request, if any. Thread-local: a request
 * runs on one worker thread from its first statement to its reply. */
static _Thread_local struct {
  enum fault_mode mode;
  long target; /* the prepare or step to fail, counted from 1 */
  long prepares, steps;
  int fired;
  char result[1200]; /* <path>.result */
} fault;

static void read_env(void) {
  const char *fp = getenv("MODELWATCH_FAULT_FILE");
  if(fp && *fp) {
    fault_path = fp;
    mw_log(MW_LOG_WARN, "db", "fault injection armed by %s (test builds only)", fp);
  }
}

void mw__fault_init(void) { pthread_once(&fault_once, read_env); }

static void fault_report(void) {
  int fd = open(fault.result, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if(fd < 0)
    return;
  char line[128];
  int n = snprintf(line, sizeof line, "prepares %ld steps %ld fired %d\n",
                   fault.prepares, fault.steps, fault.fired);
  if(n > 0 && write(fd, line, (size_t)n) != n)
    mw_log(MW_LOG_WARN, "db", "fault: cannot write %s", fault.result);
  close(fd);
}

void mw__fault_request_start(void) {
  fault.mode = FAULT_OFF;
  mw__fault_init();
  if(!fault_path)
    return;
  char name[32] = "";
  if(pthread_getname_np(pthread_self(), name, sizeof name) != 0 ||
     strncmp(name, "civetweb-worker", 15) != 0)
    return;
  char claimed[1200], line[64] = "";
  snprintf(claimed, sizeof claimed, "%s.%lu", fault_path,
           (unsigned long)pthread_self());
  if(rename(fault_path, claimed) != 0)
    return; /* nothing armed (or another request took it) */
  int fd = open(claimed, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
  if(fd >= 0)
    close(fd);
  unlink(claimed);
  line[n > 0 ? n : 0] = '\0';
  if(!strncmp(line, "count", 5)) {
    fault.mode = FAULT_COUNT;
    fault.target = 0;
  } else if(!strncmp(line, "prepare ", 8)) {
    fault.mode = FAULT_PREPARE;
    fault.target = strtol(line + 8, NULL, 10);
  } else if(!strncmp(line, "step ", 5)) {
    fault.mode = FAULT_STEP;
    fault.target = strtol(line + 5, NULL, 10);
  } else {
    mw_log(MW_LOG_WARN, "db", "fault: ignoring control line '%.40s'", line);
    return;
  }
  fault.prepares = fault.steps = 0;
  fault.fired = 0;
  snprintf(fault.result, sizeof fault.result, "%s.result", fault_path);
  fault_report();
}

int mw__fault_hit(enum mw_fault_kind kind, const char *sql) {
  if(fault.mode == FAULT_OFF || !sql || !strcmp(sql, "ROLLBACK"))
    return 0;
  long k = kind == MW_FAULT_PREPARE ? ++fault.prepares : ++fault.steps;
  int fire = (int)fault.mode == (int)kind + 1 && k == fault.target;
  if(fire) {
    fault.fired = 1;
    mw_log(MW_LOG_WARN, "db", "fault: failing %s %ld (%.60s)",
           kind == MW_FAULT_PREPARE ? "prepare" : "step", k, sql);
  }
  fault_report();
  return fire;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int mw__fault_unused;
#endif
