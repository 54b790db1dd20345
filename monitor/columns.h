/* monitor/columns.h - one column of a drift report: its values (streamed
 * from the window or taken from the live-window cache) against its
 * reference column, every statistic of monitor/stats.h, and its JSON; and
 * the small pool of threads that computes the numeric columns of a report
 * under a memory budget (monitor/columns.c). */
#ifndef MW_MONITOR_COLUMNS_H
#define MW_MONITOR_COLUMNS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "monitor/dict.h"
#include "monitor/schema.h"
#include "monitor/store.h"
#include "monitor/wcache.h"
#include "monitor/window.h"

/* The work of one column. The reading thread fills the inputs; compute
 * (on a pool thread for numeric columns) fills json, evaluated, drifted
 * and st, and frees the values. */
typedef struct mon_job {
  struct mon_job *next;
  size_t col;
  const mon_column *column;
  const mon_refcol *ref;
  mon_drift_options opt;
  double *vals;     /* numeric, streamed: window values (sampled when sampled > 0) */
  bool vals_mapped; /* vals is from mon__vals_alloc (else from malloc) */
  size_t n;
  size_t reserve; /* doubles charged to the budget */
  size_t sampled; /* 0: exact; else rows used for the sorted statistics */
  mon_gather agg; /* exact aggregates when sampled */
  /* The column's sorted values or counts by code: a live-window cache
   * entry's column, or (categorical, streamed) own. */
  mon_wcol *w;
  mon_wcol own;
  double *rem, *add; /* numeric, cached: values leaving and entering */
  size_t nrem, nadd;
  /* mon_drift_compare: the reference is the baseline version's window
   * (reasons say so); baseline_empty: that window has no rows (the column
   * is no_data); unmatched: why the column cannot be compared (the
   * baseline has no such column, or one of another kind), which makes it
   * insufficient_data with that reason (borrowed; NULL: comparable). */
  bool baseline, baseline_empty;
  const char *unmatched;
  bool keep_vals; /* compute leaves vals to the caller (a pool's spare) */
  /* Quarantined rows of the window with an invalid value in the column
   * (the column's quality; set by the reading thread); -1: not known
   * (a segment's column), left out of the quality. */
  int64_t invalid;
  cJSON *json; /* the column's result */
  bool evaluated, drifted;
  mw_status st;
} mon_job;

/* The array of a streamed column's values (jb->vals): n doubles,
 * uninitialised; large ones mapped with huge pages asked for. NULL when
 * memory runs out. Freed only by mon__vals_free (NULL is fine). */
double *mon__vals_alloc(size_t n);
void mon__vals_free(double *v);
/* The doubles v has room for (0 for small arrays, which are not reused). */
size_t mon__vals_cap(const double *v);

/* Computes jb's statistics and JSON (see mon_job). */
void mon__column_compute(mon_job *jb);
/* The categorical "histogram" of jb (before mon__column_compute, which
 * frees a streamed column's counts) with category names from d:
 * counts per category in the reference and the window, the heaviest
 * first. NULL when memory runs out. */
cJSON *mon__column_histogram(const mon_job *jb, const mon_dict *d);
/* Frees what jb owns. */
void mon__column_free(mon_job *jb);

/* Threads computing columns, with at most budget doubles in flight. */
typedef struct mon_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  mon_job *head, *tail;
  size_t inflight, budget;
  int stop;
  int nthreads;
#define MON_POOL_SPARES 4
  double *spare[MON_POOL_SPARES]; /* computed columns' arrays, for reuse */
  int nspare;
  pthread_t th[16];
} mon_pool;

/* Starts up to n (at most 16) threads; returns how many started (0: none,
 * compute on the calling thread). */
int mon__pool_start(mon_pool *p, int n, size_t budget);
/* Waits until reserve more doubles fit the budget (or nothing is in
 * flight), then charges them: the caller then reads the column's values. */
void mon__pool_reserve(mon_pool *p, size_t reserve);
/* An array for n values: a computed column's spare, else a new one
 * (mon__vals_alloc). NULL when memory runs out. */
double *mon__pool_vals(mon_pool *p, size_t n);
/* Queues jb (charged with jb->reserve) for a thread. */
void mon__pool_submit(mon_pool *p, mon_job *jb);
/* Lets the threads finish the queue, then joins them. */
void mon__pool_finish(mon_pool *p);

#endif
