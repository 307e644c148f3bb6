#!/usr/bin/env bash
# Runs a command against a local S3-compatible server: moto (from PyPI, in
# target/s3-venv) on 127.0.0.1, a fresh bucket, the AWS_* variables that reach it, and
# SER_TEST_S3_URL naming a prefix in the bucket. Used by .ci/run for the S3 storage test:
#   bash scripts/with-s3.sh cargo test --workspace --test s3 -- --ignored
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CARGO_TARGET_DIR:-$ROOT/target}/s3-venv"
source "$ROOT/scripts/python-venv.sh"
command -v curl >/dev/null || apt_install curl
python_venv "$VENV" bin/moto_server "moto[server]==5.*"

PORT="${SER_S3_PORT:-$((20000 + RANDOM % 20000))}"
LOG="$(mktemp /tmp/ser-s3.XXXXXX.log)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.5; done
BUCKET="ser-test-$RANDOM"
curl -fsS -X PUT "http://127.0.0.1:$PORT/$BUCKET" >/dev/null || { cat "$LOG" >&2; exit 1; }

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_ENDPOINT="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
export SER_TEST_S3_URL="s3://$BUCKET/ci"
"$@"
