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
WORK="$(mktemp -d /tmp/ser-load.XXXXXX)"
source "$ROOT/scripts/serve-with-token.sh"
serve_with_token "$BIN" "$PORT" "$WORK"

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
