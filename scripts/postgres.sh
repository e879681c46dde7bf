#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for tests and benches, and prints how to
# reach it and its PID:
#
#   bash scripts/postgres.sh DIR PORT
#   -> postgres://tidal@127.0.0.1:PORT/tidal 12345
#
# DIR holds the cluster (created on first use, reused afterwards: run it again with the same
# DIR to restart a stopped server) and the server's log (DIR/log). PostgreSQL refuses to run
# as root, so the server runs as the dedicated system user `tidal-pg` (created when missing);
# Debian's `postgresql` package is installed with apt-get when no PostgreSQL is found (as
# root). Connections from 127.0.0.1 are trusted: this is for tests on loopback only.
#
# Whoever started the server stops it by its PID: SIGINT is PostgreSQL's fast shutdown.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 DIR PORT" >&2
    exit 2
fi
dir="$1"
port="$2"
user=tidal-pg

# The newest installed PostgreSQL, installing Debian's when there is none.
find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
bin="$(find_bin)"
if [ -z "$bin" ]; then
    echo "no PostgreSQL found: installing Debian's postgresql package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
    bin="$(find_bin)"
fi

if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
fi

as_user() {
    runuser -u "$user" -- "$@"
}

mkdir -p "$dir"
chown "$user" "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_user "$bin/initdb" --pgdata="$dir/data" --username=tidal --auth=trust \
        --encoding=UTF8 --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
fi
as_user "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/log" --wait --timeout=60 \
    --options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
    start >&2
as_user "$bin/psql" --host=127.0.0.1 --port="$port" --username=tidal --dbname=postgres \
    --quiet --tuples-only --no-align \
    --command="SELECT 1 FROM pg_database WHERE datname = 'tidal'" | grep -q 1 ||
    as_user "$bin/createdb" --host=127.0.0.1 --port="$port" --username=tidal tidal
echo "postgres://tidal@127.0.0.1:$port/tidal $(head -n 1 "$dir/data/postmaster.pid")"
