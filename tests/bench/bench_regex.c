/* tests/bench/bench_regex.c - the two candidate engines for silence
 * matchers' regular expressions, on the hostile patterns of the report and
 * on realistic matchers: RE2 (through alerts/re2_shim.cc, with the limits
 * alerts/matchers.c uses, and once with RE2's defaults and no program cap)
 * and PCRE2 (interpreter, with match, depth and heap limits). Per pattern:
 * whether it compiles, compile time, heap held after compiling and after
 * matching (RE2's DFA caches grow while matching), the worst time of one
 * full-anchored match over label values of up to 1024 bytes built to make
 * backtracking explode, and whether an answer was wrong or missing (PCRE2
 * giving up at a limit). Prints figures; never fails on time.
 * Usage: bench_regex [repetitions] (default 3). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcre2.h>

#include "alerts/internal.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long heap_kb(void) {
  struct mallinfo2 mi = mallinfo2();
  return (long)(mi.uordblks / 1024);
}

#define NTEXTS 7
static char *texts[NTEXTS];

static void make_texts(void) {
  /* 1024-byte label values (the longest a rule label may be): a run of
   * one letter ending where the pattern cannot, two halves, and short
   * realistic values. */
  const char *runs[] = {"a!", "xz", "yz"};
  for(int i = 0; i < 3; i++) {
    texts[i] = malloc(1025);
    memset(texts[i], runs[i][0], 1023);
    texts[i][1023] = runs[i][1];
    texts[i][1024] = 0;
  }
  texts[3] = malloc(1025);
  memset(texts[3], 'y', 512);
  memset(texts[3] + 512, 'x', 511);
  texts[3][1023] = 'z';
  texts[3][1024] = 0;
  texts[4] = strdup("team-a");
  texts[5] = strdup("production-eu-1");
  texts[6] = malloc(1025);
  memset(texts[6], 'a', 1024);
  texts[6][1024] = 0;
}

struct result {
  int ok;             /* compiled */
  char why[96];       /* when not */
  int program;        /* RE2 instructions / PCRE2 code bytes */
  double compile_us;
  long heap_compiled_kb, heap_matched_kb;
  double worst_us;
  int limit_hits;     /* PCRE2 matches that gave up */
  int matches;        /* matches run */
};

static void bench_re2(const char *pat, const struct alert__re_limits *lim, int reps,
                      struct result *r) {
  memset(r, 0, sizeof *r);
  long h0 = heap_kb();
  double t0 = now_us();
  alert__re *re = NULL;
  mw_err err = {0};
  mw_status s = alert__re_compile(pat, lim, &re, &err);
  r->compile_us = now_us() - t0;
  if(s) {
    snprintf(r->why, sizeof r->why, "%.90s", err.msg);
    mw_err_clear(&err);
    return;
  }
  r->ok = 1;
  r->program = alert__re_program_size(re);
  r->heap_compiled_kb = heap_kb() - h0;
  for(int k = 0; k < reps; k++)
    for(int i = 0; i < NTEXTS; i++) {
      double a = now_us();
      (void)alert__re_full_match(re, texts[i], strlen(texts[i]));
      double d = now_us() - a;
      if(d > r->worst_us)
        r->worst_us = d;
    }
  r->heap_matched_kb = heap_kb() - h0;
  alert__re_free(re);
}

static void bench_pcre2(const char *pat, int reps, struct result *r) {
  memset(r, 0, sizeof *r);
  long h0 = heap_kb();
  double t0 = now_us();
  int ec;
  PCRE2_SIZE eo;
  pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
  pcre2_set_max_pattern_length(cc, 1024);
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED |
                                       PCRE2_NO_AUTO_CAPTURE,
                                   &ec, &eo, cc);
  r->compile_us = now_us() - t0;
  pcre2_compile_context_free(cc);
  if(!code) {
    PCRE2_UCHAR msg[120];
    pcre2_get_error_message(ec, msg, sizeof msg);
    snprintf(r->why, sizeof r->why, "%.90s", (const char *)msg);
    return;
  }
  r->ok = 1;
  size_t size = 0;
  pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size);
  r->program = (int)size;
  r->heap_compiled_kb = heap_kb() - h0;
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  /* Well under PCRE2's defaults (10 M calls, 20 GB heap), so that one
   * match stays in the milliseconds. */
  pcre2_set_match_limit(mc, 100000);
  pcre2_set_depth_limit(mc, 10000);
  pcre2_set_heap_limit(mc, 1024); /* KiB */
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
  for(int k = 0; k < reps; k++)
    for(int i = 0; i < NTEXTS; i++) {
      double a = now_us();
      int rc = pcre2_match(code, (PCRE2_SPTR)texts[i], strlen(texts[i]), 0, 0, md, mc);
      double d = now_us() - a;
      r->matches++;
      if(rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
         rc == PCRE2_ERROR_HEAPLIMIT)
        r->limit_hits++;
      if(d > r->worst_us)
        r->worst_us = d;
    }
  r->heap_matched_kb = heap_kb() - h0;
  pcre2_match_data_free(md);
  pcre2_match_context_free(mc);
  pcre2_code_free(code);
}

static void print(const char *engine, const char *pat, const struct result *r) {
  if(!r->ok) {
    printf("  %-26s %-10s refused in %7.0f us: %s\n", pat, engine, r->compile_us, r->why);
    return;
  }
  printf("  %-26s %-10s %6d %-6s compile %7.0f us  heap %5ld/%5ld KB  worst match "
         "%8.0f us%s\n",
         pat, engine, r->program, engine[0] == 'P' ? "bytes" : "instr", r->compile_us,
         r->heap_compiled_kb, r->heap_matched_kb, r->worst_us,
         r->limit_hits ? "  GAVE UP (limit)" : "");
  if(r->limit_hits)
    printf("  %-26s %-10s   %d of %d matches stopped at a limit: no answer\n", "",
           engine, r->limit_hits, r->matches);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 3;
  if(reps < 1)
    reps = 1;
  make_texts();
  const char *patterns[] = {
      /* The report's: glibc's regcomp overflowed the stack on these. */
      "(.*){1,1000}", "(a?){1,1000}", "(a*){1,400}", "(x|y*){1,600}", "(.*){1,288}",
      /* Near our program cap, and classic backtracking traps. */
      "(.*){1,90}", "(a?){1,199}", "(x|y*){1,142}", "(a|aa){1,160}b", "(a+)+b",
      "((a+)+)+$", "(.*a){1,90}", "[a-z]{1,1000}[0-9]{1,1000}",
      /* Realistic matchers. */
      "team-(a|b)", "prod.*", "critical|warning", "(eu|us)-(west|east)-[0-9]+",
      "fraud|churn|ltv-.*", "[a-z0-9-]{1,63}",
  };
  struct alert__re_limits re2_defaults = {1024, 8 << 20, 1 << 30};
  printf("== bench_regex: %d repetitions of %d label values per pattern (1024-byte "
         "hostile ones)\n",
         reps, NTEXTS);
  printf("   RE2: our limits (max_mem %lld B, program <= %d instr); RE2-dflt: 8 MB, "
         "no program cap; PCRE2: match 100000, depth 10000, heap 1 MB\n",
         (long long)alert__matcher_limits.max_mem, alert__matcher_limits.max_program);
  for(size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
    struct result r;
    bench_re2(patterns[i], &alert__matcher_limits, reps, &r);
    print("RE2", patterns[i], &r);
    bench_re2(patterns[i], &re2_defaults, reps, &r);
    print("RE2-dflt", patterns[i], &r);
    bench_pcre2(patterns[i], reps, &r);
    print("PCRE2", patterns[i], &r);
  }
  for(int i = 0; i < NTEXTS; i++)
    free(texts[i]);
  return 0;
}
