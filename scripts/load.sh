#!/usr/bin/env bash
# HTTP load test of a release build on this machine, load generator (wrk) on the same box.
#
#   scripts/load.sh                 # balance reads and admin grants, 64 connections, 10 s each
#   CONNECTIONS=128 DURATION=30s scripts/load.sh
#   MAX_BATCH=1 scripts/load.sh     # the same with group commit off
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
URL="http://127.0.0.1:${PORT}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk…" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet
BIN=target/release/rendezvous-credits
WORK=$(mktemp -d)
NODE_PID=
cleanup() {
    if [ -n "$NODE_PID" ]; then kill "$NODE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

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
TOML

ADMIN_TOKEN=load-test-admin-token
RC_ADMIN_TOKEN=$ADMIN_TOKEN RUST_LOG=warn "$BIN" serve --config "$WORK/load.toml" > "$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$URL/healthz" >/dev/null || { cat "$WORK/node.log"; exit 1; }

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

"$BIN" peer --node "$URL" --key "$WORK/peer.key" balance
kill -TERM "$NODE_PID"
wait "$NODE_PID" || true
NODE_PID=
"$BIN" verify --config "$WORK/load.toml"
