/* tests/fuzz/fuzz_doc.c - the ingest endpoints' own JSON parser
 * (monitor/json.c, mon_doc_parse: arena nodes, strings decoded in place,
 * a fast path for numbers), differentially against cJSON, which parses
 * every other body:
 *  - what mon_doc_parse accepts, cJSON accepts too (after rewriting
 *    NaN/Infinity to null, as web/ did before), and the two
 *    trees are the same: types, keys, strings, order, and numbers to the
 *    bit (cJSON reads numbers with strtod, correctly rounded; it cuts
 *    number tokens at 63 characters, so longer ones are compared by
 *    strtod here);
 *  - a bare number token is read exactly as strtod reads it;
 *  - the caps answer as documented. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz_common.h"
#include "web/web_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

/* Replaces the bare tokens NaN, Infinity and -Infinity (which Python's json
 * module writes, though JSON has no such values) outside strings by null,
 * as web/ did before the ingest endpoints had a parser of their own: the
 * reference behaviour. Returns a new buffer (caller frees) or NULL when
 * there were none. */
static char *nan_to_null(const char *in, size_t len, size_t *outlen) {
  static const struct {
    const char *tok;
    size_t len;
  } toks[] = {{"-Infinity", 9}, {"Infinity", 8}, {"NaN", 3}};
  char *out = malloc(len + len / 3 + 8);
  if(!out)
    return NULL;
  size_t o = 0;
  int in_str = 0, esc = 0, found = 0;
  for(size_t i = 0; i < len;) {
    char ch = in[i];
    if(in_str) {
      if(esc)
        esc = 0;
      else if(ch == '\\')
        esc = 1;
      else if(ch == '"')
        in_str = 0;
      out[o++] = in[i++];
      continue;
    }
    if(ch == '"')
      in_str = 1;
    size_t k = 0;
    for(; k < sizeof toks / sizeof toks[0]; k++)
      if(len - i >= toks[k].len && !memcmp(in + i, toks[k].tok, toks[k].len))
        break;
    if(k < sizeof toks / sizeof toks[0]) {
      memcpy(out + o, "null", 4);
      o += 4;
      i += toks[k].len;
      found = 1;
      continue;
    }
    out[o++] = in[i++];
  }
  if(!found) {
    free(out);
    return NULL;
  }
  *outlen = o;
  return out;
}

/* web_json_parse after nan_to_null: cJSON with web/'s caps, NaN taken. */
static int reference_parse(const char *data, size_t len, cJSON **out, char *msg,
                           size_t cap) {
  const char *code;
  cJSON *det = NULL;
  int status = web_json_parse(data, len, SIZE_MAX, out, &code, msg, cap, &det);
  cJSON_Delete(det);
  size_t fixed_len = 0;
  char *fixed = status == 400 ? nan_to_null(data, len, &fixed_len) : NULL;
  if(fixed) {
    det = NULL;
    status = web_json_parse(fixed, fixed_len, SIZE_MAX, out, &code, msg, cap, &det);
    cJSON_Delete(det);
    free(fixed);
  }
  return status;
}

static int same_number(double a, double b) {
  return a == b ? signbit(a) == signbit(b) : (isnan(a) && isnan(b));
}

/* 1 when a number token of 60 characters or more occurs outside strings
 * (cJSON reads only its first 63 characters). */
static int has_long_number(const char *p, size_t n) {
  int in_str = 0;
  size_t run = 0;
  for(size_t i = 0; i < n; i++) {
    char ch = p[i];
    if(in_str) {
      if(ch == '\\')
        i++;
      else if(ch == '"')
        in_str = 0;
      continue;
    }
    if(ch == '"') {
      in_str = 1;
      run = 0;
    } else if(strchr("0123456789+-.eE", ch) && ch) {
      if(++run >= 60)
        return 1;
    } else {
      run = 0;
    }
  }
  return 0;
}

/* a and b hold the same JSON; top: the roots, whose keys do not count. */
static void same_tree(const cJSON *a, const cJSON *b, int loose_numbers, int top) {
  FUZZ_CHECK((a->type & 0xff) == (b->type & 0xff));
  FUZZ_CHECK(top || !a->string == !b->string);
  if(!top && a->string)
    FUZZ_CHECK(!strcmp(a->string, b->string));
  if(cJSON_IsString(a))
    FUZZ_CHECK(!strcmp(a->valuestring, b->valuestring));
  if(cJSON_IsNumber(a)) {
    FUZZ_CHECK(loose_numbers || same_number(a->valuedouble, b->valuedouble));
    FUZZ_CHECK(loose_numbers || a->valueint == b->valueint);
  }
  const cJSON *x = a->child, *y = b->child;
  for(; x && y; x = x->next, y = y->next)
    same_tree(x, y, loose_numbers, 0);
  FUZZ_CHECK(!x && !y);
  /* cJSON's own walkers rely on child->prev being the last item. */
  if(a->child) {
    const cJSON *last = a->child;
    while(last->next)
      last = last->next;
    FUZZ_CHECK(a->child->prev == last);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char msg0[160];
  char *text = fuzz_str(data, size);
  mon_doc_limits lim = {WEB_JSON_MAX_DEPTH, WEB_JSON_MAX_STRING, WEB_JSON_MAX_ARRAY};
  mon_doc *doc = NULL;
  int why = -1;
  size_t off = (size_t)-1;
  mw_status st = mon_doc_parse(text, size, &lim, &doc, &why, &off);
  if(st) {
    FUZZ_CHECK(!doc && off <= size);
    FUZZ_CHECK((st == MW_EINVAL && why == MON_DOC_SYNTAX) ||
               (st == MW_EVALIDATION &&
                (why == MON_DOC_DEPTH || why == MON_DOC_STRING || why == MON_DOC_KEY)) ||
               (st == MW_ETOOBIG && why == MON_DOC_ITEMS));
    free(text);
    return 0;
  }
  const cJSON *root = mon_doc_root(doc);
  FUZZ_CHECK(root && why == 0);
  /* A key twice in one object: the ingest routes refuse it after parsing
   * (web_json_unique_keys), as web_json_parse does. */
  {
    const char *code;
    cJSON *det = NULL;
    int status = web_json_unique_keys(root, &code, msg0, sizeof msg0, &det);
    cJSON_Delete(det);
    if(status) {
      FUZZ_CHECK(status == 400 && !strcmp(code, "invalid_json"));
      mon_doc_free(doc);
      free(text);
      return 0;
    }
  }

  /* A bare number: exactly strtod's reading of the same token. */
  if(cJSON_IsNumber(root)) {
    char *tok = fuzz_str(data, size);
    char *start = tok + strspn(tok, " \t\r\n");
    char *end = NULL;
    double want = strtod(start, &end);
    FUZZ_CHECK(end > start);
    FUZZ_CHECK(same_number(root->valuedouble, want));
    free(tok);
  }

  /* The same text through cJSON. Strings may hold a NUL only as \u0000,
   * which mon_doc refuses; so no cut strings on this side. */
  cJSON *ref = NULL;
  char msg[160];
  int lenient_status;
  if(cJSON_IsObject(root)) {
    lenient_status = reference_parse((const char *)data, size, &ref, msg, sizeof msg);
  } else {
    /* web_json_parse wants an object at the top: wrap the value. */
    size_t n = size + 16;
    char *wrapped = malloc(n);
    FUZZ_CHECK(wrapped);
    memcpy(wrapped, "{\"v\":", 5);
    memcpy(wrapped + 5, data, size);
    memcpy(wrapped + 5 + size, "\n}", 2);
    lenient_status = reference_parse(wrapped, size + 7, &ref, msg, sizeof msg);
    free(wrapped);
    if(!lenient_status) {
      cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(ref, "v");
      cJSON_Delete(ref);
      ref = v;
    }
  }
  if(lenient_status) {
    fprintf(stderr, "mon_doc_parse accepted what web/ refuses (%d: %s)\n",
            lenient_status, msg);
    abort();
  }
  same_tree(root, ref, has_long_number((const char *)data, size), 1);
  cJSON_Delete(ref);
  mon_doc_free(doc);
  free(text);
  return 0;
}
