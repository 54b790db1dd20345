#!/usr/bin/env bash
# What a CI job runs to register and promote a model with modelwatch, using
# only curl, sha256sum and sed:
#   1. create the model if it does not exist,
#   2. create a version with its metrics, params and feature schema,
#   3. upload the artifact with its sha256 (the server verifies it),
#   4. point `staging` at the new version,
#   5. point `production` at it with compare-and-swap, so two pipelines
#      racing cannot silently overwrite each other's promotion.
# When `production` is protected (it accepts only approved versions), the
# job waits between 4 and 5 for a second person to approve the version -
# examples/approve.sh, or Approve on the dashboard - and fails when it is
# rejected or nobody decides in time: the two-person flow.
#
# Environment:
#   MODELWATCH_URL    base URL (default http://127.0.0.1:8080)
#   MODELWATCH_TOKEN  a token with the promote scope (default: var/admin.token)
#   MODEL             model name (default: demo-model)
#   ARTIFACT          file to upload (required)
#   METRICS           JSON object of metrics (default {})
#   SCHEMA            JSON file with the feature schema (optional)
#   RUN_ID            the CI run id (default: $GITHUB_RUN_ID or "local")
#   APPROVAL_TIMEOUT  seconds to wait for an approval (default 3600)
#   APPROVAL_POLL     seconds between looks (default 10)
#
# Exit status: 0 promoted, 1 a request failed, 3 the version was rejected,
# 4 nobody decided within APPROVAL_TIMEOUT.
set -euo pipefail

URL=${MODELWATCH_URL:-http://127.0.0.1:8080}
TOKEN=${MODELWATCH_TOKEN:-$(cat var/admin.token 2>/dev/null || true)}
MODEL=${MODEL:-demo-model}
METRICS=${METRICS:-{\}}
RUN_ID=${RUN_ID:-${GITHUB_RUN_ID:-local}}
: "${ARTIFACT:?set ARTIFACT to the model file}"
[ -n "$TOKEN" ] || { echo "set MODELWATCH_TOKEN" >&2; exit 2; }

api() { # api METHOD PATH [curl args...] -> body on stdout, fails on >= 400
  local method=$1 path=$2; shift 2
  local out code
  out=$(curl -sS -X "$method" -H "Authorization: Bearer $TOKEN" \
        -w '\n%{http_code}' "$URL/api/v1$path" "$@")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$code" -ge 400 ]; then
    echo "modelwatch: $method $path -> $code $out" >&2
    return 1
  fi
  printf '%s' "$out"
}
status_of() { # status_of PATH -> HTTP status of a GET
  curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/v1$1"
}
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" | head -n1; }

if [ "$(status_of "/models/$MODEL")" = 404 ]; then
  api POST /models -H 'Content-Type: application/json' \
    -d "{\"name\":\"$MODEL\",\"description\":\"registered by CI\"}" >/dev/null
  echo "created model $MODEL"
fi

schema=null
[ -n "${SCHEMA:-}" ] && schema=$(cat "$SCHEMA")
version=$(api POST "/models/$MODEL/versions" -H 'Content-Type: application/json' \
  -d "{\"run_id\":\"$RUN_ID\",\"source\":\"$ARTIFACT\",\"metrics\":$METRICS,\"schema\":$schema}" \
  | json_num version)
echo "created version $version"

digest=$(sha256sum "$ARTIFACT" | cut -d' ' -f1)
api PUT "/models/$MODEL/versions/$version/artifact" \
  -H "X-Content-SHA256: $digest" -H 'Content-Type: application/octet-stream' \
  --data-binary @"$ARTIFACT" >/dev/null
echo "uploaded $ARTIFACT (sha256 $digest)"

api PUT "/models/$MODEL/aliases/staging" -H 'Content-Type: application/json' \
  -d "{\"version\":$version,\"reason\":\"CI run $RUN_ID\"}" >/dev/null
echo "staging -> $version"

# A protected production takes only approved versions: wait for a reviewer.
if [ "$(status_of "/models/$MODEL/protected-aliases/production")" = 200 ] &&
  api GET "/models/$MODEL/protected-aliases/production" | grep -q '"require_approval":true'; then
  echo "production is protected: waiting for someone to approve version $version"
  echo "  (examples/approve.sh $MODEL $version, or Approve on the dashboard)"
  deadline=$(($(date +%s) + ${APPROVAL_TIMEOUT:-3600}))
  while :; do
    state=$(api GET "/models/$MODEL/versions/$version" |
      sed -n 's/.*"approval":{"state":"\([a-z]*\)".*/\1/p')
    case $state in
    approved) echo "version $version approved"; break ;;
    rejected) echo "version $version was rejected; not promoting" >&2; exit 3 ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "nobody decided on version $version in time" >&2
      exit 4
    fi
    sleep "${APPROVAL_POLL:-10}"
  done
fi

# Compare-and-swap: promote only if production still holds what we read.
current=$(api GET "/models/$MODEL/aliases/production" 2>/dev/null | json_num version || true)
expected=${current:-null}
api PUT "/models/$MODEL/aliases/production" -H 'Content-Type: application/json' \
  -d "{\"version\":$version,\"expected_version\":$expected,\"reason\":\"CI run $RUN_ID\"}" >/dev/null
echo "production -> $version (was ${current:-unset})"
