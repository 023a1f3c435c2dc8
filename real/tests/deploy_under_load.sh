#!/usr/bin/env bash
# Zero-drop deploys on real processes: 200 concurrent clients (keep-alive and not, some requests
# lasting seconds) against zygote-real on 127.0.0.1 while 10 deploys alternate two releases.
# Asserts: no failed request; the worker processes that exist (zombies included), sampled from
# /proc throughout, never exceed the budget; every worker ends on the last release; a graceful stop
# exits 0 and leaves nothing; the master's event log, replayed and judged by the simulator's
# checker (zygote-check) with the load client's outcomes, shows no violation.
set -euo pipefail
server=${1:?usage: deploy_under_load.sh ZYGOTE_REAL TESTAPP_SO ZYGOTE_LOAD ZYGOTE_CHECK}
testapp=${2:?}
load=${3:?}
check=${4:?}
source "$(dirname "$0")/lib.sh"
budget=8
sampler=""
trap '[ -n "$sampler" ] && kill "$sampler" 2>/dev/null; _zr_cleanup' EXIT

release A "$testapp" 'latency_ms 5\n'
release B "$testapp" 'latency_ms 5\n'
start_server "$server" A --workers "$budget" --graceful-timeout-ms 20000 \
  --keepalive-timeout-ms 5000 --heartbeat-timeout-ms 20000 --events "$dir/events.jsonl" testapp

# Worker processes of this server that exist, zombies included (a zombie keeps its name): one
# pass over /proc per sample.
count_workers() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pg="$pgid" '
    { name = $0; sub(/^[^(]*\(/, "", name); sub(/\).*$/, "", name)
      if (name != "zygote-real: wo") next
      rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
      if (f[3] == pg) n++ }
    END { print n + 0 }'
}
(
  max=0
  while :; do
    n=$(count_workers)
    [ "$n" -gt "$max" ] && { max=$n; echo "$max" >"$dir/max"; }
    sleep 0.02
  done
) &
sampler=$!

"$load" --port "$port" --clients 200 --duration-ms 30000 --keepalive-percent 50 \
  --long-every 40 --long-ms 2000 --json "$dir/load.json" >"$dir/load.out" 2>&1 &
loadpid=$!

last=A
for _ in $(seq 1 10); do  # 10 deploys, alternating, every 2.5 s
  sleep 2.5
  if [ "$last" = A ]; then last=B; else last=A; fi
  deploy "$last"
done
wait "$loadpid" && load_status=0 || load_status=$?
cat "$dir/load.out"
[ "$load_status" -eq 0 ] || fail "the load client saw failed requests (exit $load_status)"
eventually_all_on "$last" "$budget" 30 || fail "not every worker runs releases/$last"

kill "$sampler" 2>/dev/null || true
sampler=""
max=$(cat "$dir/max" 2>/dev/null || echo 0)
echo "peak worker processes: $max of budget $budget"
[ "$max" -le "$budget" ] || fail "the budget was exceeded: $max worker processes"
[ "$max" -gt 0 ] || fail "the sampler saw no worker"

stop_server
deploys=$(grep -c '"type":"deploy"' "$dir/events.jsonl" || true)
[ "$deploys" -ge 10 ] || fail "the event log shows $deploys deploys"
"$check" "$dir/events.jsonl" --load "$dir/load.json" || fail "zygote-check found violations"
echo "deploy under load: ok"
