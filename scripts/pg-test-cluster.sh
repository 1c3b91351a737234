#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, started on
# a free loopback port with trust authentication for local connections, as the
# `postgres` user when run as root (initdb refuses root). Prints the URL the tests read
# from RC_TEST_POSTGRES_URL, and the command that stops it:
#
#   eval "$(scripts/pg-test-cluster.sh)"     # exports RC_TEST_POSTGRES_URL and PG_TEST_STOP
#   cargo test
#   eval "$PG_TEST_STOP"
#
# Needs PostgreSQL 15 or newer (Debian: apt-get install postgresql).
set -euo pipefail

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && bin="$candidate"
done
if [ -z "$bin" ] && command -v initdb >/dev/null 2>&1; then
    bin="$(dirname "$(readlink -f "$(command -v initdb)")")"
fi
if [ -z "$bin" ]; then
    echo "PostgreSQL is not installed: apt-get install postgresql (15 or newer)" >&2
    exit 1
fi

dir="$(mktemp -d /tmp/rc-pg-XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_owner=()
if [ "$(id -u)" = "0" ]; then
    chown postgres "$dir"
    as_owner=(runuser -u postgres --)
fi
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
echo "export RC_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$port/postgres'"
stop="${as_owner[*]} $bin/pg_ctl -D $dir/data -m fast stop >/dev/null; rm -rf $dir"
echo "export PG_TEST_STOP='$stop'"
