/* alerts/announce.c - one-off notices to the chat channels of a model's
 * rules: what another subsystem (a rollout that aborted) has to tell the
 * people who watch that model. They are not alerts: no episode, no group
 * timers, no repeats; the notice is formatted for each channel's type like
 * an alert of the group (so every channel kind shows the same facts) and
 * queued in the caller's transaction.
 *
 * Cost: one walk of the rules and one of their channel lists (O(rules));
 * called on rare events only. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"

#define MAX_CHANNELS 64

struct model_channels {
  const char *model;
  int64_t ids[256]; /* the model's rules (the first 256) */
  int nids;
  char *names[MAX_CHANNELS];
  int n;
};

static mw_status got_rule(void *ctx, const struct alert__rule_row *r) {
  struct model_channels *mc = ctx;
  if(!strcmp(r->model, mc->model) &&
     mc->nids < (int)(sizeof mc->ids / sizeof mc->ids[0]))
    mc->ids[mc->nids++] = r->id;
  return MW_OK;
}

static mw_status got_link(void *ctx, int64_t rule_id, const char *name) {
  struct model_channels *mc = ctx;
  int mine = 0;
  for(int i = 0; i < mc->nids && !mine; i++)
    mine = mc->ids[i] == rule_id;
  for(int i = 0; i < mc->n && mine; i++)
    if(!strcmp(mc->names[i], name))
      mine = 0; /* named by another rule already */
  if(mine && mc->n < MAX_CHANNELS) {
    if(!(mc->names[mc->n] = strdup(name)))
      return MW_ENOMEM;
    mc->n++;
  }
  return MW_OK;
}

mw_status alert_announce_model(mw_conn *c, const char *model,
                               const struct alert_group_notice *g, int *sent) {
  assert(mw_tx_state(c) == 1 && g && g->nalerts > 0);
  *sent = 0;
  struct model_channels mc;
  memset(&mc, 0, sizeof mc);
  mc.model = model;
  const struct alert__store *st = alert__store(c);
  mw_status s = st->rule_list(c, got_rule, &mc);
  if(!s && mc.nids)
    s = st->rule_channels(c, 0, got_link, &mc);
  for(int i = 0; i < mc.n && !s; i++) {
    s = alert_channel_enqueue(c, mc.names[i], g, NULL, NULL);
    if(s == MW_ENOTFOUND)
      s = MW_OK; /* deleted since: nobody to tell there */
    else if(!s)
      (*sent)++;
  }
  for(int i = 0; i < mc.n; i++)
    free(mc.names[i]);
  return s;
}
