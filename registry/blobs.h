/* registry/blobs.h - the artifact seam: where the bytes of artifacts live.
 * Internal to registry/. registry/artifacts.c holds the rules above it
 * (sha256 verified while an upload is written and again while a download
 * is read, versions marked ready, the collector's decisions); a store only
 * moves bytes, as a small table of operations chosen by --artifact-store:
 *  - reg_blobs_dir (registry/blobs_dir.c): content-addressed files under
 *    <data-dir>/artifacts/sha256/<2 hex>/<64 hex>, uploads in
 *    <data-dir>/artifacts/tmp; right for one server, or for replicas
 *    sharing the directory on a common mount;
 *  - reg_blobs_db (registry/blobs_db.c): chunks of REG_BLOB_CHUNK bytes in
 *    the database every replica shares (tables artifact_blobs and
 *    artifact_chunks, through registry/store.h).
 *
 * An artifact is named by the lowercase hex sha256 of its bytes. An upload
 * goes begin, write..., sync, then commit inside the write transaction
 * that marks its version ready, then end. Only commit names bytes; a
 * collector that removes a name does so inside a write transaction that
 * found no version naming it, so the two exclude each other (see
 * registry/artifacts.c).
 *
 * Operations (c: the calling thread's connection, used by the database
 * store; env: where the directory store lives):
 *  - begin: starts writing a new artifact. Caller ends it with end.
 *  - write: appends bytes (the database store runs a short write
 *    transaction of its own per full chunk: no transaction may be open).
 *  - sync: makes what was written durable, before the write transaction
 *    that commits it, so that the slow part waits for no lock.
 *  - commit: inside the caller's write transaction, names what was written
 *    sha256 (size bytes). *placed = 1 when this writer's bytes now carry the
 *    name, 0 when the same content was there already (this writer's bytes
 *    are then dropped by end). The directory store's rename cannot be
 *    rolled back: when the transaction fails after a placing commit, the
 *    caller removes the name again if nothing names it.
 *  - end: frees the writer. kept = 1 when the transaction of a placing
 *    commit committed; otherwise whatever this writer stored that no
 *    committed name covers is removed (the database store: in a write
 *    transaction of its own, so none may be open).
 *  - open / read / close: streams the bytes named sha256; open gives
 *    MW_ENOTFOUND when the store has no such name; read gives at most cap
 *    bytes, *n = 0 at the end.
 *  - exists: *yes = 1 when the store holds the name.
 *  - remove: inside the caller's write transaction, removes the name
 *    (MW_ENOTFOUND when absent).
 *  - list: calls fn(ctx, name, mtime_ms) for every named artifact, with
 *    the time it was last placed; fn may remove what it was given and run
 *    write transactions (no statement of the listing stays open while it
 *    runs). The directory store also lists files whose names are not
 *    digests, and narrows loose modes of what it walks (0700 directories,
 *    0600 files).
 *  - purge_uploads: removes uploads that were never ended (a crash) and
 *    were last written before before_ms; *removed gets how many. No
 *    transaction may be open. */
#ifndef MW_REGISTRY_BLOBS_H
#define MW_REGISTRY_BLOBS_H

#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

/* Chunks of the database store, and the unit reads are served in. */
#define REG_BLOB_CHUNK ((size_t)1 << 20)

typedef struct reg_blob_writer reg_blob_writer;
typedef struct reg_blob_reader reg_blob_reader;

struct reg_blob_store {
  const char *name; /* as --artifact-store says it */
  mw_status (*begin)(mw_conn *c, const struct reg_env *env, reg_blob_writer **out);
  mw_status (*write)(reg_blob_writer *w, const void *data, size_t len);
  mw_status (*sync)(reg_blob_writer *w);
  mw_status (*commit)(reg_blob_writer *w, const char *sha256, int64_t size,
                      int *placed);
  void (*end)(reg_blob_writer *w, int kept);
  mw_status (*open)(mw_conn *c, const struct reg_env *env, const char *sha256,
                    reg_blob_reader **out);
  mw_status (*read)(reg_blob_reader *r, void *buf, size_t cap, size_t *n);
  void (*close)(reg_blob_reader *r);
  mw_status (*exists)(mw_conn *c, const struct reg_env *env, const char *sha256,
                      int *yes);
  mw_status (*remove)(mw_conn *c, const struct reg_env *env, const char *sha256);
  mw_status (*list)(mw_conn *c, const struct reg_env *env,
                    mw_status (*fn)(void *ctx, const char *name, int64_t mtime_ms),
                    void *ctx);
  mw_status (*purge_uploads)(mw_conn *c, const struct reg_env *env,
                             int64_t before_ms, int64_t *removed);
};

extern const struct reg_blob_store reg_blobs_dir;
extern const struct reg_blob_store reg_blobs_db;

/* The store env names (env->artifacts). */
const struct reg_blob_store *reg__blobs(const struct reg_env *env);

#endif
