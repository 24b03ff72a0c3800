#!/usr/bin/env bash
# Makes sure a PostgreSQL is reachable for the demo and the tests, and prints
# its admin DSN on stdout (everything else goes to stderr):
#   1. $KEYHOLE_TEST_DSN, if set;
#   2. else the local server on 127.0.0.1:5432 (user postgres);
#   3. else a throwaway cluster started from local PostgreSQL binaries in a
#      temporary directory (as an unprivileged user when run as root);
#   4. else it stops and says what to install.
set -euo pipefail

say() { echo "ensure-postgres: $*" >&2; }

if [ -n "${KEYHOLE_TEST_DSN:-}" ]; then
  echo "$KEYHOLE_TEST_DSN"
  exit 0
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open 5432; then
  echo "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  exit 0
fi

# A throwaway cluster from local binaries. Reuse one this script started before.
state=${TMPDIR:-/tmp}/keyhole-pg
port=54329
if [ -f "$state/data/postmaster.pid" ] && port_open $port; then
  echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  exit 0
fi

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -Vr) $(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)"); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
if [ -z "$bindir" ]; then
  say "no PostgreSQL reachable on 127.0.0.1:5432, KEYHOLE_TEST_DSN is not set, and no"
  say "PostgreSQL server binaries (initdb, pg_ctl) were found to start a throwaway one."
  say "Install PostgreSQL 13 or newer (Debian/Ubuntu: apt-get install postgresql;"
  say "macOS: brew install postgresql), or set KEYHOLE_TEST_DSN to a superuser DSN."
  exit 1
fi

run_as=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root.
  owner=postgres
  id "$owner" >/dev/null 2>&1 || owner=nobody
  run_as=(runuser -u "$owner" --)
fi

rm -rf "$state"
mkdir -p "$state"
chown "$owner" "$state" 2>/dev/null || true
say "starting a throwaway PostgreSQL from $bindir in $state (port $port, as $owner)"
"${run_as[@]}" "$bindir/initdb" -D "$state/data" -U postgres --auth=trust -E UTF8 >"$state/initdb.log" 2>&1 ||
  { say "initdb failed:"; cat "$state/initdb.log" >&2; exit 1; }
"${run_as[@]}" "$bindir/pg_ctl" -D "$state/data" -l "$state/server.log" -w \
  -o "-p $port -k $state -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >&2 ||
  { say "pg_ctl start failed:"; cat "$state/server.log" >&2; exit 1; }
echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
