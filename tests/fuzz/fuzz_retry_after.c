/* tests/fuzz/fuzz_retry_after.c - what the delivery worker reads from a
 * webhook receiver's answer: the input is one response header line as
 * curl hands it over (alert__header_line, not NUL-terminated) and, as a
 * string, a Retry-After value (alert__retry_after_parse: delay-seconds or
 * one of the three HTTP-date forms). A delay is never negative nor past
 * the 30-day cap, whatever the clock says. */
#include <string.h>

#include "alerts/internal.h"
#include "tests/fuzz/fuzz_common.h"

#define CAP_MS (30LL * 86400 * 1000)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Clocks: now, the epoch, and a date far ahead (RFC 850's two-digit
   * years are read relative to it). */
  static const int64_t nows[] = {1764230400000LL, 0, 4102444800000LL};
  /* The header line exactly as received, in a buffer of its own size so
   * ASan sees any read past it. */
  char *line = malloc(size ? size : 1);
  FUZZ_CHECK(line);
  memcpy(line, data, size);
  for(size_t k = 0; k < sizeof nows / sizeof nows[0]; k++) {
    int64_t ra = 12345;
    alert__header_line(line, size, nows[k], &ra);
    FUZZ_CHECK(ra == 12345 || ra == -1 || (ra >= 0 && ra <= CAP_MS));
  }
  free(line);
  char *value = fuzz_str(data, size);
  for(size_t k = 0; k < sizeof nows / sizeof nows[0]; k++) {
    int64_t d = -7;
    mw_status st = alert__retry_after_parse(value, nows[k], &d);
    FUZZ_CHECK(st == MW_OK || st == MW_EINVAL);
    FUZZ_CHECK(st ? d == -7 : (d >= 0 && d <= CAP_MS));
  }
  free(value);
  return 0;
}
