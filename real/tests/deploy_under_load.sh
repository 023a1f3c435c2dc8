#!/usr/bin/env bash
# Zero-drop deploys on real processes: 200 concurrent clients (keep-alive and not, some requests
# lasting seconds) against zygote-real on 127.0.0.1 while 10 deploys alternate two releases.
# Asserts: no failed request; the worker processes that exist (zombies included), sampled from
# /proc throughout, never exceed the budget; every worker ends on the last release; a graceful stop
# exits 0 and leaves nothing. Bounded; every process is in one process group, killed on exit.
set -euo pipefail
server=${1:?usage: deploy_under_load.sh ZYGOTE_REAL TESTAPP_SO ZYGOTE_LOAD}
testapp=${2:?}
load=${3:?}
budget=8
dir=$(mktemp -d)
pgid=""
sampler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  if [ -n "$pgid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server log (tail)"; tail -40 "$dir/log"; exit 1; }

for r in A B; do
  mkdir -p "$dir/releases/$r"
  cp "$testapp" "$dir/releases/$r/testapp.so"
  printf 'latency_ms 5\n' >"$dir/releases/$r/testapp.conf"
done
mkdir -p -m 700 "$dir/run"
ln -s releases/A "$dir/current"

setsid "$server" --bind 127.0.0.1:0 -b "$dir/current" --workers "$budget" --run-dir "$dir/run" \
  --graceful-timeout-ms 20000 --keepalive-timeout-ms 5000 --timeout-ms 20000 \
  --events "$dir/events.jsonl" testapp 2>"$dir/log" &
pid=$!
pgid=$pid
port=""
for _ in $(seq 1 100); do  # wait for the port, at most 10 s
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$dir/log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the server never said which port it listens on"

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
for i in $(seq 1 10); do  # 10 deploys, alternating, every 2.5 s
  sleep 2.5
  if [ "$last" = A ]; then last=B; else last=A; fi
  ln -s "releases/$last" "$dir/current.new"
  mv -T "$dir/current.new" "$dir/current"
  kill -HUP "$pid"
done
wait "$loadpid" && load_status=0 || load_status=$?
cat "$dir/load.out"
[ "$load_status" -eq 0 ] || fail "the load client saw failed requests (exit $load_status)"

on_last() {  # every worker of this server runs the last release
  local total=0 good=0 cmd
  for p in $(pgrep -g "$pgid" -f 'zygote-real: worker'); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    total=$((total + 1))
    case "$cmd" in *"/releases/$last]"*) good=$((good + 1)) ;; esac
  done
  [ "$total" -eq "$budget" ] && [ "$good" -eq "$total" ]
}
for _ in $(seq 1 300); do on_last && break; sleep 0.1; done  # at most 30 s
on_last || fail "not every worker runs releases/$last"

kill "$sampler" 2>/dev/null || true
sampler=""
max=$(cat "$dir/max" 2>/dev/null || echo 0)
echo "peak worker processes: $max of budget $budget"
[ "$max" -le "$budget" ] || fail "the budget was exceeded: $max worker processes"
[ "$max" -gt 0 ] || fail "the sampler saw no worker"

kill -TERM "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the master did not exit after SIGTERM"
wait "$pid" && code=0 || code=$?
[ "$code" -eq 0 ] || fail "the master exited with $code"
if pgrep -g "$pgid" >/dev/null; then fail "processes remain"; fi
pgid=""
deploys=$(grep -c '"event":"deploy' "$dir/events.jsonl" || true)
[ "$deploys" -ge 10 ] || fail "the event log shows $deploys deploys"
echo "deploy under load: ok"
