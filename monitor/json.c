/* monitor/json.c - a JSON parser for ingest bodies. It builds ordinary,
 * read-only cJSON nodes, but takes them from an arena and decodes strings
 * in place in the caller's buffer, so a 1000-row batch costs a handful of
 * allocations instead of ~30,000 (cJSON mallocs every node and key), and
 * numbers with up to 15 significant digits and small exponents are
 * converted exactly without strtod (Clinger's fast path). Measured on a
 * batch of 1000 rows x 11 values: see tests/bench/bench_ingest.c.
 *
 * Accepts RFC 8259 JSON plus the tokens NaN, Infinity and -Infinity (read
 * as null: missing values), which Python's json module writes. Like cJSON
 * it refuses a \u escape of a lone surrogate; unlike cJSON it also refuses
 * text that is not UTF-8 (core's strict decoder), \u0000 and raw control
 * characters, so nothing it accepts is refused by web/'s reader. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

#define NODES_PER_CHUNK 4096

struct chunk {
  struct chunk *next;
  size_t used;
  cJSON nodes[NODES_PER_CHUNK];
};

struct mon_doc {
  struct chunk *chunks;
  cJSON *root;
};

struct parser {
  char *p, *end;
  mon_doc *doc;
  int depth;
  mon_doc_limits lim;
  int why; /* enum mon_doc_error of the failure */
};

static cJSON *new_node(struct parser *ps) {
  struct chunk *c = ps->doc->chunks;
  if(!c || c->used == NODES_PER_CHUNK) {
    c = malloc(sizeof *c);
    if(!c)
      return NULL;
    c->next = ps->doc->chunks;
    c->used = 0;
    ps->doc->chunks = c;
  }
  cJSON *n = &c->nodes[c->used++];
  memset(n, 0, sizeof *n);
  return n;
}

static void skip_ws(struct parser *ps) {
  while(ps->p < ps->end &&
        (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
    ps->p++;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for(int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if(c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if(c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if(c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

/* Decodes the string at ps->p (after the opening quote) in place; returns
 * its start (NUL-terminated) or NULL. The decoded text is never longer
 * than the source, so it fits where the source was. */
static char *parse_string(struct parser *ps) {
  char *start = ps->p, *w = ps->p, *r = ps->p;
  while(r < ps->end) {
    unsigned char ch = (unsigned char)*r;
    if(ch == '"') {
      *w = '\0';
      ps->p = r + 1;
      return start;
    }
    if(ch < 0x20) {
      ps->p = r; /* the offset names the control character */
      return NULL;
    }
    if(ch >= 0x80) {
      /* JSON text is UTF-8 (RFC 8259): a bad sequence is a syntax error
       * at its first byte. Outside strings any such byte already is. */
      uint32_t cp;
      size_t k =
          mw_utf8_decode((const unsigned char *)r, (size_t)(ps->end - r), &cp);
      if(!k) {
        ps->p = r;
        return NULL;
      }
      memmove(w, r, k);
      w += k;
      r += k;
      continue;
    }
    if(ch != '\\') {
      *w++ = *r++;
      continue;
    }
    if(r + 1 >= ps->end)
      return NULL;
    char e = r[1];
    r += 2;
    switch(e) {
    case '"':
      *w++ = '"';
      break;
    case '\\':
      *w++ = '\\';
      break;
    case '/':
      *w++ = '/';
      break;
    case 'b':
      *w++ = '\b';
      break;
    case 'f':
      *w++ = '\f';
      break;
    case 'n':
      *w++ = '\n';
      break;
    case 'r':
      *w++ = '\r';
      break;
    case 't':
      *w++ = '\t';
      break;
    case 'u': {
      unsigned cp;
      if(ps->end - r < 4 || !hex4(r, &cp))
        return NULL;
      r += 4;
      if(cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if(ps->end - r < 6 || r[0] != '\\' || r[1] != 'u' || !hex4(r + 2, &lo) ||
           lo < 0xDC00 || lo > 0xDFFF)
          return NULL;
        r += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if(cp >= 0xDC00 && cp <= 0xDFFF) {
        return NULL;
      }
      if(cp == 0) {
        ps->p = r - 6; /* would cut the C string short: name the escape */
        return NULL;
      }
      w += mw_utf8_encode(cp, w);
      break;
    }
    default:
      return NULL;
    }
  }
  return NULL;
}

/* Powers of ten that are exact doubles. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if LDBL_MANT_DIG == 64
/* Powers of ten exact in the x87 80-bit format (5^27 < 2^64). */
static const long double exact_pow10l[] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};

/* m * 10^e10 (m < 2^64, |e10| <= 27) correctly rounded to double, or 0 when
 * this path cannot be sure. One extended-precision operation on exact
 * operands rounds once (error <= 1/2 ulp of 64 bits); rounding that to 53
 * bits is then correct unless the extended result lies within one 64-bit
 * ulp of a 53-bit halfway point, which is checked. */
static int extended_path(uint64_t m, int e10, double *out) {
  long double x = (long double)m;
  x = e10 < 0 ? x / exact_pow10l[-e10] : x * exact_pow10l[e10];
  if(!(x >= 4.0L * (long double)DBL_MIN && x <= (long double)DBL_MAX / 4))
    return 0;
  int e;
  long double f = frexpl(x, &e); /* [0.5, 1) */
  uint64_t bits = (uint64_t)ldexpl(f, 64);
  unsigned low = (unsigned)(bits & 0x7FF);
  if(low >= 0x3FF && low <= 0x401)
    return 0;
  *out = (double)x;
  return 1;
}
#endif

/* Validates a JSON number at ps->p and converts it, correctly rounded:
 *  - up to 15 significant digits and a decimal exponent within +-22: both
 *    operands are exact doubles and one IEEE operation rounds correctly
 *    (Clinger's fast path);
 *  - up to 19 digits and an exponent within +-27: the same in x87
 *    extended precision, with a check for the rare double-rounding case;
 *  - anything else: strtod (correctly rounded by glibc), which stops at
 *    the same character since the grammar was checked first. */
static int parse_number(struct parser *ps, double *out) {
  char *s = ps->p, *q = s;
  int neg = 0;
  if(q < ps->end && *q == '-') {
    neg = 1;
    q++;
  }
  if(q >= ps->end || *q < '0' || *q > '9')
    return 0;
  uint64_t m = 0;
  int digits = 0, exp10 = 0, exact = 1;
  if(*q == '0') {
    q++;
  } else {
    while(q < ps->end && *q >= '0' && *q <= '9') {
      if(digits < 19) {
        m = m * 10 + (uint64_t)(*q - '0');
        digits++;
      } else {
        exp10++;
        exact &= *q == '0';
      }
      q++;
    }
  }
  if(q < ps->end && *q == '.') {
    q++;
    if(q >= ps->end || *q < '0' || *q > '9')
      return 0;
    while(q < ps->end && *q >= '0' && *q <= '9') {
      if(digits < 19) {
        m = m * 10 + (uint64_t)(*q - '0');
        exp10--;
        if(m)
          digits++;
      } else {
        exact &= *q == '0';
      }
      q++;
    }
  }
  if(q < ps->end && (*q == 'e' || *q == 'E')) {
    q++;
    int eneg = 0, e = 0;
    if(q < ps->end && (*q == '+' || *q == '-'))
      eneg = *q++ == '-';
    if(q >= ps->end || *q < '0' || *q > '9')
      return 0;
    while(q < ps->end && *q >= '0' && *q <= '9') {
      if(e < 100000)
        e = e * 10 + (*q - '0');
      q++;
    }
    exp10 += eneg ? -e : e;
  }
  ps->p = q;
  double v;
  if(exact && digits <= 15 && exp10 >= -22 && exp10 <= 22) {
    v = (double)m;
    v = exp10 < 0 ? v / exact_pow10[-exp10] : v * exact_pow10[exp10];
    *out = neg ? -v : v;
    return 1;
  }
#if LDBL_MANT_DIG == 64
  if(exact && m && exp10 >= -27 && exp10 <= 27 && extended_path(m, exp10, &v)) {
    *out = neg ? -v : v;
    return 1;
  }
#endif
  char *end = NULL;
  *out = strtod(s, &end);
  return end == q;
}

static int match(struct parser *ps, const char *word) {
  size_t n = strlen(word);
  if((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
    return 0;
  ps->p += n;
  return 1;
}

static cJSON *parse_value(struct parser *ps);

static cJSON *parse_container(struct parser *ps, int object) {
  cJSON *node = new_node(ps);
  if(!node)
    return NULL;
  node->type = object ? cJSON_Object : cJSON_Array;
  if(++ps->depth > ps->lim.max_depth) {
    ps->why = MON_DOC_DEPTH;
    return NULL;
  }
  size_t items = 0;
  ps->p++; /* '{' or '[' */
  skip_ws(ps);
  char close = object ? '}' : ']';
  if(ps->p < ps->end && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return node;
  }
  cJSON *last = NULL;
  for(;;) {
    char *key = NULL;
    if(object) {
      skip_ws(ps);
      if(ps->p >= ps->end || *ps->p != '"')
        return NULL;
      ps->p++;
      if(!(key = parse_string(ps)))
        return NULL;
      if(strlen(key) > ps->lim.max_string) {
        ps->why = MON_DOC_KEY;
        return NULL;
      }
      skip_ws(ps);
      if(ps->p >= ps->end || *ps->p != ':')
        return NULL;
      ps->p++;
    }
    if(++items > ps->lim.max_items) {
      ps->why = MON_DOC_ITEMS;
      return NULL;
    }
    cJSON *item = parse_value(ps);
    if(!item)
      return NULL;
    item->string = key;
    if(last) {
      last->next = item;
      item->prev = last;
    } else {
      node->child = item;
    }
    last = item;
    node->child->prev = last; /* cJSON keeps the tail in child->prev */
    skip_ws(ps);
    if(ps->p >= ps->end)
      return NULL;
    if(*ps->p == ',') {
      ps->p++;
      continue;
    }
    if(*ps->p != close)
      return NULL;
    ps->p++;
    ps->depth--;
    return node;
  }
}

static cJSON *parse_value(struct parser *ps) {
  skip_ws(ps);
  if(ps->p >= ps->end)
    return NULL;
  char ch = *ps->p;
  if(ch == '{' || ch == '[')
    return parse_container(ps, ch == '{');
  cJSON *node = new_node(ps);
  if(!node)
    return NULL;
  if(ch == '"') {
    ps->p++;
    node->type = cJSON_String;
    node->valuestring = parse_string(ps);
    if(node->valuestring && strlen(node->valuestring) > ps->lim.max_string) {
      ps->why = MON_DOC_STRING;
      return NULL;
    }
    return node->valuestring ? node : NULL;
  }
  if(match(ps, "true")) {
    node->type = cJSON_True;
    node->valueint = 1;
    return node;
  }
  if(match(ps, "false")) {
    node->type = cJSON_False;
    return node;
  }
  if(match(ps, "null") || match(ps, "NaN") || match(ps, "Infinity") ||
     match(ps, "-Infinity")) {
    node->type = cJSON_NULL;
    return node;
  }
  double v;
  if(!parse_number(ps, &v))
    return NULL;
  node->type = cJSON_Number;
  node->valuedouble = v;
  node->valueint = v >= (double)INT32_MAX   ? INT32_MAX
                   : v <= (double)INT32_MIN ? INT32_MIN
                                            : (int)v;
  return node;
}

void mon_doc_free(mon_doc *d) {
  if(!d)
    return;
  while(d->chunks) {
    struct chunk *next = d->chunks->next;
    free(d->chunks);
    d->chunks = next;
  }
  free(d);
}

mw_status mon_doc_parse(char *text, size_t len, const mon_doc_limits *lim,
                        mon_doc **out, int *why, size_t *err_offset) {
  *out = NULL;
  if(err_offset)
    *err_offset = 0;
  if(why)
    *why = 0;
  mon_doc *d = calloc(1, sizeof *d);
  if(!d)
    return MW_ENOMEM;
  struct parser ps = {
      text, text + len, d, 0, {256, (size_t)1 << 30, SIZE_MAX}, MON_DOC_SYNTAX};
  if(lim)
    ps.lim = *lim;
  d->root = parse_value(&ps);
  if(d->root) {
    skip_ws(&ps);
    if(ps.p != ps.end)
      d->root = NULL; /* trailing garbage */
  }
  if(!d->root) {
    if(err_offset)
      *err_offset = (size_t)(ps.p - text);
    if(why)
      *why = ps.why;
    mon_doc_free(d);
    return ps.why == MON_DOC_ITEMS ? MW_ETOOBIG
           : ps.why == MON_DOC_DEPTH || ps.why == MON_DOC_STRING ||
                   ps.why == MON_DOC_KEY
               ? MW_EVALIDATION
               : MW_EINVAL;
  }
  *out = d;
  return MW_OK;
}

const cJSON *mon_doc_root(const mon_doc *d) { return d ? d->root : NULL; }
