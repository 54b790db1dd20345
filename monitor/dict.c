/* monitor/dict.c - categorical dictionaries (monitor/dict.h): an open
 * addressing hash of the values, and their load and save through the
 * store. Interning costs one hash and one strcmp for a known value. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/dict.h"
#include "monitor/schema.h"
#include "monitor/store.h"

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for(; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

void mon__dict_init(mon_dict *d) { memset(d, 0, sizeof *d); }

void mon__dict_free(mon_dict *d) {
  if(!d)
    return;
  for(size_t i = 0; i < d->n; i++)
    free(d->values[i]);
  free(d->values);
  free(d->slots);
  memset(d, 0, sizeof *d);
}

long mon__dict_find(const mon_dict *d, const char *s) {
  if(!d->nslots)
    return -1;
  size_t mask = d->nslots - 1;
  for(size_t i = hash_str(s) & mask;; i = (i + 1) & mask) {
    uint32_t e = d->slots[i];
    if(!e)
      return -1;
    if(!strcmp(d->values[e - 1], s))
      return (long)(e - 1);
  }
}

static mw_status rehash(mon_dict *d, size_t nslots) {
  assert((nslots & (nslots - 1)) == 0 && nslots > d->n);
  uint32_t *slots = calloc(nslots, sizeof *slots);
  if(!slots)
    return MW_ENOMEM;
  for(size_t c = 0; c < d->n; c++) {
    size_t i = hash_str(d->values[c]) & (nslots - 1);
    while(slots[i])
      i = (i + 1) & (nslots - 1);
    slots[i] = (uint32_t)(c + 1);
  }
  free(d->slots);
  d->slots = slots;
  d->nslots = nslots;
  return MW_OK;
}

mw_status mon__dict_intern(mon_dict *d, const char *s, long *code) {
  long found = mon__dict_find(d, s);
  if(found >= 0) {
    *code = found;
    return MW_OK;
  }
  if(d->n >= MON_MAX_CATEGORIES)
    return MW_ETOOBIG;
  if(d->n == d->cap) {
    size_t ncap = d->cap ? d->cap * 2 : 16;
    char **nv = realloc(d->values, ncap * sizeof *nv);
    if(!nv)
      return MW_ENOMEM;
    d->values = nv;
    d->cap = ncap;
  }
  if((d->n + 1) * 2 > d->nslots && rehash(d, d->nslots ? d->nslots * 2 : 32))
    return MW_ENOMEM;
  char *copy = strdup(s);
  if(!copy)
    return MW_ENOMEM;
  d->values[d->n] = copy;
  size_t mask = d->nslots - 1;
  size_t i = hash_str(s) & mask;
  while(d->slots[i])
    i = (i + 1) & mask;
  d->slots[i] = (uint32_t)(d->n + 1);
  *code = (long)d->n++;
  return MW_OK;
}

/* ------------------------------------------------------------- stored */

static mw_status load_one(void *ctx, int64_t code, const char *value) {
  mon_dict *d = ctx;
  long got;
  /* Codes are dense from 0 in insertion order, so interning in code order
   * gives every value its stored code back. */
  mw_status s = mon__dict_intern(d, value, &got);
  if(!s && got != code)
    s = MW_EINTERNAL;
  return s;
}

mw_status mon__dict_load(mw_conn *c, int64_t version_id, size_t col, mon_dict *d) {
  mon__dict_init(d);
  mw_status s = mon__store(c)->categories_list(c, version_id, col, load_one, d);
  if(s == MW_EINTERNAL) {
    char who[400];
    mon__version_label(c, version_id, who, sizeof who);
    mw_log(MW_LOG_ERROR, "monitor", "category codes of %s column %zu are not dense",
           who, col);
  }
  if(s)
    mon__dict_free(d);
  else
    d->nloaded = d->n;
  return s;
}

mw_status mon__dict_save(mw_conn *c, int64_t version_id, size_t col, mon_dict *d) {
  assert(mw_tx_state(c) == 1 && d->nloaded <= d->n);
  if(d->nloaded == d->n)
    return MW_OK;
  mw_status s = mon__store(c)->categories_add(
      c, version_id, col, (int64_t)d->nloaded,
      (const char *const *)d->values + d->nloaded, d->n - d->nloaded);
  if(!s)
    d->nloaded = d->n;
  return s;
}
