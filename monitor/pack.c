/* monitor/pack.c - the byte layout of block chunks (monitor/pack.h):
 * arrays of 8-byte little-endian values (float64 or int64) and
 * NUL-separated ids. Values are copied with memcpy because the bytes a
 * backend hands back need not be aligned. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/pack.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define MON_SWAP(x) __builtin_bswap64(x)
#else
#define MON_SWAP(x) (x)
#endif

/* Sizes buf to len bytes (contents undefined), within its hard limit. */
static mw_status reserve(mw_buf *buf, size_t len) {
  if(len > buf->limit) {
    mw_buf_free(buf);
    return MW_ETOOBIG;
  }
  if(buf->cap < len + 1) {
    char *nd = realloc(buf->data, len + 1);
    if(!nd) {
      mw_buf_free(buf);
      return MW_ENOMEM;
    }
    buf->data = nd;
    buf->cap = len + 1;
  }
  buf->len = len;
  buf->data[len] = '\0';
  return MW_OK;
}

mw_status mon__pack_doubles(mw_buf *buf, const double *v, const size_t *rows,
                            size_t n) {
  mw_status st = reserve(buf, n * 8);
  if(st)
    return st;
  char *p = buf->data;
  for(size_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, &v[rows ? rows[i] : i], 8);
    u = MON_SWAP(u);
    memcpy(p + i * 8, &u, 8);
  }
  return MW_OK;
}

mw_status mon__pack_i64(mw_buf *buf, const int64_t *v, const size_t *rows,
                        size_t n) {
  mw_status st = reserve(buf, n * 8);
  if(st)
    return st;
  char *p = buf->data;
  for(size_t i = 0; i < n; i++) {
    uint64_t u = (uint64_t)v[rows ? rows[i] : i];
    u = MON_SWAP(u);
    memcpy(p + i * 8, &u, 8);
  }
  return MW_OK;
}

mw_status mon__pack_ids(mw_buf *buf, const char *const *ids, const size_t *rows,
                        size_t n) {
  size_t len = 0;
  for(size_t i = 0; i < n; i++) {
    const char *s = ids[rows ? rows[i] : i];
    len += (s ? strlen(s) : 0) + 1;
  }
  mw_status st = reserve(buf, len);
  if(st)
    return st;
  char *p = buf->data;
  for(size_t i = 0; i < n; i++) {
    const char *s = ids[rows ? rows[i] : i];
    size_t k = s ? strlen(s) : 0;
    memcpy(p, s ? s : "", k);
    p[k] = '\0';
    p += k + 1;
  }
  return MW_OK;
}

double mon__chunk_double(const void *chunk, size_t i) {
  uint64_t u;
  memcpy(&u, (const char *)chunk + i * 8, 8);
  u = MON_SWAP(u);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

int64_t mon__chunk_i64(const void *chunk, size_t i) {
  uint64_t u;
  memcpy(&u, (const char *)chunk + i * 8, 8);
  return (int64_t)MON_SWAP(u);
}

void mon__unpack_doubles(const void *chunk, size_t n, double *out) {
  assert(chunk || n == 0);
  if(n == 0)
    return; /* an empty blob may come back as NULL: no memcpy from it */
  if(MON_PACK_NATIVE) {
    memcpy(out, chunk, n * 8);
    return;
  }
  for(size_t i = 0; i < n; i++)
    out[i] = mon__chunk_double(chunk, i);
}

int mon__unpack_ids(const char *chunk, size_t len, size_t n, const char **out) {
  size_t off = 0;
  for(size_t i = 0; i < n; i++) {
    if(off >= len)
      return 0;
    const char *end = memchr(chunk + off, '\0', len - off);
    if(!end)
      return 0;
    out[i] = chunk + off;
    off = (size_t)(end - chunk) + 1;
  }
  return off == len;
}
