/* web/api_monitor.c - predictions, labels, reference sets and drift. */
#include "web/web_internal.h"

const struct web_route web_routes_monitor[] = {
    {"GET", "/api/v1/_monitor_placeholder", MW_SCOPE_READ, NULL},
};
const size_t web_routes_monitor_count = 0;
