#!/usr/bin/env bash
# Load benchmark of the prediction API (BENCHMARKS.md, "Web server load").
# Starts `ser serve` (release) on a fresh data dir, signs up a user, creates an API token and
# drives POST /api/predict with one 3 s clip per request using oha:
#   1. full load: 64 concurrent connections for 20 s (throughput)
#   2. a fixed 50 requests/s for 20 s (latency percentiles)
# Usage: scripts/load-bench.sh CLIP.wav   (needs oha: `cargo install oha`)
set -euo pipefail
CLIP="${1:?usage: scripts/load-bench.sh CLIP.wav (a 3 s clip)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${SER_BIN:-$ROOT/target/release/ser}"
PORT="${PORT:-18181}"
DURATION="${DURATION:-20s}"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d /tmp/ser-load.XXXXXX)"
"$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fs -o /dev/null "$BASE/api/openapi.json" && break; sleep 0.2; done

curl -fsS -c "$WORK/cookies" -H 'content-type: application/json' \
  -d '{"name":"Load Test","email":"load@example.com","password":"load-test-password"}' \
  "$BASE/api/auth/signup" >"$WORK/signup.json"
CSRF="$(sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' "$WORK/signup.json")"
curl -fsS -b "$WORK/cookies" -H "x-csrf-token: $CSRF" -H 'content-type: application/json' \
  -d '{"name":"load"}' "$BASE/api/tokens" >"$WORK/token.json"
TOKEN="$(sed -n 's/.*"secret":"\([^"]*\)".*/\1/p' "$WORK/token.json")"

BOUNDARY="ser-load-boundary"
{
  printf -- '--%s\r\nContent-Disposition: form-data; name="files"; filename="clip.wav"\r\nContent-Type: audio/wav\r\n\r\n' "$BOUNDARY"
  cat "$CLIP"
  printf -- '\r\n--%s--\r\n' "$BOUNDARY"
} >"$WORK/body"
AUTH="Authorization: Bearer $TOKEN"
TYPE="multipart/form-data; boundary=$BOUNDARY"
# One request first: fails loudly if the API refuses it.
curl -fsS -o "$WORK/first.json" -H "$AUTH" -H "content-type: $TYPE" --data-binary "@$WORK/body" "$BASE/api/predict"
head -c 300 "$WORK/first.json"; echo

echo "== full load: 64 connections, $DURATION"
oha --no-tui -z "$DURATION" -c 64 -m POST -H "$AUTH" -T "$TYPE" -D "$WORK/body" "$BASE/api/predict"
echo "== 50 requests/s, $DURATION"
oha --no-tui -z "$DURATION" -c 16 -q 50 -m POST -H "$AUTH" -T "$TYPE" -D "$WORK/body" "$BASE/api/predict"
