/* monitor/stats_sum.c - numpy's float64 summation, reproduced exactly.
 *
 * np.sum of a contiguous float64 array runs the add reduction over
 * 8192-element buffers, adding the buffer sums in order, and sums each
 * buffer with numpy's pairwise algorithm: below 8 elements a plain loop,
 * up to 128 elements 8 interleaved accumulators combined as
 * ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) plus the tail, and above that a split
 * at n/2 rounded down to a multiple of 8. Matching that order lets our sums
 * agree with scipy's to the last bit (checked by tests/oracle/).
 */
#include <stddef.h>

#include "monitor/stats_internal.h"

#define NP_PW_BLOCKSIZE MON__NP_PW_BLOCKSIZE
#define NP_BUFSIZE MON__NP_BUFSIZE

/* numpy's pairwise_sum for doubles, term(i) given by the macro TERM. */
#define DEFINE_PAIRWISE(name, TERM, ...)                                     \
  static double name(const double *a, size_t n, __VA_ARGS__) {               \
    if(n < 8) {                                                              \
      double res = 0.;                                                       \
      for(size_t i = 0; i < n; i++)                                          \
        res += TERM(i);                                                      \
      return res;                                                            \
    } else if(n <= NP_PW_BLOCKSIZE) {                                        \
      double r[8];                                                           \
      size_t i;                                                              \
      for(int k = 0; k < 8; k++)                                             \
        r[k] = TERM(k);                                                      \
      for(i = 8; i < n - (n % 8); i += 8)                                    \
        for(int k = 0; k < 8; k++)                                           \
          r[k] += TERM(i + k);                                               \
      double res =                                                           \
          ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])); \
      for(; i < n; i++)                                                      \
        res += TERM(i);                                                      \
      return res;                                                            \
    } else {                                                                 \
      size_t n2 = n / 2;                                                     \
      n2 -= n2 % 8;                                                          \
      return name(a, n2, ARGS_FWD) + name(a + n2, n - n2, ARGS_FWD);         \
    }                                                                        \
  }

#define TERM_PLAIN(i) (a[(i)])
#define ARGS_FWD dummy
DEFINE_PAIRWISE(pw_sum, TERM_PLAIN, int dummy)
#undef ARGS_FWD

#define TERM_SQDEV(i) ((a[(i)] - mean) * (a[(i)] - mean))
#define ARGS_FWD mean
DEFINE_PAIRWISE(pw_sum_sqdev, TERM_SQDEV, double mean)
#undef ARGS_FWD

double mon__np_sum(const double *a, size_t n) {
  double acc = 0.0;
  for(size_t s = 0; s < n; s += NP_BUFSIZE)
    acc += pw_sum(a + s, n - s < NP_BUFSIZE ? n - s : NP_BUFSIZE, 0);
  return acc;
}

double mon__np_sum_sqdev(const double *a, size_t n, double mean) {
  double acc = 0.0;
  for(size_t s = 0; s < n; s += NP_BUFSIZE)
    acc += pw_sum_sqdev(a + s, n - s < NP_BUFSIZE ? n - s : NP_BUFSIZE, mean);
  return acc;
}

/* The pairwise tree of one buffer of n terms as a post-order list: a
 * positive entry is a leaf of that many terms, -1 adds the two sums on top
 * of the stack. */
static void np_stream_plan(mon__np_stream *st, size_t n) {
  /* Iterative post-order walk of pw_sum's recursion. */
  struct {
    size_t n;
    int state;
  } stack[64];
  int sp = 0;
  st->nops = 0;
  stack[sp].n = n;
  stack[sp].state = 0;
  sp++;
  while(sp > 0) {
    const size_t m = stack[sp - 1].n;
    if(m <= NP_PW_BLOCKSIZE) {
      st->ops[st->nops++] = (int)m;
      sp--;
      continue;
    }
    size_t m2 = m / 2;
    m2 -= m2 % 8;
    if(stack[sp - 1].state == 0) {
      stack[sp - 1].state = 1;
      stack[sp].n = m2;
      stack[sp].state = 0;
      sp++;
    } else if(stack[sp - 1].state == 1) {
      stack[sp - 1].state = 2;
      stack[sp].n = m - m2;
      stack[sp].state = 0;
      sp++;
    } else {
      st->ops[st->nops++] = -1;
      sp--;
    }
  }
  st->op = 0;
  st->fill = 0;
  st->sp = 0;
}

void mon__np_stream_init(mon__np_stream *st, size_t n_total) {
  st->remaining = n_total;
  st->acc = 0.0;
  st->nops = st->op = st->fill = st->sp = 0;
  st->ops[0] = 0;
  if(n_total > 0)
    np_stream_plan(st, n_total < NP_BUFSIZE ? n_total : NP_BUFSIZE);
}

void mon__np_stream_leaf(mon__np_stream *st) {
  st->stack[st->sp++] = pw_sum(st->leaf, st->fill, 0);
  st->fill = 0;
  st->op++;
  while(st->op < st->nops && st->ops[st->op] < 0) {
    st->stack[st->sp - 2] = st->stack[st->sp - 2] + st->stack[st->sp - 1];
    st->sp--;
    st->op++;
  }
  if(st->op == st->nops) { /* buffer done */
    st->acc += st->stack[0];
    size_t done = 0;
    for(int k = 0; k < st->nops; k++)
      if(st->ops[k] > 0)
        done += (size_t)st->ops[k];
    st->remaining -= done;
    if(st->remaining > 0)
      np_stream_plan(st, st->remaining < NP_BUFSIZE ? st->remaining : NP_BUFSIZE);
  }
}
