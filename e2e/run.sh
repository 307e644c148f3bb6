#!/usr/bin/env bash
# Browser end-to-end tests. Self-sufficient: installs chromium (and node/npm) if missing, npm ci,
# builds and starts the real server (`ser serve`), runs `node --test`, stops the server. Exit status = test status.
# SER_E2E_SERVER_CMD overrides the server command; it receives SER_ADDR, SER_DATA_DIR and
# SER_DATABASE_URL in its environment, and $E2E_ADDR / $E2E_DATA_DIR / $E2E_DB for use in the
# command line (e.g. 'target/debug/ser serve --addr $E2E_ADDR --database $E2E_DB').
set -euo pipefail
E2E_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$E2E_DIR/.." && pwd)"
cd "$ROOT"

source "$ROOT/scripts/apt-install.sh"
if [ -z "${SER_E2E_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  # Debian ships "chromium"; Ubuntu's chromium is a snap stub, so fall back to chromium-browser.
  apt_install chromium || apt_install chromium-browser
  [ -x /usr/bin/chromium ] || export SER_E2E_CHROMIUM="$(command -v chromium-browser)"
fi
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
command -v curl >/dev/null || apt_install curl
(cd "$E2E_DIR" && npm ci --no-audit --no-fund)

PORT="${SER_E2E_PORT:-$((20000 + RANDOM % 20000))}"
export E2E_ADDR="127.0.0.1:$PORT"
export E2E_DATA_DIR="$(mktemp -d /tmp/ser-e2e-data.XXXXXX)"
export E2E_DB="sqlite://$E2E_DATA_DIR/ser.db?mode=rwc"
export SER_ADDR="$E2E_ADDR" SER_DATA_DIR="$E2E_DATA_DIR" SER_DATABASE_URL="$E2E_DB"
export SER_E2E_BASE_URL="http://$E2E_ADDR"

if [ -z "${SER_E2E_SERVER_CMD:-}" ]; then
  # The real server. Debug by default: it reuses what `cargo test` built (dependencies are
  # optimised in the dev profile); SER_E2E_RELEASE=1 builds and runs the release binary.
  TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  if [ -n "${SER_E2E_RELEASE:-}" ]; then
    cargo build --release --locked --bin ser
    SER_BIN="$TARGET_DIR/release/ser"
  else
    # Same package selection as `cargo test --workspace`, so the same dependency features:
    # nothing is rebuilt after the tests (`--bin ser` alone would rebuild burn and sqlx).
    cargo build --locked --workspace --bins --tests --examples
    SER_BIN="$TARGET_DIR/debug/ser"
  fi
  # The energy detector: the tests' long recordings are tones shaped like speech, which the
  # default (Silero) rightly hears as no voice.
  SER_E2E_SERVER_CMD="$SER_BIN serve --addr $E2E_ADDR --data-dir $E2E_DATA_DIR --vad energy"
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
START=$(date +%s)
node --test --test-concurrency=1 tests/
rc=$?
echo "e2e: browser tests took $(( $(date +%s) - START )) s"

set -e
[ $rc -eq 0 ] || { echo "--- server log tail ---"; tail -50 "$LOG"; }
exit $rc
