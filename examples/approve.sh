#!/usr/bin/env bash
# The reviewer's half of the two-person flow (examples/ci_promote.sh is
# CI's): approve or reject a version, with a comment. The token must have
# the promote scope and must not be the one that created the version.
#
#   examples/approve.sh MODEL VERSION [approved|rejected] [COMMENT]
#
# Environment: MODELWATCH_URL (default http://127.0.0.1:8080),
# MODELWATCH_TOKEN (required). Exit status: 0 recorded, 1 refused (the
# server's error is printed), 2 usage.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '5p' "$0" >&2; exit 2; }
URL=${MODELWATCH_URL:-http://127.0.0.1:8080}
: "${MODELWATCH_TOKEN:?set MODELWATCH_TOKEN to a reviewer token}"
model=$1 version=$2 decision=${3:-approved} comment=${4:-}
case $decision in approved | rejected) ;; *) echo "decision: approved or rejected" >&2; exit 2 ;; esac
# JSON string escaping of the comment: backslashes, quotes, control characters.
esc=$(printf '%s' "$comment" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n\t\r' '   ')
out=$(curl -sS -w '\n%{http_code}' -X POST -H "Authorization: Bearer $MODELWATCH_TOKEN" \
  -H 'Content-Type: application/json' "$URL/api/v1/models/$model/versions/$version/approval" \
  -d "{\"decision\":\"$decision\",\"comment\":\"$esc\"}")
code=${out##*$'\n'}
body=${out%$'\n'*}
if [ "$code" != 200 ]; then
  echo "modelwatch: $code $body" >&2
  exit 1
fi
echo "$model version $version $decision"
