/* web/routes.c - the route table: method, path pattern, scope, handler.
 * Order matters only for readability: patterns never overlap. */
#include "web/web_internal.h"

const struct web_route web_routes[] = {
    {"GET", "/healthz", MW_SCOPE_NONE, web_h_healthz},
    {"GET", "/readyz", MW_SCOPE_NONE, web_h_readyz},
    {"GET", "/metrics", MW_SCOPE_NONE, web_h_metrics},

    {"POST", "/api/v1/tokens", MW_SCOPE_ADMIN, web_h_tokens_create},
    {"GET", "/api/v1/tokens", MW_SCOPE_ADMIN, web_h_tokens_list},
    {"DELETE", "/api/v1/tokens/{name}", MW_SCOPE_ADMIN, web_h_tokens_delete},
};

const size_t web_routes_count = sizeof web_routes / sizeof web_routes[0];
