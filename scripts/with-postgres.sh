#!/usr/bin/env bash
# Runs a command with SER_TEST_POSTGRES_URL naming a fresh PostgreSQL database on this
# machine: installs Debian's postgresql when missing, starts its cluster and creates the
# role and database (ser / ser_test). Used by .ci/run for the PostgreSQL storage test.
#   bash scripts/with-postgres.sh cargo test --workspace --test postgres -- --ignored
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v pg_lsclusters >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
fi
read -r version cluster < <(pg_lsclusters --no-header | awk 'NR == 1 { print $1, $2 }')
if [ -z "${version:-}" ]; then
  echo "no PostgreSQL cluster found after installing postgresql" >&2
  exit 1
fi
$SUDO pg_ctlcluster "$version" "$cluster" start 2>/dev/null || true
port=$(pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $3 }')

as_postgres() {
  if [ -z "$SUDO" ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
psql_admin() { PGOPTIONS="-c client_min_messages=warning" as_postgres psql -p "$port" -v ON_ERROR_STOP=1 -qAtc "$1"; }
for _ in $(seq 30); do psql_admin "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'ser'" | grep -q 1 \
  || psql_admin "CREATE ROLE ser LOGIN PASSWORD 'ser'"
psql_admin "DROP DATABASE IF EXISTS ser_test"
psql_admin "CREATE DATABASE ser_test OWNER ser"

export SER_TEST_POSTGRES_URL="postgres://ser:ser@127.0.0.1:$port/ser_test"
"$@"
