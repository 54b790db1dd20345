/* web/router.c - matching request paths against route patterns. */
#include <string.h>

#include "web/web_internal.h"

int web_hex_digit(char c) {
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes src[0..n) into dst (cap bytes). 0 if it does not fit or
 * a decoded byte is NUL. */
static int decode_seg(const char *src, size_t n, char *dst, size_t cap) {
  size_t o = 0;
  for(size_t i = 0; i < n; i++) {
    char c = src[i];
    if(c == '%' && i + 2 < n) {
      int hi = web_hex_digit(src[i + 1]);
      int lo = web_hex_digit(src[i + 2]);
      if(hi >= 0 && lo >= 0) {
        c = (char)(hi * 16 + lo);
        i += 2;
      }
    }
    if(c == '\0' || o + 1 >= cap)
      return 0;
    dst[o++] = c;
  }
  dst[o] = '\0';
  return 1;
}

int web_route_match(const char *pattern, const char *path, char vals[][256],
                    const char *names[], size_t namelen[], int *nparams) {
  const char *p = pattern;
  const char *u = path;
  int np = 0;
  while(*p && *u) {
    if(*p != '/' || *u != '/')
      return 0;
    p++;
    u++;
    const char *pe = strchr(p, '/');
    const char *ue = strchr(u, '/');
    size_t plen = pe ? (size_t)(pe - p) : strlen(p);
    size_t ulen = ue ? (size_t)(ue - u) : strlen(u);
    if(plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
      if(ulen == 0 || np >= WEB_MAX_PARAMS)
        return 0;
      if(!decode_seg(u, ulen, vals[np], 256))
        return 0;
      names[np] = p + 1;
      namelen[np] = plen - 2;
      np++;
    } else if(plen != ulen || memcmp(p, u, plen) != 0) {
      return 0;
    }
    p += plen;
    u += ulen;
  }
  if(*p || *u)
    return 0;
  *nparams = np;
  return 1;
}
