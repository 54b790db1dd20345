/* web/ratelimit.c - a token bucket per API token: `rate` requests per
 * second on average, `burst` at once. Buckets live in a fixed table of
 * mutex-striped slots indexed by token id, so memory is bounded whatever
 * the number of tokens (two tokens sharing a slot share a bucket, which
 * only makes the limit stricter for them). */
#include <pthread.h>
#include <stdlib.h>

#include "web/web_internal.h"

#define SLOTS 1024
#define STRIPES 16

struct bucket {
  int64_t token_id;
  double tokens;
  int64_t last_ns;
};

struct web_ratelimit {
  double rate, burst;
  pthread_mutex_t lock[STRIPES];
  struct bucket b[SLOTS];
};

struct web_ratelimit *web_ratelimit_new(int rate, int burst) {
  if(rate <= 0)
    return NULL;
  struct web_ratelimit *rl = calloc(1, sizeof *rl);
  if(!rl)
    return NULL;
  rl->rate = rate;
  rl->burst = burst > 0 ? burst : rate;
  for(int i = 0; i < STRIPES; i++)
    pthread_mutex_init(&rl->lock[i], NULL);
  return rl;
}

void web_ratelimit_free(struct web_ratelimit *rl) {
  if(!rl)
    return;
  for(int i = 0; i < STRIPES; i++)
    pthread_mutex_destroy(&rl->lock[i]);
  free(rl);
}

double web_ratelimit_take(struct web_ratelimit *rl, int64_t token_id,
                          int64_t now_ns) {
  if(!rl)
    return 0;
  size_t slot = (size_t)((uint64_t)token_id * 2654435761u) % SLOTS;
  pthread_mutex_t *m = &rl->lock[slot % STRIPES];
  pthread_mutex_lock(m);
  struct bucket *b = &rl->b[slot];
  if(b->token_id != token_id || b->last_ns == 0) {
    b->token_id = token_id;
    b->tokens = rl->burst;
    b->last_ns = now_ns;
  }
  double refill = (double)(now_ns - b->last_ns) / 1e9 * rl->rate;
  b->tokens = b->tokens + refill > rl->burst ? rl->burst : b->tokens + refill;
  b->last_ns = now_ns;
  double wait = 0;
  if(b->tokens >= 1)
    b->tokens -= 1;
  else
    wait = (1 - b->tokens) / rl->rate;
  pthread_mutex_unlock(m);
  return wait;
}
