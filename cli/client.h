/* cli/client.h - the HTTP client subcommands of modelwatch, for CI jobs:
 * `model create`, `version create|upload`, `promote`, `rollback`,
 * `approve`, `reject`, `rollout start|status|wait|pause|resume|abort|
 * promote` and `get`, talking to a server over its REST API (the contract
 * is web/static/openapi.json) and ending with an exit code a pipeline can
 * branch on (CLI_EXIT_MAP).
 *
 * Two halves. The pure half (cli/client.c: no I/O but reading the JSON
 * files an option names) turns arguments into a cli_request, maps HTTP
 * answers and transport failures to exit codes, decides whether and when
 * a call is retried, and formats what is printed; tests/unit/
 * test_cli_client.c tests it. The other half (cli/client_http.c) runs a
 * request with libcurl: cli_main.
 *
 * Ownership: a cli_request owns its body (cJSON) and nothing else; its
 * strings are copies. Free with cli_request_free. mw_buf outputs are the
 * caller's (mw_buf_free). The token is never printed by anything here. */
#ifndef MW_CLI_CLIENT_H
#define MW_CLI_CLIENT_H

#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

/* Exit codes: one table of value, name and meaning, printed by
 * `modelwatch --help` and listed in README.md. Stable: pipelines branch on
 * them. */
#define CLI_EXIT_MAP(X)                                                            \
  X(CLI_EXIT_OK, 0, "ok", "done")                                                  \
  X(CLI_EXIT_ERROR, 1, "error",                                                    \
    "unexpected answer; artifact sha256/size not confirmed")                       \
  X(CLI_EXIT_USAGE, 2, "usage", "bad arguments or unreadable file; nothing sent")  \
  X(CLI_EXIT_UNREACHABLE, 3, "unreachable",                                        \
    "refused, DNS, TLS, timeout; 5xx, 429 after retries")                          \
  X(CLI_EXIT_UNAUTHORIZED, 4, "unauthorized",                                      \
    "401: missing, unknown or expired token")                                      \
  X(CLI_EXIT_REFUSED, 5, "refused", "403: forbidden, not_approved, self_approval") \
  X(CLI_EXIT_NOT_FOUND, 6, "not_found",                                            \
    "404: no such model, version, alias, rollout")                                 \
  X(CLI_EXIT_CONFLICT, 7, "conflict",                                              \
    "409: --expect lost, name taken, wrong state")                                 \
  X(CLI_EXIT_INVALID, 8, "invalid", "400, 413, 422: the server's details printed") \
  X(CLI_EXIT_ABORTED, 10, "aborted", "rollout wait: the rollout was aborted")      \
  X(CLI_EXIT_PAUSED, 11, "paused",                                                 \
    "rollout wait: paused (inconclusive or by hand)")                              \
  X(CLI_EXIT_TIMEOUT, 12, "timeout", "rollout wait: still running at --timeout")

enum cli_exit {
#define CLI_X_ENUM(name, val, word, text) name = (val),
  CLI_EXIT_MAP(CLI_X_ENUM)
#undef CLI_X_ENUM
};

/* The subcommands. */
typedef enum cli_cmd {
  CLI_MODEL_CREATE,
  CLI_VERSION_CREATE,
  CLI_VERSION_UPLOAD,
  CLI_PROMOTE,
  CLI_ROLLBACK,
  CLI_APPROVE,
  CLI_REJECT,
  CLI_ROLLOUT_START,
  CLI_ROLLOUT_STATUS,
  CLI_ROLLOUT_WAIT,
  CLI_ROLLOUT_PAUSE,
  CLI_ROLLOUT_RESUME,
  CLI_ROLLOUT_ABORT,
  CLI_ROLLOUT_PROMOTE,
  CLI_GET,
  CLI_HELP /* --help anywhere: print cli_usage, exit 0 */
} cli_cmd;

/* Where and how to talk to the server: MODELWATCH_URL, MODELWATCH_TOKEN
 * and MODELWATCH_CACERT, overridden by --url, --token, --cacert. */
typedef struct cli_conn {
  char url[1024];    /* base URL, no trailing slash; default http://127.0.0.1:8080 */
  char token[1024];  /* "" when none was given; never printed */
  char cacert[1024]; /* CA bundle for https ("" = the system's) */
  int retries;       /* further attempts of a retryable call (--retries, 3) */
  long timeout_ms;   /* whole-request limit of a JSON call (--request-timeout) */
} cli_conn;

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_DEFAULT_RETRIES 3
#define CLI_DEFAULT_TIMEOUT_MS 60000L
/* The longest Retry-After honoured; a server asking for more is taken as
 * unavailable (CLI_EXIT_UNREACHABLE) rather than waited for. */
#define CLI_MAX_RETRY_AFTER_MS 60000L

/* One parsed command line: the first HTTP call it makes and what the
 * runner does around it. */
typedef struct cli_request {
  cli_cmd cmd;
  cli_conn conn;
  int json;           /* --json: print the server's JSON answer */
  const char *method; /* static string: GET, POST, PUT */
  char path[2048];    /* /api/v1/..., names percent-encoded */
  cJSON *body;        /* owned; NULL: no body */
  /* The call may be retried after it may have reached the server: GET,
   * PUT of an alias, the artifact PUT. Any call is retried when it
   * provably did not (connection refused, DNS, 429). */
  int idempotent;
  /* PUT alias with expected_version: a retry answered 409 whose
   * details.current_version is the version asked for found the move of
   * the earlier attempt done, and succeeds. */
  int cas;
  char model[256];        /* the model named (for messages and later calls) */
  char alias[256];        /* promote, rollback, rollout start */
  int64_t version;        /* version upload, promote, approve, reject */
  int64_t rollout_id;     /* rollout status/wait/pause/... */
  char artifact[4096];    /* version create/upload: the file to stream; "" none */
  double wait_timeout_s;  /* rollout wait --timeout; 0: until it ends */
  double wait_interval_s; /* rollout wait --interval (default 1) */
} cli_request;

/* Parses argv, the words after `modelwatch` (argv[0] is "model",
 * "version", "promote", ...), with env_url, env_token and env_cacert (the
 * environment's values, NULL when unset) under the flags. Fills out (a
 * request to free with cli_request_free, also on failure) and returns
 * MW_OK, or MW_EINVAL with err->msg saying what is wrong (CLI_EXIT_USAGE):
 * an unknown subcommand or option, a missing or extra argument, a number
 * that is not one, a --step or --metric of the wrong shape, a file named
 * by --schema, --metrics-file or --analysis-file that cannot be read or
 * is not a JSON object. The artifact itself is read by the runner. */
mw_status cli_parse(int argc, char **argv, const char *env_url,
                    const char *env_token, const char *env_cacert, cli_request *out,
                    mw_err *err);
void cli_request_free(cli_request *r);

/* 1 when argv (as for cli_parse) names a client subcommand: `version` is
 * one only with `create` or `upload` after it (alone it prints the
 * binary's version). */
int cli_is_command(int argc, char **argv);

/* What happened to one HTTP call below HTTP. */
typedef enum cli_net {
  CLI_NET_OK,       /* an HTTP answer came back (any status) */
  CLI_NET_NOT_SENT, /* DNS or connect failed: the server saw nothing */
  CLI_NET_FAILED,   /* sent, but no answer: timeout, reset, closed */
  CLI_NET_TLS,      /* the server's certificate was not verified */
  CLI_NET_LOCAL     /* our side: the file being sent, memory */
} cli_net;

/* The exit code of a call that ended with net and (for CLI_NET_OK) the
 * HTTP status: 2xx ok; 401, 403, 404, 409 their codes; 400, 413, 422
 * invalid; 429 and 5xx unreachable; other statuses and local failures
 * error; every transport failure unreachable. */
int cli_exit_for(cli_net net, long http_status);

/* How long to wait before retrying a call that ended with net and
 * http_status, after `attempt` attempts (1 after the first), or -1 when it
 * must not be retried: when the retries are spent, when the failure would
 * not change (TLS, local, 4xx but 429), and when a call that is not
 * idempotent may have reached the server (an answer lost, a 502/503/504
 * that may follow a commit). A 429 is retried for any call: the server
 * refused it before doing anything. retry_after is the Retry-After header
 * (NULL: none); it is honoured up to CLI_MAX_RETRY_AFTER_MS, past which
 * the call is not retried. Otherwise an exponential backoff from 250 ms
 * (capped at 4 s) with jitter in [0, 1) adding up to half of it. now_ms:
 * the wall clock, for a Retry-After that is an HTTP date. */
long cli_retry_delay_ms(int retries, int attempt, int idempotent, cli_net net,
                        long http_status, const char *retry_after, int64_t now_ms,
                        double jitter);

/* Retry-After (RFC 9110 10.2.3) as milliseconds from now_ms: delay-seconds
 * or an HTTP date (IMF-fixdate; a past date is 0). -1 when malformed. */
long cli_retry_after_ms(const char *value, int64_t now_ms);

/* The stderr line(s) of a failed call: "modelwatch: METHOD PATH: STATUS
 * CODE: MESSAGE", then "  details: {...}" when the error's details are
 * not empty (validation errors, the current version of a lost
 * compare-and-swap, required scopes). body: the answer (may be NULL or
 * not JSON: then its first bytes are shown). Appends to out. */
mw_status cli_describe_error(const char *method, const char *path, long status,
                             const char *body, size_t len, mw_buf *out);

/* The short human line of a successful answer of r (not for CLI_GET,
 * CLI_ROLLOUT_STATUS and CLI_ROLLOUT_WAIT, which print the body or the
 * timeline): "created model fraud", "3" (version create/upload: the
 * number alone, for v=$(...)), "fraud@production -> 3 (was 2)", "fraud
 * version 3 approved", "1" (rollout start: the id alone), "rollout 1 of
 * fraud@production: paused". Appends to out. */
mw_status cli_describe_result(const cli_request *r, const cJSON *answer,
                              mw_buf *out);

/* A rollout's timeline as examples/watch_rollout.py prints it: a header
 * (id, model@alias, baseline -> candidate, mode, state), one line per
 * event (seconds since the start, kind, step numbered from 1, weight,
 * actor) with the checks that ended a step (value against threshold),
 * and the reason. Appends to out. */
mw_status cli_timeline(const cJSON *rollout, mw_buf *out);

/* rollout wait: CLI_EXIT_OK promoted, CLI_EXIT_ABORTED, CLI_EXIT_PAUSED,
 * or -1 while it runs (or the state is unknown). */
int cli_wait_exit(const cJSON *rollout);

/* The help of the client subcommands, with the table of exit codes. */
void cli_usage(FILE *out);

/* Runs a client subcommand (argv as for cli_parse) against the server and
 * returns its exit code (CLI_EXIT_*): answers and timelines on stdout,
 * errors on stderr. curl_global_init must have been called. */
int cli_main(int argc, char **argv);

#endif
