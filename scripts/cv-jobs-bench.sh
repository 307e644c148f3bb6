#!/usr/bin/env bash
# Cross-validation with folds side by side (BENCHMARKS.md): the shipped recipe on RAVDESS +
# ASED, folds 0 and 1 for E epochs, one after another on all threads (--jobs 1) and side by
# side (--jobs 2), alternating, R rounds; prints the wall time of each run and the folds' UA
# (the same for both). The first run also fills the feature cache (clips and augmented copies).
# Usage: scripts/cv-jobs-bench.sh [EPOCHS=10] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-10}"
ROUNDS="${2:-3}"
cargo build --release --locked --bin ser
DATA="--data ../shared/data/ravdess --data ../shared/data/ased/MANIFEST.csv"
RECIPE="--arch cnn4 --set pooling=mean-std --features logmel64-frames+spk --frames 300 --augment 2
  --channel-augment --train-alone --freq-warp 0.1 --spec-augment --keep-last"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
run() { # jobs round
  local started=$SECONDS
  # shellcheck disable=SC2086
  target/release/ser eval $DATA $RECIPE --epochs "$EPOCHS" --protocol speaker-mod:5 --folds 0,1 \
    --jobs "$1" --report "$OUT/j$1-r$2" 2>&1 | grep -o "fold [01] finished: WA [0-9.]* %  UA [0-9.]* %" | sort | tr '\n' ' '
  echo "| jobs $1, round $2: $((SECONDS - started)) s"
}
run 1 0 >/dev/null # fills the feature cache
for round in $(seq 1 "$ROUNDS"); do
  run 1 "$round"
  run 2 "$round"
done
