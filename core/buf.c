/* core/buf.c - capped growable buffers and small string helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void mw_buf_init(mw_buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
}

void mw_buf_free(mw_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

mw_status mw_buf_append(mw_buf *b, const void *p, size_t len) {
  if(len > b->limit || b->len > b->limit - len) {
    mw_buf_free(b);
    return MW_ETOOBIG;
  }
  if(b->len + len + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 256;
    while(ncap < b->len + len + 1)
      ncap *= 2;
    if(ncap > b->limit + 1)
      ncap = b->limit + 1;
    char *nd = realloc(b->data, ncap);
    if(!nd) {
      mw_buf_free(b);
      return MW_ENOMEM;
    }
    b->data = nd;
    b->cap = ncap;
  }
  memcpy(b->data + b->len, p, len);
  b->len += len;
  b->data[b->len] = '\0';
  return MW_OK;
}

mw_status mw_buf_printf(mw_buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if(n < 0)
    return MW_EINVAL;
  if((size_t)n < sizeof tmp)
    return mw_buf_append(b, tmp, (size_t)n);
  char *big = malloc((size_t)n + 1);
  if(!big)
    return MW_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  mw_status st = mw_buf_append(b, big, (size_t)n);
  free(big);
  return st;
}

mw_status mw_strlcpy(char *dst, const char *src, size_t cap) {
  size_t n = strlen(src);
  if(cap == 0)
    return MW_ETOOBIG;
  if(n >= cap) {
    memcpy(dst, src, cap - 1);
    dst[cap - 1] = '\0';
    return MW_ETOOBIG;
  }
  memcpy(dst, src, n + 1);
  return MW_OK;
}

mw_status mw_parse_i64(const char *s, int64_t *out) {
  if(!s || !*s)
    return MW_EINVAL;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if(errno || *end)
    return MW_EINVAL;
  *out = v;
  return MW_OK;
}

int mw_name_valid(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if(n < 1 || n > 128 || name[0] == '.')
    return 0;
  for(size_t i = 0; i < n; i++) {
    char c = name[i];
    if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

mw_status mw_buf_label(mw_buf *b, const char *s) {
  mw_status st = MW_OK;
  for(; s && *s && !st; s++) {
    if(*s == '\\')
      st = mw_buf_append(b, "\\\\", 2);
    else if(*s == '"')
      st = mw_buf_append(b, "\\\"", 2);
    else if(*s == '\n')
      st = mw_buf_append(b, "\\n", 2);
    else
      st = mw_buf_append(b, s, 1);
  }
  return st;
}

int mw_name_pattern_valid(const char *p) {
  size_t n = p ? strlen(p) : 0;
  if(!n || n > 128)
    return 0;
  if(p[n - 1] != '*')
    return mw_name_valid(p);
  if(n == 1)
    return 1;
  char prefix[129];
  memcpy(prefix, p, n - 1);
  prefix[n - 1] = 0;
  return mw_name_valid(prefix);
}

int mw_pattern_match(const char *pattern, const char *s) {
  size_t n = strlen(pattern);
  if(n && pattern[n - 1] == '*')
    return !strncmp(pattern, s, n - 1);
  return !strcmp(pattern, s);
}

const char *mw_json_str(const cJSON *obj, const char *key) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(it) ? it->valuestring : NULL;
}

int mw_json_int(const cJSON *it, int64_t *out) {
  if(!cJSON_IsNumber(it))
    return 0;
  double d = it->valuedouble;
  /* [-2^63, 2^63): the range int64_t holds; the comparison is false for
   * NaN, so it fails too. */
  if(!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
    return 0;
  int64_t v = (int64_t)d;
  if((double)v != d)
    return 0;
  *out = v;
  return 1;
}

char *mw_json_print(const cJSON *obj) { return cJSON_PrintUnformatted(obj); }

void mw_json_add_time(cJSON *obj, const char *key, int64_t ms) {
  if(ms < 0) {
    cJSON_AddNullToObject(obj, key);
    return;
  }
  char buf[40];
  cJSON_AddStringToObject(obj, key, mw_time_format(ms, buf, sizeof buf));
}
