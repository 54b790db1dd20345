/* alerts/re2_shim.cc - the C face of RE2 for matchers' regular
 * expressions (alerts/matchers.c chose RE2 and says why): compile with
 * limits, match a whole string, free. The only C++ in modelwatch; nothing
 * of RE2 leaks past this file, and no C++ exception crosses into C. */
#include <cassert>
#include <cstring>
#include <new>

#include <re2/re2.h>

extern "C" {
#include "alerts/internal.h"
}

struct alert__re {
  RE2 re;
  alert__re(const re2::StringPiece &p, const RE2::Options &o) : re(p, o) {}
};

extern "C" mw_status alert__re_compile(const char *pattern,
                                       const struct alert__re_limits *lim,
                                       alert__re **out, mw_err *err) {
  assert(pattern && lim && out);
  *out = nullptr;
  size_t n = std::strlen(pattern);
  if(n > lim->max_len)
    return mw_errf(err, MW_EVALIDATION, "is longer than %zu bytes", lim->max_len);
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(lim->max_mem);
  /* Only "does it match" is asked: groups need not capture. */
  o.set_never_capture(true);
  alert__re *r = nullptr;
  try {
    r = new alert__re(re2::StringPiece(pattern, n), o);
  } catch(...) {
    return MW_ENOMEM;
  }
  if(!r->re.ok()) {
    mw_status s;
    if(r->re.error_code() == RE2::ErrorPatternTooLarge)
      s = mw_errf(err, MW_EVALIDATION,
                  "is too large a regular expression (its compiled program "
                  "passes the memory budget of %lld bytes)",
                  (long long)lim->max_mem);
    else
      s = mw_errf(err, MW_EVALIDATION, "is not a valid regular expression: %s",
                  r->re.error().c_str());
    delete r;
    return s;
  }
  int size = r->re.ProgramSize();
  if(size > lim->max_program) {
    delete r;
    return mw_errf(err, MW_EVALIDATION,
                   "is too large a regular expression: its program has %d "
                   "instructions, at most %d are allowed (large counted "
                   "repetitions such as {1,1000} make it grow)",
                   size, lim->max_program);
  }
  *out = r;
  return MW_OK;
}

extern "C" int alert__re_full_match(const alert__re *re, const char *text,
                                    size_t len) {
  assert(re && text);
  re2::StringPiece sp(text, len);
  try {
    return re->re.Match(sp, 0, sp.size(), RE2::ANCHOR_BOTH, nullptr, 0) ? 1 : 0;
  } catch(...) {
    return 0;
  }
}

extern "C" int alert__re_program_size(const alert__re *re) {
  return re ? re->re.ProgramSize() : 0;
}

extern "C" void alert__re_free(alert__re *re) {
  delete re;
}
