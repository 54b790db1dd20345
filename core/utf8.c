/* core/utf8.c - strict UTF-8 (RFC 3629): the one decoder and validator.
 *
 * Request bodies are checked here before they are parsed (JSON text must
 * be UTF-8, RFC 8259 section 8.1), and outgoing chat and webhook payloads
 * are cut and cleaned with the same decoder, so what is accepted and what
 * is sent agree on what a character is. */
#include <string.h>

#include "core/core.h"

size_t mw_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if(!n)
    return 0;
  unsigned char c = s[0];
  size_t len;
  uint32_t v, min;
  if(c < 0x80) {
    *cp = c;
    return 1;
  } else if((c & 0xe0) == 0xc0) {
    len = 2;
    v = c & 0x1f;
    min = 0x80;
  } else if((c & 0xf0) == 0xe0) {
    len = 3;
    v = c & 0x0f;
    min = 0x800;
  } else if((c & 0xf8) == 0xf0) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return 0; /* a continuation byte without a lead, or 0xf8..0xff */
  }
  if(len > n)
    return 0; /* truncated */
  for(size_t i = 1; i < len; i++) {
    if((s[i] & 0xc0) != 0x80)
      return 0;
    v = v << 6 | (s[i] & 0x3f);
  }
  /* Overlong forms, surrogates (ED A0..BF ..) and values past U+10FFFF. */
  if(v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

size_t mw_utf8_encode(uint32_t cp, char out[4]) {
  if(cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if(cp < 0x800) {
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if(cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

mw_status mw_utf8_check(const void *data, size_t n, size_t *bad) {
  const unsigned char *p = data;
  size_t i = 0;
  while(i < n) {
    /* Request bodies are mostly ASCII: skip it eight bytes at a time. */
    while(n - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if(w & UINT64_C(0x8080808080808080))
        break;
      i += 8;
    }
    if(i == n)
      break;
    if(p[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t k = mw_utf8_decode(p + i, n - i, &cp);
    if(!k) {
      if(bad)
        *bad = i;
      return MW_EINVAL;
    }
    i += k;
  }
  if(bad)
    *bad = n;
  return MW_OK;
}
