#!/usr/bin/env bash
# What a CI job runs to register and promote a model with modelwatch, using
# the modelwatch CLI (its exit codes: README.md, "CLI for CI"):
#   1. create the model if it does not exist,
#   2. create a version with its metrics, run id and feature schema, and
#      upload the artifact (the CLI sends its sha256, the server verifies
#      it, the CLI checks the server's answer),
#   3. point `staging` at the new version,
#   4. point `production` at it with compare-and-swap, so two pipelines
#      racing cannot silently overwrite each other's promotion.
# When `production` is protected (it accepts only approved versions), the
# job waits between 3 and 4 for a second person to approve the version -
# `modelwatch approve`, examples/approve.sh, or Approve on the dashboard -
# and fails when it is rejected or nobody decides in time: the two-person
# flow.
#
# Environment:
#   MODELWATCH_URL    base URL (default http://127.0.0.1:8080)
#   MODELWATCH_TOKEN  a token with the promote scope (default: var/admin.token)
#   MODELWATCH_BIN    the modelwatch binary (default: modelwatch on PATH,
#                     else build/modelwatch of this checkout)
#   MODEL             model name (default: demo-model)
#   ARTIFACT          file to upload (required)
#   METRICS           JSON object of metrics (default {})
#   SCHEMA            JSON file with the feature schema (optional)
#   RUN_ID            the CI run id (default: $GITHUB_RUN_ID or "local")
#   APPROVAL_TIMEOUT  seconds to wait for an approval (default 3600)
#   APPROVAL_POLL     seconds between looks (default 10)
#
# Exit status: 0 promoted, 1 a request failed (the CLI's message says
# which and why), 3 the version was rejected, 4 nobody decided within
# APPROVAL_TIMEOUT.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
MW=${MODELWATCH_BIN:-$(command -v modelwatch || echo "$HERE/../build/modelwatch")}
export MODELWATCH_URL=${MODELWATCH_URL:-http://127.0.0.1:8080}
export MODELWATCH_TOKEN=${MODELWATCH_TOKEN:-$(cat var/admin.token 2>/dev/null || true)}
MODEL=${MODEL:-demo-model}
METRICS=${METRICS:-{\}}
RUN_ID=${RUN_ID:-${GITHUB_RUN_ID:-local}}
: "${ARTIFACT:?set ARTIFACT to the model file}"
[ -n "$MODELWATCH_TOKEN" ] || { echo "set MODELWATCH_TOKEN" >&2; exit 2; }

errs=$(mktemp)
metrics=$(mktemp)
trap 'rm -f "$errs" "$metrics"' EXIT
printf '%s' "$METRICS" >"$metrics"
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" | head -n1; }

# 1. Created now, or there already (exit 7: conflict).
rc=0
"$MW" model create "$MODEL" --description "registered by CI" >/dev/null 2>"$errs" || rc=$?
case $rc in
0) echo "created model $MODEL" ;;
7) ;;
*) cat "$errs" >&2; exit 1 ;;
esac

# 2. The version and its artifact; the CLI prints the version number.
args=(version create "$MODEL" --artifact "$ARTIFACT" --metrics-file "$metrics"
  --run-id "$RUN_ID" --source "$ARTIFACT")
[ -n "${SCHEMA:-}" ] && args+=(--schema "$SCHEMA")
version=$("$MW" "${args[@]}") || exit 1
echo "created version $version"
echo "uploaded $ARTIFACT (sha256 verified by the server)"

# 3. staging.
"$MW" promote "$MODEL" staging "$version" --reason "CI run $RUN_ID" >/dev/null || exit 1
echo "staging -> $version"

# A protected production takes only approved versions: wait for a reviewer.
rc=0
protection=$("$MW" get "models/$MODEL/protected-aliases/production" 2>"$errs") || rc=$?
case $rc in
0 | 6) ;; # 6: not protected
*) cat "$errs" >&2; exit 1 ;;
esac
if [ $rc = 0 ] && printf '%s' "$protection" | grep -q '"require_approval":true'; then
  echo "production is protected: waiting for someone to approve version $version"
  echo "  (modelwatch approve $MODEL $version, examples/approve.sh, or Approve on the dashboard)"
  deadline=$(($(date +%s) + ${APPROVAL_TIMEOUT:-3600}))
  while :; do
    answer=$("$MW" get "models/$MODEL/versions/$version") || exit 1
    state=$(printf '%s' "$answer" | sed -n 's/.*"approval":{"state":"\([a-z]*\)".*/\1/p')
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

# 4. Compare-and-swap: promote only if production still holds what we read
# (6: it does not exist yet, so it must still not exist).
rc=0
answer=$("$MW" get "models/$MODEL/aliases/production" 2>"$errs") || rc=$?
case $rc in
0) current=$(printf '%s' "$answer" | json_num version) ;;
6) current= ;;
*) cat "$errs" >&2; exit 1 ;;
esac
"$MW" promote "$MODEL" production "$version" --expect "${current:-none}" \
  --reason "CI run $RUN_ID" >/dev/null || exit 1
echo "production -> $version (was ${current:-unset})"
