/* A minimal CivetWeb server for comparison with modelwatch's /healthz: the
 * same library, threads, keep-alive and TCP_NODELAY, answering a fixed JSON
 * body with no routing, auth, metrics or logging. Not a test. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int healthz(struct mg_connection *conn, void *cb) {
  (void)cb;
  static const char body[] = "{\"status\":\"ok\"}";
  mg_response_header_start(conn, 200);
  mg_response_header_add(conn, "Content-Type", "application/json", -1);
  mg_response_header_add(conn, "Content-Length", "15", -1);
  mg_response_header_send(conn);
  mg_write(conn, body, sizeof body - 1);
  return 200;
}

int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "127.0.0.1:18999";
  const char *opts[] = {"listening_ports", port, "num_threads", "64",
                        "enable_keep_alive", "yes", "tcp_nodelay", "1",
                        "keep_alive_timeout_ms", "30000", NULL};
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  mg_init_library(0);
  struct mg_context *ctx = mg_start(&cb, NULL, opts);
  if(!ctx) {
    fprintf(stderr, "cannot listen on %s\n", port);
    return 1;
  }
  mg_set_request_handler(ctx, "/healthz", healthz, NULL);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  while(!stop)
    usleep(100000);
  mg_stop(ctx);
  mg_exit_library();
  return 0;
}
