#!/usr/bin/env bash
# Two bad releases deployed under load on real processes, 127.0.0.1 only, bounded:
#  1. a release that fails to load: zero failed requests, the old release keeps serving, and the
#     failure is in the log and in `ctl status`;
#  2. a release whose workers crash on their first request: it is rolled back to the resident old
#     release; the losses are confined to the connections the crashing workers held, and stop with
#     the rollback, and `ctl status` names it;
#  3. the master's event log, replayed and judged by zygote-check, shows no violation.
set -euo pipefail
server=${1:?usage: broken_and_crashing.sh ZYGOTE_REAL TESTAPP_SO ZYGOTE_LOAD ZYGOTE_CHECK}
testapp=${2:?}
load=${3:?}
check=${4:?}
source "$(dirname "$0")/lib.sh"
budget=4

release A "$testapp" 'latency_ms 5\n'
release X "$testapp" 'load_fail 1\n'
release C "$testapp" 'crash_on_request 1\n'
start_server "$server" A --workers "$budget" --graceful-timeout-ms 15000 \
  --keepalive-timeout-ms 2000 --events "$dir/events.jsonl" testapp
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
all_on A "$budget" || fail "A does not serve after the broken deploy"
"$server" ctl --run-dir "$dir/run" status >"$dir/status.out" || fail "ctl status failed"
grep -q "^failed: *$dir/releases/X: failed to load: .*configured to fail" "$dir/status.out" ||
  fail "ctl status does not report the broken release: $(cat "$dir/status.out")"
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
failed=$(grep -o '"failed": *[0-9]*' "$dir/crash.json" | head -1 | grep -o '[0-9]*$')
crashes=$(grep -c "worker-failed: .*releases/C" "$dir/log" || true)
echo "crash loop: rolled back after $crashes worker failures; $failed requests failed"
# A crashing worker takes down every connection it held (each with its request in flight): the
# losses are bounded by the crashed workers times the clients, and they stop with the rollback.
[ "$crashes" -ge 1 ] || fail "no worker failure was recorded"
[ "$failed" -le $((crashes * 20)) ] || fail "$failed requests failed: more than $crashes crashed workers could hold"
eventually_all_on A "$budget" 10 || fail "A does not serve after the rollback"
"$load" --port "$port" --clients 20 --duration-ms 3000 --idle-reuse-max-ms 1500 \
  >"$dir/after.out" 2>&1 || fail "requests failed after the rollback: $(cat "$dir/after.out")"
echo "after the rollback: $(cat "$dir/after.out")"
"$server" ctl --run-dir "$dir/run" status >"$dir/status.out" || fail "ctl status failed"
grep -q "^failed: *$dir/releases/C: rolled back to $dir/releases/A" "$dir/status.out" ||
  fail "ctl status does not report the rollback: $(cat "$dir/status.out")"

stop_server
# The crash phase's losses are explained by the crashes (checked above); the rest must be clean.
"$check" "$dir/events.jsonl" --load "$dir/broken.json" || fail "zygote-check found violations"
echo "broken and crashing releases: ok"
