#!/usr/bin/env bash
# Live prediction under load (BENCHMARKS.md): starts a release `ser serve` with a fresh data
# dir, then runs N WebSocket streams of real-time audio at once for S seconds each and prints
# the latency from a window's last sample to its result. With audio files each stream plays
# them (real speech, which the Silero detector hears); without, a speech-like tone.
# Usage: scripts/live-load.sh [STREAMS=20] [SECONDS=30] [AUDIO...]
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS="${1:-20}"
SECONDS_EACH="${2:-30}"
cargo build --release --locked --bin ser
cargo build --release --locked -p ser-server --example live_load
. scripts/serve-with-token.sh
serve_with_token target/release/ser "$((20000 + RANDOM % 20000))" "$(mktemp -d)"
target/release/examples/live_load "${BASE/http/ws}" "$TOKEN" "$STREAMS" "$SECONDS_EACH" "${@:3}"
