/* tests/fuzz/fuzz_common.h - what the libFuzzer harnesses share: one
 * seeded in-memory database per process, put back as it was after every
 * input that changed it, and the request-body parsing of web/.
 *
 * The seed (see fuzz_common.c) is a model "fraud" with ready versions
 * 1 (numeric and categorical features, categorical prediction), 2 (numeric
 * prediction) and 3 (no schema); aliases production -> 1 and staging -> 2;
 * a second model "churn" without versions; a node "edge-1" serving fraud;
 * a webhook channel "ops"; a rule "drift-high"; 40 logged predictions with
 * ids (p1..p20 on version 1, n1..n20 on version 2) and a reference set on
 * both versions. */
#ifndef MW_FUZZ_COMMON_H
#define MW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alerts/alerts.h"
#include "alerts/internal.h"
#include "monitor/monitor.h"
#include "registry/registry.h"

/* A broken invariant: print why and abort, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                      \
  do {                                                                        \
    if(!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,   \
              #cond);                                                         \
      abort();                                                                \
    }                                                                         \
  } while(0)

struct fuzz_env {
  mw_db *db;
  mw_conn *c;
  mon_ctx *mon;
  struct reg_env reg;
  /* Versions 1, 2 and 3 of "fraud" as the monitor sees them. */
  reg_version_info vi[3];
  mon_version mv[3];
};

/* Opens the in-memory database, migrates and seeds it and takes its
 * snapshot; once per process (from LLVMFuzzerInitialize). Aborts on
 * failure: a harness without its fixture would fuzz nothing. */
struct fuzz_env *fuzz_env(void);

/* Call after each input: checks that no transaction was left open (a bug
 * of the function under test) and, when anything was written, puts the
 * database back to the snapshot so every input meets the same state. */
void fuzz_after(struct fuzz_env *e);

/* Parses data as a request body the way web/ does (web_json_parse).
 * NULL when web/ would answer 4xx; otherwise caller cJSON_Deletes. */
cJSON *fuzz_body(const uint8_t *data, size_t size);

/* Parses data as the ingest endpoints do (monitor's mon_doc_parse with the
 * caps of web/, the root an object). NULL when web/ would answer 4xx;
 * otherwise the root, borrowed until fuzz_doc_free(*doc, *text). */
const cJSON *fuzz_doc_body(const uint8_t *data, size_t size, mon_doc **doc,
                           char **text);
void fuzz_doc_free(mon_doc *doc, char *text);

/* A NUL-terminated copy of data (caller frees). */
char *fuzz_str(const uint8_t *data, size_t size);

/* Quiet logging and GSL's error handler off, as main() sets them up. */
void fuzz_quiet(void);

#endif
