#!/usr/bin/env bash
# A job worker killed with SIGKILL mid-training loses its job to another worker, which resumes
# it from its last epoch checkpoint: `ser serve --workers 0` queues a training job, `ser worker`
# (a 2 s lease) starts it and is killed after a few epochs, a second `ser worker` takes it over
# once the lease has run out and finishes it; the epochs it reports continue from the
# checkpoint and the trained model is kept. Each process has a data folder of its own, as on
# separate machines: they share the database and a store (--storage, a folder here, S3 in a
# cluster) through which the upload, the checkpoints and the model travel.
# Usage: scripts/worker-kill.sh (needs python3, curl).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${SER_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/ser}"
[ -x "$BIN" ] || cargo build --locked --bin ser
PORT="${SER_KILL_PORT:-$((20000 + RANDOM % 20000))}"
WORK="$(mktemp -d /tmp/ser-worker-kill.XXXXXX)"
source "$ROOT/scripts/serve-with-token.sh"
SHARED=(--database "sqlite://$WORK/ser.db?mode=rwc" --storage "$WORK/store")
serve_with_token "$BIN" "$PORT" "$WORK" --workers 0 "${SHARED[@]}"
WORKERS=()
trap 'kill -9 "${WORKERS[@]}" 2>/dev/null; kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "'"$WORK"'"' EXIT

# Six speakers' low (sad) and high (happy) tones, 1 s at 16 kHz (enough for epochs slower than the polling).
python3 - "$WORK/tones.zip" <<'PY'
import io, math, struct, sys, wave, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for s in range(1, 7):
        for emotion, freq in (("sad", 150), ("happy", 900)):
            for t in range(6):
                f = freq * (1 + 0.02 * s + 0.01 * t)
                buf = io.BytesIO()
                with wave.open(buf, "wb") as w:
                    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
                    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * f * i / 16000))) for i in range(16000)))
                z.writestr(f"Actor_0{s}/{emotion}/clip{t}.wav", buf.getvalue())
PY
EPOCHS=40
JOB="$(curl -fsS -H "authorization: Bearer $TOKEN" -F kind=cnn4 -F epochs=$EPOCHS -F augment=false \
  -F "dataset=@$WORK/tones.zip;type=application/zip" "$BASE/api/jobs/train" \
  | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')"
job() { curl -fsS -H "authorization: Bearer $TOKEN" "$BASE/api/jobs/$JOB"; }
field() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
start_worker() {
  "$BIN" worker --data-dir "$WORK/machine-${#WORKERS[@]}" "${SHARED[@]}" --lease-s 2 >>"$WORK/worker.log" 2>&1 &
  WORKERS+=($!)
}

start_worker
for _ in $(seq 1 600); do
  epoch="$(job | field 'j["detail"]["epoch"] if j["detail"] else 0')"
  [ "$epoch" -ge 4 ] && break
  sleep 0.1
done
kill -9 "${WORKERS[0]}" || { echo "FAIL: the first worker had stopped"; cat "$WORK/worker.log"; job; exit 1; }
killed_at="$(job | field 'j["detail"]["epoch"]')"
echo "first worker killed at epoch $killed_at of $EPOCHS"
[ "$killed_at" -lt "$EPOCHS" ] || { echo "FAIL: the job ended before the kill"; exit 1; }

start_worker
lowest=$EPOCHS
for _ in $(seq 1 1500); do
  state="$(job)"
  status="$(field 'j["status"]' <<<"$state")"
  [ "$status" = running ] || [ "$status" = queued ] || break
  if grep -q "resumed after a restart" <<<"$state"; then
    epoch="$(field 'j["detail"]["epoch"]' <<<"$state")"
    [ "$epoch" -ge 1 ] && [ "$epoch" -lt "$lowest" ] && lowest=$epoch
  fi
  sleep 0.1
done
echo "second worker: status $status, lowest epoch seen after the takeover $lowest"
[ "$status" = done ] || { echo "FAIL: $(job)"; cat "$WORK/worker.log"; exit 1; }
[ "$(job | field 'j["model_id"] is not None')" = True ] || { echo "FAIL: no model kept"; exit 1; }
# The checkpoint of the last finished epoch (or the one before, if the kill fell mid-save).
[ "$lowest" -ge $((killed_at - 1)) ] || { echo "FAIL: restarted from epoch $lowest, not from the checkpoint near $killed_at"; exit 1; }
MODEL="$(job | field 'j["model_id"]')"
ls "$WORK"/store/users/*/models/"$MODEL".bundle >/dev/null || { echo "FAIL: the model is not in the store"; exit 1; }
echo "worker-kill: ok"
