#!/usr/bin/env bash
# Load benchmark of replicas (BENCHMARKS.md, "Replicas on PostgreSQL"): the prediction API of
# one `ser serve` on PostgreSQL, then of two replicas on the same database (data folders of
# their own, one shared --storage) with requests spread over both by the client, measured in
# one run with the same clip and token, oha settings as scripts/load-bench.sh:
#   1. full load: 64 concurrent connections for 20 s (throughput)
#   2. a fixed 50 requests/s for 20 s (latency percentiles)
# Two replicas get half of each from two oha processes at once (32 connections, 25 req/s
# each: round robin); their p99 is the larger of the two (at most 1 % of either is above it).
# Usage: bash scripts/with-postgres.sh scripts/load-bench-replicas.sh CLIP   (needs oha)
set -euo pipefail
CLIP="${1:?usage: bash scripts/with-postgres.sh scripts/load-bench-replicas.sh CLIP}"
DB="${SER_TEST_POSTGRES_URL:?run under scripts/with-postgres.sh (it sets SER_TEST_POSTGRES_URL)}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${SER_BIN:-$ROOT/target/release/ser}"
DURATION="${DURATION:-20s}"
PORT_A=$((20000 + RANDOM % 20000))
PORT_B=$((PORT_A + 1))
WORK="$(mktemp -d /tmp/ser-replicas.XXXXXX)"
SHARED=(--database "$DB" --storage "$WORK/store" --workers 0)
source "$ROOT/scripts/serve-with-token.sh"
serve_with_token "$BIN" "$PORT_A" "$WORK" "${SHARED[@]}"

BOUNDARY="ser-load-boundary"
{
  printf -- '--%s\r\nContent-Disposition: form-data; name="files"; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n' "$BOUNDARY" "$(basename "$CLIP")"
  cat "$CLIP"
  printf -- '\r\n--%s--\r\n' "$BOUNDARY"
} >"$WORK/body"
OHA=(oha --no-tui -m POST -H "Authorization: Bearer $TOKEN" -T "multipart/form-data; boundary=$BOUNDARY" -D "$WORK/body")
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H "content-type: multipart/form-data; boundary=$BOUNDARY" \
  --data-binary "@$WORK/body" "$BASE/api/predict"
# oha over the URLs given, the load split evenly, at once; one summary line.
load() {
  local name="$1" connections="$2" rate="$3"
  shift 3
  local n=$# i=0 pids=()
  for url in "$@"; do
    local limit=()
    [ "$rate" = 0 ] || limit=(-q $((rate / n)))
    "${OHA[@]}" -z "$DURATION" -c $((connections / n)) "${limit[@]}" --output-format json -o "$WORK/oha-$i.json" "$url" &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
  python3 - "$name" "$WORK"/oha-*.json <<'PY'
import json, sys
runs = [json.load(open(f)) for f in sys.argv[2:]]
ok = sum(r["statusCodeDistribution"].get("200", 0) for r in runs)
other = {k: v for r in runs for k, v in r["statusCodeDistribution"].items() if k != "200"}
seconds = max(r["summary"]["total"] for r in runs)
pct = lambda p: 1000 * max(r["latencyPercentiles"][p] for r in runs)
print(f"{sys.argv[1]}: {ok / seconds:.0f} predictions/s answered 200 ({ok} in {seconds:.1f} s; other statuses {other}); "
      f"p50 {pct('p50'):.1f} ms, p95 {pct('p95'):.1f} ms, p99 {pct('p99'):.1f} ms (the larger of the clients')")
PY
  rm -f "$WORK"/oha-*.json
}
measure() {
  load "$1, full load, 64 connections, $DURATION" 64 0 "${@:2}"
  load "$1, 50 requests/s, $DURATION" 16 50 "${@:2}"
}
measure "one replica on PostgreSQL" "$BASE/api/predict"

"$BIN" serve --addr "127.0.0.1:$PORT_B" --data-dir "$WORK/data-b" "${SHARED[@]}" >"$WORK/server-b.log" 2>&1 &
SERVER_B=$!
trap 'kill $SERVER $SERVER_B 2>/dev/null; wait 2>/dev/null; rm -rf "'"$WORK"'"' EXIT
for _ in $(seq 1 150); do curl -fs -o /dev/null "http://127.0.0.1:$PORT_B/api/openapi.json" && break; sleep 0.2; done
# The token made on A is good on B: they share the database.
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H "content-type: multipart/form-data; boundary=$BOUNDARY" \
  --data-binary "@$WORK/body" "http://127.0.0.1:$PORT_B/api/predict"
measure "two replicas on PostgreSQL" "$BASE/api/predict" "http://127.0.0.1:$PORT_B/api/predict"
