#!/usr/bin/env bash
# HTTP load test of a release build on this machine, load generator (wrk) on the same box.
#
#   scripts/load.sh                 # balance reads and admin grants, 64 connections, 10 s each
#   CONNECTIONS=128 DURATION=30s scripts/load.sh
#   MAX_BATCH=1 scripts/load.sh     # the same with group commit off
#   SCENARIO=roochip scripts/load.sh  # Roochip rewards and deducts with X-API-Key, and
#                                     # webhook dispatch to a local receiver
#   SCENARIO=rrr scripts/load.sh      # RedRoomRewards earns, redemption quotes and commits
#                                     # (bearer, X-Client-Id, a fresh Idempotency-Key each),
#                                     # wallet reads, ledger pages and the liability report
#   BACKEND=postgres scripts/load.sh  # the same on PostgreSQL (a fresh database on
#                                     # POSTGRES_URL's server, or on a throwaway cluster
#                                     # of scripts/pg-test-cluster.sh when unset)
#   BACKEND=postgres NODES=3 scripts/load.sh
#                                     # three nodes on that database (ports PORT, PORT+1,
#                                     # …), the grants spread over them by one wrk each
#
# It builds the release binary, starts the node(s) on a fresh data folder (and
# database) with the rate limits lifted, gets a libp2p-PeerID bearer with the `peer`
# command, runs wrk, stops the nodes gracefully and runs `verify` on the ledger. Needs
# wrk (installed with apt-get when missing).
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
USERS=${USERS:-1000}      # Roochip wallets (RRR members: MEMBERS) the load is spread over
MEMBERS=${MEMBERS:-200}
BACKEND=${BACKEND:-sqlite}
NODES=${NODES:-1}
URL="http://127.0.0.1:${PORT}"
if [ "$NODES" -gt 1 ] && [ "$BACKEND" != postgres ]; then
    echo "NODES=$NODES needs BACKEND=postgres: SQLite nodes do not share a ledger" >&2
    exit 2
fi
if [ "$NODES" -gt 1 ] && [ "$SCENARIO" != goop2 ]; then
    echo "NODES=$NODES: only the goop2 scenario (grants) spreads over several nodes" >&2
    exit 2
fi

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk…" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet
BIN=target/release/rendezvous-credits
WORK=$(mktemp -d)
NODE_PIDS=()
SINK_PID=
PG_TEST_STOP=
cleanup() {
    for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
    if [ -n "$PG_TEST_STOP" ]; then eval "$PG_TEST_STOP"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

STORAGE_TOML=
if [ "$BACKEND" = postgres ]; then
    if [ -z "${POSTGRES_URL:-}" ]; then
        eval "$(scripts/pg-test-cluster.sh)"
        POSTGRES_URL=$RC_TEST_POSTGRES_URL
    fi
    DB="rc_load_$$"
    psql "$POSTGRES_URL" -qc "CREATE DATABASE $DB"
    export RC_STORAGE__POSTGRES_URL="${POSTGRES_URL%/*}/$DB"
    # Nodes of one cluster share the bearer key.
    export RC_AUTH__TOKEN_SECRET=load-test-cluster-token-secret-0123456789
    echo "PostgreSQL $(psql "$POSTGRES_URL" -Atc 'SHOW server_version'), database $DB, ${NODES} node(s)"
    STORAGE_TOML=$'[storage]\nbackend = "postgres"\npool_size = 8'
fi

SERVER_KEY=rc_load_test_server_key_0123456789abcdef
SERVER_DIGEST=$(printf %s "$SERVER_KEY" | sha256sum | cut -d' ' -f1)
WEBHOOK_SECRET=load-test-webhook-secret
cat > "$WORK/load.toml" <<TOML
[server]
http_addr = "127.0.0.1:${PORT}"
data_dir = "${WORK}/data"
${STORAGE_TOML}
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
RRR_SECRET=load-test-rrr-client-secret
RRR_DIGEST=$(printf %s "$RRR_SECRET" | sha256sum | cut -d' ' -f1)
if [ "$SCENARIO" = rrr ]; then
    cat >> "$WORK/load.toml" <<TOML
[[tenants]]
id = "xcn"
mode = "rrr"
rate_limit_rps = 1000000000
rate_limit_burst = 1000000000
redemption = { min_points = 1, max_fraction = 1, quote_ttl_secs = 3600 }
[[tenants.clients]]
client_id = "xcn-backend"
client_secret_sha256 = "${RRR_DIGEST}"
TOML
elif [ "$WEBHOOKS" = 1 ]; then
    cat >> "$WORK/load.toml" <<TOML
webhook_url = "http://127.0.0.1:${SINK_PORT}/webhooks/roochip"
webhook_secret = "${WEBHOOK_SECRET}"
TOML
fi

ADMIN_TOKEN=load-test-admin-token
for i in $(seq 0 $((NODES - 1))); do
    data="$WORK/data"
    if [ "$i" -gt 0 ]; then data="$WORK/data$i"; fi
    RC_ADMIN_TOKEN=$ADMIN_TOKEN RUST_LOG=warn "$BIN" serve --config "$WORK/load.toml" \
        --data-dir "$data" --http-addr "127.0.0.1:$((PORT + i))" > "$WORK/node$i.log" 2>&1 &
    NODE_PIDS+=($!)
done
for i in $(seq 0 $((NODES - 1))); do
    node_url="http://127.0.0.1:$((PORT + i))"
    for _ in $(seq 1 100); do
        curl -fsS "$node_url/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "$node_url/healthz" >/dev/null || { cat "$WORK/node$i.log"; exit 1; }
done

if [ "$SCENARIO" = rrr ]; then
    TOKEN=$(curl -fsS -X POST "$URL/oauth/token" -H 'Content-Type: application/json' \
        -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"xcn-backend\",\"client_secret\":\"${RRR_SECRET}\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    # MEMBERS linked members ("member user" per line), each with a large opening earn.
    python3 - "$URL" "$TOKEN" "$MEMBERS" > "$WORK/members.txt" <<'PY'
import http.client, json, sys, urllib.parse, uuid
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(host.hostname, host.port)
def post(path, body):
    conn.request("POST", path, json.dumps(body), {"Authorization": "Bearer " + token,
        "X-Client-Id": "xcn-backend", "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4())})
    r = conn.getresponse()
    data = json.loads(r.read())
    assert r.status < 300, (path, r.status, data)
    return data
for i in range(n):
    user = "load-user-%d" % i
    intent = post("/v1/links/intents", {"client_user_id": user, "link_type": "MEMBER"})
    m = post("/v1/links/confirm", {"intent_id": intent["intent_id"], "client_user_id": user,
        "proof": {"method": "EMAIL_OTP", "assertion": intent["rrr_link_code"]}})["rrr_member_id"]
    post("/v1/points/earn", {"client_user_id": user, "rrr_member_id": m, "currency": "USD",
        "amount_minor": 0, "points": 1000000000,
        "source": {"event_type": "ADJUSTMENT", "order_id": "opening-" + user}})
    print(m, user)
PY
    cat > "$WORK/rrr_common.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["X-Client-Id"] = "xcn-backend"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
members = {}
n = 0
function load_members()
  for line in io.lines("${WORK}/members.txt") do
    local m, u = line:match("(%S+) (%S+)")
    members[#members + 1] = {m, u}
  end
end
LUA
    cat > "$WORK/earn.lua" <<LUA
dofile("${WORK}/rrr_common.lua")
function init(args) load_members() end
request = function()
  n = n + 1
  local who = members[(n + tid) % #members + 1]
  local order = "o-" .. tid .. "-" .. n
  wrk.headers["Idempotency-Key"] = "earn_token_" .. order
  return wrk.format(nil, "/v1/points/earn", nil,
    '{"client_user_id":"' .. who[2] .. '","rrr_member_id":"' .. who[1] ..
    '","source":{"event_type":"TOKEN_PURCHASE","order_id":"' .. order ..
    '","line_id":"1"},"currency":"USD","amount_minor":1999,"points":20,' ..
    '"policy":{"posting_mode":"POSTED"},"metadata":{"xcn_membership_tier":"GOLD"}}')
end
LUA
    cat > "$WORK/quote.lua" <<LUA
dofile("${WORK}/rrr_common.lua")
function init(args)
  load_members()
  out = io.open("${WORK}/quotes-" .. tid .. ".txt", "w")
end
request = function()
  n = n + 1
  local i = (n + tid) % #members + 1
  local who = members[i]
  wrk.headers["Idempotency-Key"] = "q-" .. tid .. "-" .. n
  -- The trace comes back on the answer: it says whose quote it is.
  wrk.headers["X-Request-Trace"] = "m" .. i
  return wrk.format(nil, "/v1/redemptions/quote", nil,
    '{"client_user_id":"' .. who[2] .. '","rrr_member_id":"' .. who[1] ..
    '","cart":{"currency":"USD","total_minor":1},"requested":{"mode":"MAX"}}')
end
response = function(status, headers, body)
  local q = body:match('"quote_id":"([%x-]+)"')
  local i = (headers["x-request-trace"] or ""):match("m(%d+)")
  if q and i then out:write(q, " ", i, "\n") out:flush() end
end
LUA
    cat > "$WORK/commit.lua" <<LUA
dofile("${WORK}/rrr_common.lua")
function init(args)
  load_members()
  quotes = {}
  for line in io.lines("${WORK}/quotes-" .. tid .. ".txt") do
    local q, i = line:match("(%S+) (%d+)")
    quotes[#quotes + 1] = {q, tonumber(i)}
  end
end
request = function()
  n = n + 1
  local quote = quotes[n] or {"00000000-0000-4000-8000-000000000000", 1}
  local q, who = quote[1], members[quote[2]]
  wrk.headers["Idempotency-Key"] = "c-" .. tid .. "-" .. n
  return wrk.format(nil, "/v1/redemptions/commit", nil,
    '{"quote_id":"' .. q .. '","client_order_id":"r-' .. tid .. "-" .. n ..
    '","client_user_id":"' .. who[2] .. '","rrr_member_id":"' .. who[1] .. '"}')
end
LUA
    FIRST=$(head -1 "$WORK/members.txt" | cut -d' ' -f1)
    echo "== RRR earns: POST /v1/points/earn (bearer, X-Client-Id, Idempotency-Key), ${CONNECTIONS} connections, ${DURATION}, max_batch=${MAX_BATCH}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/earn.lua" "$URL"
    echo "== RRR redemption quotes: POST /v1/redemptions/quote, ${CONNECTIONS} connections, ${DURATION}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/quote.lua" "$URL"
    echo "quotes made: $(cat "$WORK"/quotes-*.txt | wc -l)"
    echo "== RRR redemption commits: POST /v1/redemptions/commit, ${CONNECTIONS} connections, ${DURATION} (Non-2xx: quotes ran out)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/commit.lua" "$URL"
    echo "== RRR wallet reads: GET /v1/members/{id}/wallet, ${CONNECTIONS} connections, ${DURATION}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer ${TOKEN}" \
        -H "X-Client-Id: xcn-backend" "$URL/v1/members/${FIRST}/wallet"
    echo "== RRR ledger pages (50 rows): GET /v1/members/{id}/ledger, ${CONNECTIONS} connections, ${DURATION}"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer ${TOKEN}" \
        -H "X-Client-Id: xcn-backend" "$URL/v1/members/${FIRST}/ledger"
    echo "== RRR liability report: GET /v1/reports/liability, 4 connections, ${DURATION}"
    wrk -t1 -c4 -d"$DURATION" --latency -H "Authorization: Bearer ${TOKEN}" \
        -H "X-Client-Id: xcn-backend" "$URL/v1/reports/liability"
elif [ "$SCENARIO" = roochip ]; then
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
    if [ "$BACKEND" = postgres ]; then
        EXPECTED=$(psql "$RC_STORAGE__POSTGRES_URL" -Atc "SELECT count(*) FROM outbox")
    else
        EXPECTED=$(sqlite3 "$WORK/data/ledger.db" "SELECT count(*) FROM outbox" 2>/dev/null || echo "?")
    fi
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
    if [ "$NODES" = 1 ]; then
        echo "== admin grants: POST /api/credits/grant, ${CONNECTIONS} connections, ${DURATION}, max_batch=${MAX_BATCH}"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/grant.lua" "$URL/api/credits/grant"
    else
        PER_NODE=$((CONNECTIONS / NODES))
        echo "== admin grants over ${NODES} nodes: POST /api/credits/grant, ${PER_NODE} connections to each, ${DURATION}, max_batch=${MAX_BATCH}"
        WRK_PIDS=()
        for i in $(seq 0 $((NODES - 1))); do
            wrk -t1 -c"$PER_NODE" -d"$DURATION" --latency -s "$WORK/grant.lua" \
                "http://127.0.0.1:$((PORT + i))/api/credits/grant" > "$WORK/wrk$i.txt" &
            WRK_PIDS+=($!)
        done
        for pid in "${WRK_PIDS[@]}"; do wait "$pid"; done
        for i in $(seq 0 $((NODES - 1))); do
            echo "-- node $i"
            cat "$WORK/wrk$i.txt"
        done
        awk '/^Requests\/sec/ { total += $2 } END { printf "all nodes: %.0f requests/s\n", total }' "$WORK"/wrk*.txt
    fi
fi
for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${NODE_PIDS[@]}"; do wait "$pid" || true; done
NODE_PIDS=()
"$BIN" verify --config "$WORK/load.toml"
