#!/usr/bin/env bash
# Browser end-to-end tests. Self-sufficient: installs chromium if missing, npm ci, builds and
# starts the server, runs `node --test`, stops the server. Exit status = test status.
# SER_E2E_SERVER_CMD overrides the server command; it receives SER_ADDR, SER_DATA_DIR and
# SER_DATABASE_URL in its environment, and $E2E_ADDR / $E2E_DATA_DIR / $E2E_DB for use in the
# command line (e.g. 'target/debug/ser serve --addr $E2E_ADDR --database $E2E_DB').
set -euo pipefail
E2E_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$E2E_DIR/.." && pwd)"
cd "$ROOT"

if [ ! -x /usr/bin/chromium ]; then
  apt-get update && apt-get install -y chromium
fi
(cd "$E2E_DIR" && npm ci --no-audit --no-fund)

PORT="${SER_E2E_PORT:-$((20000 + RANDOM % 20000))}"
export E2E_ADDR="127.0.0.1:$PORT"
export E2E_DATA_DIR="$(mktemp -d /tmp/ser-e2e-data.XXXXXX)"
export E2E_DB="sqlite://$E2E_DATA_DIR/ser.db?mode=rwc"
export SER_ADDR="$E2E_ADDR" SER_DATA_DIR="$E2E_DATA_DIR" SER_DATABASE_URL="$E2E_DB"
export SER_E2E_BASE_URL="http://$E2E_ADDR"

if [ -z "${SER_E2E_SERVER_CMD:-}" ]; then
  cargo build -p ser-server --example dev_server
  SER_E2E_SERVER_CMD="$ROOT/target/debug/examples/dev_server"
fi

LOG="$E2E_DATA_DIR/server.log"
bash -c "exec $SER_E2E_SERVER_CMD" >"$LOG" 2>&1 &
SERVER_PID=$!
cleanup() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$E2E_DATA_DIR"; }
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -fs -o /dev/null "$SER_E2E_BASE_URL/api/openapi.json"; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "server exited:"; cat "$LOG"; exit 1; fi
  sleep 0.5
done
curl -fsS -o /dev/null "$SER_E2E_BASE_URL/api/openapi.json" || { echo "server not answering"; cat "$LOG"; exit 1; }

cd "$E2E_DIR"
set +e
node --test --test-concurrency=1 tests/
rc=$?
set -e
[ $rc -eq 0 ] || { echo "--- server log tail ---"; tail -50 "$LOG"; }
exit $rc
