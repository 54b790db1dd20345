/* monitor/erasure.c - erasure by id (monitor/monitor.h: mon_erase): the
 * predictions and labels a client names by id leave every version of the
 * model, and the database files.
 *
 * One write transaction does all of it, so a crash leaves either nothing
 * or everything erased (and the request can simply be sent again: erasing
 * an id that is gone finds nothing):
 *  - every block of each version with ids is checked; one holding a named
 *    id is rewritten without those rows (a new block, the old one deleted,
 *    which the live-window cache learns through migration 0007's epoch
 *    row, so no cached report keeps the rows);
 *  - the prediction ids and the labels with those ids are deleted;
 *  - a categorical value only erased rows used (no remaining row of the
 *    version, nor its reference set, counts its code) is replaced in the
 *    dictionary by a placeholder, since the dictionary holds the text.
 * Then the store's erase_scrub takes the deleted bytes out of the files
 * (SQLite: secure_delete during the transaction, a TRUNCATE checkpoint
 * after; PostgreSQL: VACUUM of the tables). docs/privacy.md says what a
 * copied database file still holds.
 *
 * Cost: O(blocks with ids of the model) ids chunks read, plus for each
 * block holding a named id a rewrite (all its chunks read and written
 * once); when a categorical value may have lost its last row, one read of
 * that column over every block of the version. Erasure is rare; that is
 * the price of keeping blocks immutable everywhere else. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/log.h"
#include "core/crypto.h"
#include "monitor/batch.h"
#include "monitor/context.h"
#include "monitor/pack.h"
#include "monitor/schema.h"
#include "monitor/store.h"

/* What one version lost. */
struct erased_version {
  int64_t version_id, version;
  int64_t predictions, labels, ids;
};

struct erase {
  mw_conn *c;
  const struct mon_store *store;
  const char *const *ids; /* sorted, distinct */
  size_t nids;
  struct erased_version *v;
  size_t nv, capv;
  int64_t categories;
  int64_t quarantined; /* quarantined rows that carried the ids */
};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool named(const struct erase *e, const char *id) {
  return id && *id && bsearch(&id, e->ids, e->nids, sizeof *e->ids, cmp_str);
}

static mw_status add_version(void *ctx, int64_t version_id, int64_t version) {
  struct erase *e = ctx;
  if(e->nv == e->capv) {
    size_t cap = e->capv ? e->capv * 2 : 16;
    struct erased_version *v = realloc(e->v, cap * sizeof *v);
    if(!v)
      return MW_ENOMEM;
    e->v = v;
    e->capv = cap;
  }
  e->v[e->nv++] = (struct erased_version){version_id, version, 0, 0, 0};
  return MW_OK;
}

static struct erased_version *version_of(struct erase *e, int64_t version_id) {
  for(size_t i = 0; i < e->nv; i++)
    if(e->v[i].version_id == version_id)
      return &e->v[i];
  return NULL;
}

static void count_label(void *ctx, int64_t version_id) {
  struct erased_version *v = version_of(ctx, version_id);
  if(v)
    v->labels++;
}

static void count_id(void *ctx, int64_t version_id) {
  struct erased_version *v = version_of(ctx, version_id);
  if(v)
    v->ids++;
}

/* ------------------------------------------------------------- blocks */

struct block_list {
  mon_block *b;
  size_t n, cap;
};

static mw_status keep_block(void *ctx, const mon_block *b) {
  struct block_list *l = ctx;
  if(l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    mon_block *nb = realloc(l->b, cap * sizeof *nb);
    if(!nb)
      return MW_ENOMEM;
    l->b = nb;
    l->cap = cap;
  }
  l->b[l->n++] = *b;
  return MW_OK;
}

/* A copy of one chunk (NULL data: none). */
struct chunk_copy {
  void *data;
  size_t len;
  bool found;
};

static mw_status copy_chunk(void *ctx, size_t i, const void *data, size_t len) {
  struct chunk_copy *x = ctx;
  (void)i;
  x->found = data != NULL;
  if(!data)
    return MW_OK;
  if(!(x->data = malloc(len + 1)))
    return MW_ENOMEM;
  memcpy(x->data, data, len);
  ((char *)x->data)[len] = 0;
  x->len = len;
  return MW_OK;
}

static mw_status read_chunk(struct erase *e, const mon_block *b, int slot,
                            struct chunk_copy *x) {
  memset(x, 0, sizeof *x);
  return e->store->chunks_read(e->c, slot, &b->id, 1, copy_chunk, x);
}

/* Codes of categorical columns seen in erased rows: per column, a sorted
 * list built as rows are removed. */
struct codes {
  double *v;
  size_t n, cap;
};

static mw_status codes_add(struct codes *k, double code) {
  if(isnan(code))
    return MW_OK;
  for(size_t i = 0; i < k->n; i++)
    if(k->v[i] == code)
      return MW_OK;
  if(k->n == k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 8;
    double *nv = realloc(k->v, cap * sizeof *nv);
    if(!nv)
      return MW_ENOMEM;
    k->v = nv;
    k->cap = cap;
  }
  k->v[k->n++] = code;
  return MW_OK;
}

/* Rewrites block b without the rows keep[r] == 0 (nkeep rows kept):
 * a new block with the kept rows (none when nkeep is 0), the old one
 * deleted. Codes of the removed rows in categorical columns go to
 * codes[col]. */
static mw_status rewrite_block(struct erase *e, const mon_block *b,
                               const uint8_t *keep, size_t nkeep, const char **ids,
                               const mon_schema *s, struct codes *codes) {
  size_t n = (size_t)b->n, ncols = (size_t)b->ncols;
  size_t *rows = malloc((nkeep ? nkeep : 1) * sizeof *rows);
  mw_buf *slots = calloc(ncols + 2, sizeof *slots);
  mon_chunk *chunks = calloc(ncols + 2, sizeof *chunks);
  mw_status st = rows && slots && chunks ? MW_OK : MW_ENOMEM;
  size_t k = 0;
  for(size_t r = 0; r < n && !st; r++)
    if(keep[r])
      rows[k++] = r;
  assert(st || k == nkeep);
  mon_block nb = {0,         b->version_id, b->bucket,
                  INT64_MAX, INT64_MIN,     (int64_t)nkeep,
                  b->ncols,  false,         mw_now_ms()};
  for(size_t slot = 0; slots && slot < ncols + 2; slot++)
    mw_buf_init(&slots[slot], (size_t)1 << 31);
  for(size_t slot = 0; slot <= ncols && !st; slot++) {
    struct chunk_copy x;
    if((st = read_chunk(e, b, (int)slot, &x)))
      break;
    if(!x.found || x.len != n * 8) {
      free(x.data);
      st = MW_EINTERNAL; /* a damaged block: refuse rather than guess */
      break;
    }
    if(slot == MON_SLOT_TS) {
      for(size_t i = 0; i < nkeep; i++) {
        int64_t ts = mon__chunk_i64(x.data, rows[i]);
        nb.ts_min = ts < nb.ts_min ? ts : nb.ts_min;
        nb.ts_max = ts > nb.ts_max ? ts : nb.ts_max;
      }
    }
    size_t col = slot - 1;
    if(slot != MON_SLOT_TS && s && col < s->ncols &&
       s->cols[col].kind == MON_COLUMN_CATEGORICAL)
      for(size_t r = 0; r < n && !st; r++)
        if(!keep[r])
          st = codes_add(&codes[col], mon__chunk_double(x.data, r));
    /* 8-byte values are copied as they are, whatever their type. */
    for(size_t i = 0; i < nkeep && !st; i++)
      st = mw_buf_append(&slots[slot], (const char *)x.data + rows[i] * 8, 8);
    free(x.data);
  }
  const char **kept_ids = NULL;
  if(!st && nkeep) {
    if(!(kept_ids = malloc(nkeep * sizeof *kept_ids)))
      st = MW_ENOMEM;
    for(size_t i = 0; !st && i < nkeep; i++) {
      kept_ids[i] = ids[rows[i]];
      nb.has_ids |= kept_ids[i][0] != 0;
    }
    if(!st && nb.has_ids)
      st = mon__pack_ids(&slots[ncols + 1], kept_ids, NULL, nkeep);
  }
  if(!st && nkeep) {
    nb.bucket = nb.ts_min / MON_BUCKET_MS;
    size_t nslots = ncols + 1 + (nb.has_ids ? 1 : 0);
    for(size_t slot = 0; slot < nslots; slot++)
      chunks[slot] =
          (mon_chunk){slots[slot].data ? slots[slot].data : "", slots[slot].len};
    st = e->store->block_insert(e->c, &nb, chunks, nslots);
  }
  if(!st)
    st = e->store->blocks_delete(e->c, &b->id, 1);
  for(size_t slot = 0; slots && slot < ncols + 2; slot++)
    mw_buf_free(&slots[slot]);
  free(kept_ids);
  free(slots);
  free(chunks);
  free(rows);
  return st;
}

/* Checks one block's ids; rewrites it when it holds a named one. */
static mw_status erase_in_block(struct erase *e, const mon_block *b,
                                struct erased_version *v, const mon_schema *s,
                                struct codes *codes) {
  struct chunk_copy x;
  mw_status st = read_chunk(e, b, mon__slot_ids((size_t)b->ncols), &x);
  if(st || !x.found)
    return st;
  size_t n = (size_t)b->n, nkeep = 0;
  const char **ids = malloc((n ? n : 1) * sizeof *ids);
  uint8_t *keep = malloc(n ? n : 1);
  if(!ids || !keep)
    st = MW_ENOMEM;
  else if(!mon__unpack_ids(x.data, x.len, n, ids))
    st = MW_EINTERNAL;
  for(size_t r = 0; !st && r < n; r++) {
    keep[r] = !named(e, ids[r]);
    nkeep += keep[r];
  }
  if(!st && nkeep < n) {
    st = rewrite_block(e, b, keep, nkeep, ids, s, codes);
    if(!st)
      v->predictions += (int64_t)(n - nkeep);
  }
  free(ids);
  free(keep);
  free(x.data);
  return st;
}

/* ------------------------------------------------------- dictionaries */

/* Codes of codes[col] that some block of the version still uses are
 * removed from the list. */
struct use_scan {
  struct codes *k;
  const mon_block *blk;
};

static mw_status scan_codes(void *ctx, size_t i, const void *data, size_t len) {
  struct use_scan *u = ctx;
  size_t n = (size_t)u->blk[i].n;
  if(!data || len != n * 8)
    return MW_OK;
  for(size_t r = 0; r < n && u->k->n; r++) {
    double code = mon__chunk_double(data, r);
    for(size_t j = 0; j < u->k->n; j++)
      if(u->k->v[j] == code) {
        u->k->v[j] = u->k->v[--u->k->n];
        break;
      }
  }
  return MW_OK;
}

/* Replaces the dictionary text of codes no row of the version and no
 * count of its reference uses any more. */
static mw_status forget_values(struct erase *e, int64_t version_id,
                               const mon_schema *s, struct codes *codes) {
  bool any = false;
  for(size_t col = 0; col < s->ncols; col++)
    any |= codes[col].n > 0;
  if(!any)
    return MW_OK;
  struct block_list l = {0};
  mw_status st = e->store->blocks_list(e->c, version_id, 0, INT64_MAX, 0, INT64_MAX,
                                       keep_block, &l);
  int64_t *bids = st ? NULL : malloc((l.n ? l.n : 1) * sizeof *bids);
  if(!st && !bids)
    st = MW_ENOMEM;
  for(size_t i = 0; !st && i < l.n; i++)
    bids[i] = l.b[i].id;
  mon_ref ref;
  memset(&ref, 0, sizeof ref);
  mw_status rs =
      st ? MW_OK : e->store->ref_load(e->c, version_id, s->ncols, true, &ref);
  if(rs && rs != MW_ENOTFOUND && rs != MW_EINTERNAL)
    st = rs;
  for(size_t col = 0; !st && col < s->ncols; col++) {
    struct codes *k = &codes[col];
    if(!k->n)
      continue;
    if(l.n) {
      struct use_scan u = {k, l.b};
      st =
          e->store->chunks_read(e->c, mon__slot_col(col), bids, l.n, scan_codes, &u);
    }
    for(size_t j = 0; !st && j < k->n; j++) {
      int64_t code = (int64_t)k->v[j];
      if(!rs && col < ref.ncols && ref.cols[col].cat_counts &&
         (size_t)code < ref.cols[col].ncat && ref.cols[col].cat_counts[code] > 0)
        continue; /* the reference set's own value: not a prediction's */
      /* A placeholder unique in the column (the dictionary's values are),
       * that no client value is likely to equal. */
      unsigned char rnd[8];
      char text[64];
      if(mw_random_bytes(rnd, sizeof rnd))
        st = MW_EINTERNAL;
      else
        snprintf(text, sizeof text,
                 "(erased %" PRId64 " %02x%02x%02x%02x%02x%02x%02x%02x)", code,
                 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
      if(!st &&
         !(st = e->store->category_replace(e->c, version_id, col, code, text)))
        e->categories++;
    }
  }
  mon__ref_free(&ref);
  free(bids);
  free(l.b);
  return st;
}

/* ------------------------------------------------------------ version */

static mw_status erase_version(struct erase *e, const char *model,
                               struct erased_version *v) {
  int64_t id = 0, model_id = 0;
  char *schema_json = NULL;
  mon_schema s;
  memset(&s, 0, sizeof s);
  mw_status st =
      e->store->version_find(e->c, model, v->version, &id, &model_id, &schema_json);
  if(!st && schema_json) {
    mon_version mv = {v->version_id, model_id, model, v->version, schema_json};
    /* A schema the monitor cannot read: rows are still erased, and no
     * dictionary value is looked at. */
    if(mon__schema_parse(schema_json, &mv, &s, NULL))
      memset(&s, 0, sizeof s);
  }
  struct block_list l = {0};
  if(!st)
    st = e->store->blocks_list(e->c, v->version_id, 0, INT64_MAX, 0, INT64_MAX,
                               keep_block, &l);
  struct codes *codes = calloc(s.ncols + 1, sizeof *codes);
  if(!st && !codes)
    st = MW_ENOMEM;
  for(size_t i = 0; !st && i < l.n; i++)
    if(l.b[i].has_ids)
      st = erase_in_block(e, &l.b[i], v, (size_t)l.b[i].ncols == s.ncols ? &s : NULL,
                          codes);
  if(!st && s.ncols)
    st = forget_values(e, v->version_id, &s, codes);
  for(size_t col = 0; codes && col < s.ncols + 1; col++)
    free(codes[col].v);
  free(codes);
  free(l.b);
  free(schema_json);
  mon__schema_free(&s);
  return st;
}

/* --------------------------------------------------------------- body */

static mw_status parse_ids(const cJSON *body, mon_batch *ids, mon_errors *errs,
                           mw_err *err) {
  const cJSON *arr =
      cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "ids") : NULL;
  const cJSON *k;
  const cJSON *obj = cJSON_IsObject(body) ? body : NULL;
  cJSON_ArrayForEach(k, obj) {
    if(strcmp(k->string, "ids")) {
      char fb[256];
      snprintf(fb, sizeof fb, "%.200s", k->string);
      mon__errors_add(errs, -1, fb, "unknown field (expected ids)");
    }
  }
  if(!cJSON_IsArray(arr))
    mon__errors_add(errs, -1, "ids", "expected an array of prediction ids");
  else if(cJSON_GetArraySize(arr) == 0)
    mon__errors_add(errs, -1, "ids", "is empty");
  else if(cJSON_GetArraySize(arr) > MON_ERASE_MAX_IDS)
    mon__errors_add(errs, -1, "ids",
                    "at most %d per request (send several requests)",
                    MON_ERASE_MAX_IDS);
  if(errs->count)
    return mon__errors_fail(errs, err,
                            "the body needs ids: an array of prediction ids");
  ids->n = (size_t)cJSON_GetArraySize(arr);
  if(!(ids->ids = calloc(ids->n, sizeof *ids->ids)))
    return MW_ENOMEM;
  size_t i = 0;
  cJSON_ArrayForEach(k, arr) {
    mw_status st = MW_OK;
    if(!mon__batch_id_text(ids, k, &ids->ids[i], &st))
      mon__errors_add(errs, (long)i, "ids",
                      "expected a string of 1-%d bytes or an integer",
                      MON_MAX_ID_LEN);
    if(st)
      return st;
    i++;
  }
  if(errs->count)
    return mon__errors_fail(errs, err,
                            "the body has invalid ids; nothing was erased");
  /* Sorted and distinct: looked up by bsearch, sent once. */
  qsort(ids->ids, ids->n, sizeof *ids->ids, cmp_str);
  size_t d = 0;
  for(i = 0; i < ids->n; i++)
    if(!d || strcmp(ids->ids[i], ids->ids[d - 1]))
      ids->ids[d++] = ids->ids[i];
  ids->n = d;
  return MW_OK;
}

static cJSON *answer(const char *model, const struct erase *e, size_t asked,
                     bool scrubbed) {
  cJSON *o = cJSON_CreateObject();
  if(!o)
    return NULL;
  int64_t preds = 0, labels = 0, found = 0;
  cJSON_AddStringToObject(o, "model", model);
  cJSON_AddNumberToObject(o, "ids", (double)asked);
  cJSON *vs = cJSON_AddArrayToObject(o, "versions");
  for(size_t i = 0; i < e->nv; i++) {
    const struct erased_version *v = &e->v[i];
    preds += v->predictions;
    labels += v->labels;
    found += v->ids;
    if(!v->predictions && !v->labels && !v->ids)
      continue;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", (double)v->version);
    cJSON_AddNumberToObject(j, "predictions", (double)v->predictions);
    cJSON_AddNumberToObject(j, "labels", (double)v->labels);
    cJSON_AddItemToArray(vs, j);
  }
  cJSON_AddNumberToObject(o, "predictions", (double)preds);
  cJSON_AddNumberToObject(o, "labels", (double)labels);
  cJSON_AddNumberToObject(o, "prediction_ids", (double)found);
  cJSON_AddNumberToObject(o, "categories", (double)e->categories);
  cJSON_AddNumberToObject(o, "quarantined", (double)e->quarantined);
  cJSON_AddBoolToObject(o, "files_scrubbed", scrubbed);
  return o;
}

mw_status mon_erase(mon_ctx *m, mw_conn *c, const char *model, const cJSON *body,
                    const char *actor, cJSON **out, mw_err *err) {
  (void)m;
  *out = NULL;
  mon_batch ids;
  memset(&ids, 0, sizeof ids);
  mon_errors errs;
  mon__errors_init(&errs);
  struct erase e = {c, mon__store(c), NULL, 0, NULL, 0, 0, 0, 0};
  mw_status st = parse_ids(body, &ids, &errs, err);
  size_t asked = ids.n;
  e.ids = ids.ids;
  e.nids = ids.n;
  int64_t model_id = 0, t0 = mw_now_ms();
  if(!st && (st = e.store->erase_scrub(c, 0)))
    mw_log(MW_LOG_WARN, "monitor", "erasure: cannot turn secure delete on");
  if(!st)
    st = mw_tx_begin(c);
  if(!st) {
    st = e.store->model_find(c, model, &model_id);
    if(st == MW_ENOTFOUND)
      mw_errf(err, st, "no model named '%s'", model);
    if(!st)
      st = e.store->model_versions(c, model_id, add_version, &e);
    for(size_t i = 0; !st && i < e.nv; i++)
      st = erase_version(&e, model, &e.v[i]);
    if(!st)
      st = e.store->ids_erase(c, model_id, e.ids, e.nids, count_id, &e);
    if(!st)
      st = e.store->labels_erase(c, model_id, e.ids, e.nids, count_label, &e);
    /* Invalid rows kept by ?on_invalid=quarantine that carried the ids. */
    if(!st)
      st = e.store->quarantine_erase(c, model_id, e.ids, e.nids, &e.quarantined);
    cJSON *details = st ? NULL : answer(model, &e, asked, false);
    if(!st && !details)
      st = MW_ENOMEM;
    if(!st) {
      /* The counts, never the ids: an id may itself be personal data. */
      cJSON_DeleteItemFromObjectCaseSensitive(details, "files_scrubbed");
      st = mw_audit(c, actor, "model.erasure", model, details);
    }
    cJSON_Delete(details);
    if(!st)
      st = mw_tx_commit(c);
    if(st)
      mw_tx_rollback(c);
  }
  bool scrubbed = false;
  if(st != MW_EVALIDATION) {
    /* Always turns secure delete off again; after a commit, also takes
     * the deleted bytes out of the files. */
    mw_status ss = e.store->erase_scrub(c, 1);
    scrubbed = !st && !ss;
    if(!st && ss)
      mw_log(MW_LOG_WARN, "monitor",
             "erasure on model '%s' committed, but the database files could not "
             "be scrubbed (%s): the deleted rows' bytes may remain until the "
             "next erasure or checkpoint",
             model, mw_status_code(ss));
  }
  if(!st) {
    *out = answer(model, &e, asked, scrubbed);
    if(!*out)
      st = MW_ENOMEM;
    else
      mw_log(MW_LOG_INFO, "monitor",
             "erasure on model '%s': %zu ids asked, %" PRId64
             " ms (transaction and scrub)",
             model, asked, mw_now_ms() - t0);
  }
  mon__errors_free(&errs);
  mon__batch_free(&ids);
  free(e.v);
  return st;
}
