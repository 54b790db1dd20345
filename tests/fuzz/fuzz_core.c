/* tests/fuzz/fuzz_core.c - core's parsers of outside text: RFC 3339 times
 * (mw_time_parse, every timestamp and time query), base64
 * (mw_base64_decode, signing secrets), integers (mw_parse_i64, path and
 * query numbers), resource names (mw_name_valid), webhook signing with
 * an arbitrary secret (mw_webhook_sign) and webhook URLs (the check at
 * creation, mw_url_check_target, and the redaction shown below admin,
 * mw_url_redact). Round trips are checked: a parsed time formats and
 * parses back to itself, decoded base64 encodes and decodes back, a parsed
 * integer prints back; a redacted URL is never longer than the URL, holds
 * no userinfo, path, query or fragment, and redacts to itself. */
#include <inttypes.h>
#include <string.h>

#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_str(data, size);

  int64_t ms;
  if(!mw_time_parse(s, &ms)) {
    char buf[64];
    int64_t back;
    mw_time_format(ms, buf, sizeof buf);
    /* Years before 0 or past 9999 do not print as RFC 3339. */
    if(ms >= -62167219200000LL && ms < 253402300800000LL) {
      FUZZ_CHECK(!mw_time_parse(buf, &back));
      FUZZ_CHECK(back == ms);
    }
  }

  unsigned char bin[512];
  long n = mw_base64_decode(s, bin, sizeof bin);
  FUZZ_CHECK(n >= -1 && n <= (long)sizeof bin);
  if(n >= 0) {
    char *enc = malloc(4 * ((size_t)n / 3 + 1) + 1);
    FUZZ_CHECK(enc);
    size_t elen = mw_base64_encode(bin, (size_t)n, enc);
    FUZZ_CHECK(elen == strlen(enc));
    unsigned char again[512];
    FUZZ_CHECK(mw_base64_decode(enc, again, sizeof again) == n);
    FUZZ_CHECK(!memcmp(bin, again, (size_t)n));
    free(enc);
  }

  int64_t v;
  if(!mw_parse_i64(s, &v)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    int64_t back;
    FUZZ_CHECK(!mw_parse_i64(buf, &back) && back == v);
  }

  if(mw_name_valid(s)) {
    size_t len = strlen(s);
    FUZZ_CHECK(len >= 1 && len <= 128 && s[0] != '.');
  }

  for(int flag = 0; flag < 2; flag++) {
    mw_err err = {{0}, NULL};
    mw_status us = mw_url_check_target(s, flag, &err);
    FUZZ_CHECK(us == MW_OK || us == MW_EVALIDATION);
    FUZZ_CHECK(us == MW_OK ? mw_url_valid(s) : err.msg[0] != 0);
    mw_err_clear(&err);
  }
  char red[1100], again[1100];
  mw_url_redact(s, red, sizeof red);
  FUZZ_CHECK(strlen(red) <= strlen(s));
  if(red[0]) {
    const char *auth = strstr(red, "://");
    FUZZ_CHECK(auth != NULL);
    FUZZ_CHECK(strpbrk(auth + 3, "@/?#\\") == NULL);
    mw_url_redact(red, again, sizeof again);
    FUZZ_CHECK(!strcmp(red, again));
  }

  char sig[64];
  memset(sig, 0x55, sizeof sig);
  if(!mw_webhook_sign(s, "msg_2Wq8f", 1764230400, (const char *)data, size, sig)) {
    FUZZ_CHECK(!memcmp(sig, "v1,", 3));
    FUZZ_CHECK(memchr(sig, 0, sizeof sig) != NULL && strlen(sig) == 47);
  }
  free(s);
  return 0;
}
