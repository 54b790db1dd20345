#!/usr/bin/env bash
# `make demo`: modelwatch with live data, in two acts, in about two minutes.
#
# Starts modelwatch (data in ./var-demo, fresh each run), a chat receiver
# and the demo serving node from examples/ (it serves its own synthetic
# traffic, posts labels and follows modelwatch's commands), registers model
# `fraud` with three versions and their reference sets, and launches v1.
#  Act 1, rollouts: a canary of v3, whose predictions drift, is aborted by
#    its own analysis (the node goes back to weight 0, chat is told); a
#    canary of v2 passes every step and production moves to v2.
#  Act 2, alerts: the traffic drifts; the rule fraud-drift fires, chat gets
#    the alert and production rolls back to v1, which the node loads.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PORT=${PORT:-8080}
DATA=${DEMO_DATA_DIR:-./var-demo}
URL=http://127.0.0.1:$PORT
PY=/usr/bin/python3
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

rm -rf "$DATA"
mkdir -p "$DATA"
t0=$(date +%s)
"$BUILD/modelwatch" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" \
  --access-log off --allow-private-webhooks --alert-group-wait-seconds 5 \
  --eval-interval-seconds 10 --eval-window-seconds 300 >"$DATA/modelwatch.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(cat "$DATA/admin.token")
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

echo "== registering model fraud with three versions"
schema=$($PY -c 'import json,sys; sys.path.insert(0,"examples"); import fraud_sim; print(json.dumps(fraud_sim.SCHEMA))')
# Per column a drift flag at p < 0.001: five columns tested at 0.05 would
# flag a healthy canary about one time in four.
strict='{"columns":{"amount":{"method":"ks","threshold":0.001},"age":{"method":"ks","threshold":0.001},"prediction":{"method":"ks","threshold":0.001},"country":{"method":"chi2","threshold":0.001},"channel":{"method":"chi2","threshold":0.001}}}'
api -X POST "$URL/api/v1/models" -d '{"name":"fraud","description":"card fraud scorer","tags":{"team":"risk"}}' >/dev/null
for v in 1 2 3; do
  api -X POST "$URL/api/v1/models/fraud/versions" \
    -d "{\"description\":\"gradient boosting v$v\",\"run_id\":\"demo-$v\",\"metrics\":{\"auc\":0.9$v},\"schema\":$schema}" >/dev/null
  head -c $((200000 * v)) /dev/urandom >"$DATA/model-v$v.bin"
  sum=$(sha256sum "$DATA/model-v$v.bin" | cut -d' ' -f1)
  api -X PUT -H "X-Content-SHA256: $sum" --data-binary @"$DATA/model-v$v.bin" \
    "$URL/api/v1/models/fraud/versions/$v/artifact" >/dev/null
  $PY examples/traffic_gen.py --modelwatch "$URL" --token "$TOKEN" --model fraud \
    --version "$v" --reference 5000 --seed "$v" >/dev/null
  api -X PUT "$URL/api/v1/models/fraud/versions/$v/drift/config" -d "$strict" >/dev/null
done

echo "== chat receiver and demo serving node (200 requests/s, labels 2 s later)"
secret=$(api -X POST "$URL/api/v1/channels" \
  -d "{\"name\":\"ops-chat\",\"type\":\"slack\",\"url\":\"http://127.0.0.1:$((PORT + 1120))/hook\"}" \
  | sed 's/.*"secret":"\([^"]*\)".*/\1/')
$PY examples/chat_receiver.py --port $((PORT + 1120)) --secret "$secret" &
pids+=($!)
NODE_TOKEN=$("$BUILD/modelwatch" token create --name demo-node --scopes read,ingest,promote \
  --data-dir "$DATA" 2>/dev/null)
$PY examples/demo_node.py --modelwatch "$URL" --token "$NODE_TOKEN" --name edge-1 \
  --model fraud --port $((PORT + 1020)) --traffic 200 --labels --label-delay 2 \
  --drifting-versions 3 >"$DATA/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do api "$URL/api/v1/nodes/edge-1" >/dev/null 2>&1 && break; sleep 0.1; done

api -X PUT "$URL/api/v1/models/fraud/aliases/staging" -d '{"version":1,"reason":"first candidate"}' >/dev/null
api -X PUT "$URL/api/v1/models/fraud/aliases/production" -d '{"version":1,"expected_version":null,"reason":"launch"}' >/dev/null
api -X POST "$URL/api/v1/alert-rules" -d '{"name":"fraud-drift","model":"fraud","alias":"production",
  "metric":"dataset_drift_share","op":">=","threshold":0.5,"for_seconds":10,"window_seconds":60,
  "interval_seconds":5,"severity":"critical","labels":{"team":"risk"},"channels":["ops-chat"],
  "action":"rollback","annotations":{"summary":"fraud inputs drifted"}}' >/dev/null
api -X POST "$URL/api/v1/alert-rules" -d '{"name":"fraud-amount-psi","model":"fraud","version":2,
  "metric":"amount.psi","op":">=","threshold":0.25,"for_seconds":0,"window_seconds":60,
  "interval_seconds":5,"severity":"warning","channels":["ops-chat"]}' >/dev/null

canary() { # canary VERSION: starts a three-step canary onto production, prints its id
  api -X POST "$URL/api/v1/models/fraud/rollouts" -d "{\"alias\":\"production\",
    \"candidate_version\":$1,\"mode\":\"canary\",
    \"steps\":[{\"weight_percent\":10,\"hold_seconds\":6},{\"weight_percent\":50,\"hold_seconds\":6},
               {\"weight_percent\":100,\"hold_seconds\":6}],
    \"analysis\":{\"max_drift_share\":0.1,\"max_candidate_vs_baseline_drift_share\":0.1,
                  \"metric\":{\"name\":\"mae\",\"max_drop\":0.02},\"label_delay_seconds\":2,
                  \"min_predictions\":100}}" | sed 's/^{"id":\([0-9]*\).*/\1/'
}
watch() { $PY examples/watch_rollout.py --modelwatch "$URL" --token "$TOKEN" --model fraud --id "$1" || true; }

cat <<TXT

modelwatch demo is running (ready in $(( $(date +%s) - t0 )) s).
  Dashboard: $URL/
  Token:     $TOKEN   (paste it on the sign-in page)

TXT
echo "== act 1: a canary of v3 (its predictions drift), then one of v2"
watch "$(canary 3)"
echo
watch "$(canary 2)"
echo
echo "== act 2: the traffic of production drifts after 20 s"
$PY examples/traffic_gen.py --modelwatch "$URL" --token "$TOKEN" --model fraud --version 2 \
  --rate 300 --drift-after 20 &
pids+=($!)
cat <<TXT

Tour: Models -> fraud shows versions, aliases with their history (v2 came by
rollout), the rollouts and the node (desired vs reported). Open v2's drift
page: the drift share climbs after ~20 s; about 15 s later the rule
fraud-drift fires (Alerts page), chat prints it and production rolls back to
v1, which edge-1 loads. Ctrl-C stops the demo.

TXT
wait "${pids[0]}"
