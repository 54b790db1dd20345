/* monitor/segments.h - drift and performance per segment: per value of a
 * categorical column, the window's rows of that value against the
 * reference's rows of that value (monitor/segments.c). The ranking of
 * values is pure and unit-tested here. */
#ifndef MW_MONITOR_SEGMENTS_H
#define MW_MONITOR_SEGMENTS_H

#include <stddef.h>

/* Values reported one by one; the rest of the window is one segment. */
#define MON_SEGMENTS_TOP 20
/* The code of the segment of rows whose value is missing, and of the
 * segment of everything else, in mon_segment_group.code. */
#define MON_SEGMENT_MISSING (-1L)
#define MON_SEGMENT_OTHER (-2L)

typedef struct mon_segment_group {
  long code;    /* category code >= 0, MON_SEGMENT_MISSING or _OTHER */
  double count; /* rows of the window */
} mon_segment_group;

/* Ranks the window's values of a segment column: counts[k] rows carry code
 * k (ncodes codes) whose value is names[k] (names may be NULL), missing
 * rows have no value. groups (room for top + 1) receives the at most top
 * values with most rows, heaviest first (ties: by value in byte order, or
 * by code without names; the missing value after every value of its
 * count),
 * then, when any row is left, one MON_SEGMENT_OTHER group with the count
 * of the rest. group_of_code[k] (ncodes entries) and *group_of_missing get
 * the group index of each code and of the missing value: its own group,
 * the other group, or -1 when rows of it belong to no group (a value the
 * window does not have, when nothing else is left over either). Values
 * with no rows in the window never get a group of their own. Returns the
 * number of groups (0 for an empty window: every group_of_* is -1), or -1
 * when memory runs out. */
long mon__segments_rank(const double *counts, const char *const *names,
                        size_t ncodes, double missing, size_t top,
                        mon_segment_group *groups, long *group_of_code,
                        long *group_of_missing);

#endif
