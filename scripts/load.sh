#!/usr/bin/env bash
# HTTP load test of a release build on this machine, load generator (wrk) on the same box.
#
#   scripts/load.sh                 # balance reads and admin grants, 64 connections, 10 s each
#   CONNECTIONS=128 DURATION=30s scripts/load.sh
#   MAX_BATCH=1 scripts/load.sh     # the same with group commit off
#   SCENARIO=roochip scripts/load.sh  # Roochip rewards and deducts with X-API-Key, and
#                                     # webhook dispatch to a local receiver
#
# It builds the release binary, starts a node on a fresh data folder with the rate
# limits lifted, gets a libp2p-PeerID bearer with the `peer` command, runs wrk, stops the
# node gracefully and runs `verify` on the ledger. Needs wrk (installed with apt-get when
# missing).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
MAX_BATCH=${MAX_BATCH:-4096}
PORT=${PORT:-18089}
SCENARIO=${SCENARIO:-goop2}
SINK_PORT=${SINK_PORT:-18090}
WEBHOOKS=${WEBHOOKS:-1}   # 0: the Roochip tenant has no webhook_url (no events)
USERS=${USERS:-1000}      # Roochip wallets the load is spread over
URL="http://127.0.0.1:${PORT}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk…" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet
BIN=target/release/rendezvous-credits
WORK=$(mktemp -d)
NODE_PID=
SINK_PID=
cleanup() {
    if [ -n "$NODE_PID" ]; then kill "$NODE_PID" 2>/dev/null || true; fi
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

SERVER_KEY=rc_load_test_server_key_0123456789abcdef
SERVER_DIGEST=$(printf %s "$SERVER_KEY" | sha256sum | cut -d' ' -f1)
WEBHOOK_SECRET=load-test-webhook-secret
cat > "$WORK/load.toml" <<TOML
[server]
http_addr = "127.0.0.1:${PORT}"
data_dir = "${WORK}/data"
[p2p]
listen = ["/ip4/127.0.0.1/tcp/0"]
[ledger]
max_batch = ${MAX_BATCH}
[goop2.rate_limits]
balance_per_min = 1000000000
purchase_per_min = 1000000000
transactions_per_min = 1000000000
publish_per_min = 1000000000
[webhooks]
concurrency = 64
[[tenants]]
id = "rooverse"
mode = "roochip"
api_keys = ["${SERVER_DIGEST}"]
TOML
if [ "$WEBHOOKS" = 1 ]; then
    cat >> "$WORK/load.toml" <<TOML
webhook_url = "http://127.0.0.1:${SINK_PORT}/webhooks/roochip"
webhook_secret = "${WEBHOOK_SECRET}"
TOML
fi

ADMIN_TOKEN=load-test-admin-token
RC_ADMIN_TOKEN=$ADMIN_TOKEN RUST_LOG=warn "$BIN" serve --config "$WORK/load.toml" > "$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$URL/healthz" >/dev/null || { cat "$WORK/node.log"; exit 1; }

if [ "$SCENARIO" = roochip ]; then
    WEBHOOK_SECRET=$WEBHOOK_SECRET node scripts/webhook_sink.js "$SINK_PORT" > "$WORK/sink.log" 2>&1 &
    SINK_PID=$!
    sleep 0.5
    # USERS wallets; each gets a large opening balance so that deducts never run dry.
    cat > "$WORK/reward.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "${SERVER_KEY}"
request = function()
  local user = math.random(1, ${USERS})
  return wrk.format(nil, "/v1/users/load-user-" .. user .. "/reward", nil,
    '{"credits":0.01,"reason":"like","reference_id":"load"}')
end
LUA
    cat > "$WORK/deduct.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "${SERVER_KEY}"
request = function()
  local user = math.random(1, ${USERS})
  return wrk.format(nil, "/v1/users/load-user-" .. user .. "/deduct", nil,
    '{"credits":0.01,"reason":"like","reference_id":"load"}')
end
LUA
    for u in $(seq 1 "$USERS"); do
        curl -fsS -o /dev/null -X POST "$URL/v1/users/load-user-$u/reward" -H "X-API-Key: $SERVER_KEY" \
            -H 'Content-Type: application/json' -d '{"credits":1000000,"reason":"opening","reference_id":"load"}'
    done
    echo "== Roochip rewards: POST /v1/users/{id}/reward, ${CONNECTIONS} connections, ${DURATION}, max_batch=${MAX_BATCH}"
    STARTED=$(date +%s.%N)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/reward.lua" "$URL"
    echo "== Roochip deducts: POST /v1/users/{id}/deduct, ${CONNECTIONS} connections, ${DURATION}, max_batch=${MAX_BATCH}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/deduct.lua" "$URL"
    ENDED=$(date +%s.%N)
    # Every reward (and the 1000 opening ones) is a credits.issued event.
    EXPECTED=$(sqlite3 "$WORK/data/ledger.db" "SELECT count(*) FROM outbox" 2>/dev/null || echo "?")
    echo "== webhook dispatch: ${EXPECTED} events issued; waiting for the receiver"
    LAST=-1
    while true; do
        COUNT=$(curl -fsS "http://127.0.0.1:${SINK_PORT}/count")
        DELIVERED=$(echo "$COUNT" | sed 's/.*"delivered":\([0-9]*\).*/\1/')
        if [ "$DELIVERED" = "$EXPECTED" ] || [ "$DELIVERED" = "$LAST" ]; then break; fi
        LAST=$DELIVERED
        sleep 2
    done
    DONE=$(date +%s.%N)
    echo "receiver: $COUNT"
    echo "load phase $(echo "$ENDED - $STARTED" | bc) s; all delivered $(echo "$DONE - $STARTED" | bc) s after the load started"
else
    "$BIN" peer --node "$URL" --key "$WORK/peer.key" register >/dev/null
    AUTH=$("$BIN" peer --node "$URL" --key "$WORK/peer.key" token)
    PEER=$("$BIN" peer --node "$URL" --key "$WORK/peer.key" balance | cut -d: -f1)
    cat > "$WORK/grant.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${ADMIN_TOKEN}"
wrk.body = '{"peer_id":"${PEER}","amount":1,"note":"load"}'
LUA
    echo "== balance reads: GET /api/credits/balance, ${CONNECTIONS} connections, ${DURATION}, max_batch=${MAX_BATCH}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: $AUTH" "$URL/api/credits/balance"
    echo "== admin grants: POST /api/credits/grant, ${CONNECTIONS} connections, ${DURATION}, max_batch=${MAX_BATCH}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/grant.lua" "$URL/api/credits/grant"
fi
kill -TERM "$NODE_PID"
wait "$NODE_PID" || true
NODE_PID=
"$BIN" verify --config "$WORK/load.toml"
