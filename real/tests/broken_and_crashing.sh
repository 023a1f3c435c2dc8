#!/usr/bin/env bash
# Two bad releases deployed under load on real processes, 127.0.0.1 only, bounded:
#  1. a release that fails to load: zero failed requests, the old release keeps serving, and the
#     failure is in the log;
#  2. a release whose workers crash on their first request: it is rolled back to the resident old
#     release, and the failed requests are limited to those the crashing workers took.
# Every process is in one process group, killed on exit.
set -euo pipefail
server=${1:?usage: broken_and_crashing.sh ZYGOTE_REAL TESTAPP_SO ZYGOTE_LOAD}
testapp=${2:?}
load=${3:?}
budget=4
dir=$(mktemp -d)
pgid=""
cleanup() {
  if [ -n "$pgid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server log (tail)"; tail -30 "$dir/log"; exit 1; }

release() {  # release NAME CONF
  mkdir -p "$dir/releases/$1"
  cp "$testapp" "$dir/releases/$1/testapp.so"
  printf '%b' "$2" >"$dir/releases/$1/testapp.conf"
}
release A 'latency_ms 5\n'
release X 'load_fail 1\n'
release C 'crash_on_request 1\n'
mkdir -p -m 700 "$dir/run"
ln -s releases/A "$dir/current"
deploy() {
  ln -s "releases/$1" "$dir/current.new"
  mv -T "$dir/current.new" "$dir/current"
  kill -HUP "$pid"
}
wait_for_log() {  # wait_for_log PATTERN SECONDS
  for _ in $(seq 1 $(($2 * 10))); do grep -q "$1" "$dir/log" && return 0; sleep 0.1; done
  return 1
}
all_on() {  # every worker runs release $1
  local total=0 good=0 cmd
  for p in $(pgrep -g "$pgid" -f 'zygote-real: worker'); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    total=$((total + 1))
    case "$cmd" in *"/releases/$1]"*) good=$((good + 1)) ;; esac
  done
  [ "$total" -eq "$budget" ] && [ "$good" -eq "$total" ]
}

setsid "$server" --bind 127.0.0.1:0 -b "$dir/current" --workers "$budget" --run-dir "$dir/run" \
  --graceful-timeout-ms 15000 --keepalive-timeout-ms 2000 testapp 2>"$dir/log" &
pid=$!
pgid=$pid
wait_for_log "listening on port" 10 || fail "the server never listened"
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$dir/log" | head -1)
wait_for_log "zygote-loaded" 10 || fail "release A never loaded"

# 1. A broken release under load.
"$load" --port "$port" --clients 50 --duration-ms 8000 --keepalive-percent 50 \
  --idle-reuse-max-ms 1500 --json "$dir/broken.json" >"$dir/broken.out" 2>&1 &
loadpid=$!
sleep 2
deploy X
wait_for_log "load-failed: .*releases/X" 10 || fail "the broken release was not reported"
wait "$loadpid" && s=0 || s=$?
cat "$dir/broken.out"
[ "$s" -eq 0 ] || fail "requests failed while a broken release was deployed"
all_on A || fail "A does not serve after the broken deploy"
echo "broken release: reported, A kept serving, no request failed"

# 2. A crash-looping release under load.
"$load" --port "$port" --clients 20 --duration-ms 10000 --keepalive-percent 50 \
  --idle-reuse-max-ms 1500 --allow-failures --json "$dir/crash.json" >"$dir/crash.out" 2>&1 &
loadpid=$!
sleep 1
deploy C
wait_for_log "rollback: .*releases/C" 20 || fail "the crash-looping release was not rolled back"
wait "$loadpid" || true
cat "$dir/crash.out"
failed=$(sed -n 's/.*"failed": *\([0-9]*\).*/\1/p' "$dir/crash.json" | head -1)
[ -n "$failed" ] || failed=$(grep -o '"failed":[0-9]*' "$dir/crash.json" | head -1 | cut -d: -f2)
crashes=$(grep -c "worker-failed: .*releases/C" "$dir/log" || true)
echo "crash loop: rolled back after $crashes worker failures; $failed requests failed"
# A crashing worker takes down every connection it held (each with its request in flight): the
# losses are bounded by the crashed workers times the clients, and they stop with the rollback.
[ "$crashes" -ge 1 ] || fail "no worker failure was recorded"
[ "$failed" -le $((crashes * 20)) ] || fail "$failed requests failed: more than $crashes crashed workers could hold"
for _ in $(seq 1 100); do all_on A && break; sleep 0.1; done
all_on A || fail "A does not serve after the rollback"
"$load" --port "$port" --clients 20 --duration-ms 3000 --idle-reuse-max-ms 1500 \
  >"$dir/after.out" 2>&1 || fail "requests failed after the rollback: $(cat "$dir/after.out")"
echo "after the rollback: $(cat "$dir/after.out")"

kill -TERM "$pid"
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the master did not exit after SIGTERM"
wait "$pid" && code=0 || code=$?
[ "$code" -eq 0 ] || fail "the master exited with $code"
if pgrep -g "$pgid" >/dev/null; then fail "processes remain"; fi
pgid=""
echo "broken and crashing releases: ok"
