/* core/core.h - every public header of core, for files that use most of
 * them. Core is the plumbing shared by every subsystem; nothing in it knows
 * about HTTP, models or drift, and none of its public headers names a
 * database backend's types.
 *
 *   core/status.h   the status enum (one X-macro table) and mw_err
 *   core/log.h      one-line log records on stderr
 *   core/clock.h    wall and monotonic clocks, RFC 3339
 *   core/crypto.h   sha256, HMAC, base64, random tokens, webhook signatures
 *   core/buf.h      mw_buf (a buffer with a hard cap) and string helpers
 *   core/json.h     helpers over cJSON
 *   core/utf8.h     strict UTF-8
 *   core/valid.h    resource names
 *   core/url.h      webhook targets: egress policy, URL checks, redaction
 *   core/db.h       the database seam: connections, transactions, migrations
 *   core/cluster.h  the replicas sharing a database and their leader
 *   core/auth.h     scopes, API tokens, dashboard sessions
 *   core/audit.h    the audit log
 *   core/outbox.h   the transactional outbox of webhooks
 *   core/events.h   event subscriptions (registry and alert events out)
 *   core/secrets.h  credentials encrypted at rest, the key and its file
 *   core/backup.h   backup, restore, the data-directory lock
 *   core/config.h   the server configuration */
#ifndef MW_CORE_H
#define MW_CORE_H

#include "core/audit.h"
#include "core/auth.h"
#include "core/backup.h"
#include "core/buf.h"
#include "core/cluster.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/db.h"
#include "core/events.h"
#include "core/json.h"
#include "core/log.h"
#include "core/outbox.h"
#include "core/secrets.h"
#include "core/status.h"
#include "core/url.h"
#include "core/utf8.h"
#include "core/valid.h"

#endif
