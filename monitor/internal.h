/* monitor/internal.h - every internal header of monitor/ at once, for the
 * tests and benchmarks that reach into the pieces (tests/unit/
 * test_monitor.c, tests/bench/bench_scale.c). Files of monitor/ include
 * only the headers they use, so that the include graph of the subsystem
 * says what depends on what (docs/architecture.md). Prefix mon__. */
#ifndef MW_MONITOR_INTERNAL_H
#define MW_MONITOR_INTERNAL_H

#include "monitor/batch.h"
#include "monitor/columns.h"
#include "monitor/context.h"
#include "monitor/dict.h"
#include "monitor/evaluate.h"
#include "monitor/ingest.h"
#include "monitor/monitor.h"
#include "monitor/pack.h"
#include "monitor/reference.h"
#include "monitor/report.h"
#include "monitor/retention.h"
#include "monitor/rollup.h"
#include "monitor/schema.h"
#include "monitor/series.h"
#include "monitor/settings.h"
#include "monitor/sketch.h"
#include "monitor/sketch_block.h"
#include "monitor/stats.h"
#include "monitor/store.h"
#include "monitor/wcache.h"
#include "monitor/window.h"

#endif
