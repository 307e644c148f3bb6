# Sourced by scripts that drive a real `ser serve` over HTTP (load-bench.sh, api-contract.sh):
# `serve_with_token BIN PORT WORK [SERVE OPTIONS...]` starts BIN serve on 127.0.0.1:PORT with a
# fresh data dir in WORK (stopped and removed on exit), waits until it answers, signs up a user
# and creates an API token. Sets BASE (the server's URL) and TOKEN.
serve_with_token() {
  local bin="$1" port="$2" work="$3"
  shift 3
  BASE="http://127.0.0.1:$port"
  "$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" "$@" >"$work/server.log" 2>&1 &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "'"$work"'"' EXIT
  for _ in $(seq 1 150); do curl -fs -o /dev/null "$BASE/api/openapi.json" && break; sleep 0.2; done
  curl -fsS -c "$work/cookies" -H 'content-type: application/json' \
    -d '{"name":"Script User","email":"script@example.com","password":"script-user-pass-9"}' \
    "$BASE/api/auth/signup" >"$work/signup.json"
  local csrf
  csrf="$(sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p' "$work/signup.json")"
  curl -fsS -b "$work/cookies" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
    -d '{"name":"script"}' "$BASE/api/tokens" >"$work/token.json"
  TOKEN="$(sed -n 's/.*"secret":"\([^"]*\)".*/\1/p' "$work/token.json")"
}
