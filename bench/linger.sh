#!/usr/bin/env bash
# The worker's "linger" choice, measured: after a response, a worker serves a pipelined request
# already in its buffer if no hand-off waits (core/worker_loop.cpp), or it could always give the
# connection back to the front, which hands the next request to whichever worker is idle. Runs
# two zygote-real binaries (A, B: e.g. this build and one built with the variant) one after the
# other, ROUNDS times alternating, under the same pipelined wrk load (bench/wrk_pipeline.lua), and
# prints one line per run: binary, app, connections, requests/s, wrk's p50 and p99 (per batch;
# wrk prints none for the 5 ms app when pipelined), lines of socket errors or non-2xx.
#
#   bench/linger.sh ZYGOTE_REAL_A ZYGOTE_REAL_B HELLO_SO TESTAPP_SO [ROUNDS] [SECONDS]
#
# Loads: hello with 2 workers and 2 or 50 connections; testapp latency_ms 5 with 4 workers and
# 4 or 32 connections; 4 requests per batch (as many connections as workers: no hand-off waits, so
# the first binary's worker serves the batch; many connections: hand-offs always wait). 127.0.0.1 only; each server runs in a process group of
# its own, is stopped by its pid and its group killed on exit.
set -euo pipefail
a=${1:?usage: linger.sh ZYGOTE_REAL_A ZYGOTE_REAL_B HELLO_SO TESTAPP_SO [ROUNDS] [SECONDS]}
b=${2:?}
hello=${3:?}
testapp=${4:?}
rounds=${5:-3}
seconds=${6:-5}
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
# shellcheck source=bench/lib.sh
source "$here/lib.sh"  # $dir, $spid

# serve BINARY APP_SO WORKERS [CONF]: starts zygote-real; sets spid and port.
serve() {
  local i app
  app=$(basename "$2" .so)
  rm -rf "$dir/releases" "$dir/current" "$dir/run" "$dir/log"
  mkdir -p "$dir/releases/r" "$dir/run"
  chmod 700 "$dir/run"
  cp "$2" "$dir/releases/r/"
  [ -z "${4:-}" ] || echo "$4" >"$dir/releases/r/$app.conf"
  ln -s releases/r "$dir/current"
  : >"$dir/log"
  setsid "$1" --bind 127.0.0.1:0 -b "$dir/current" --run-dir "$dir/run" --workers "$3" "$app" \
    2>"$dir/log" </dev/null &
  spid=$!
  port=""
  for ((i = 0; i < 100 && ${#port} == 0; i++)); do
    port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$dir/log" | head -1)
    [ -n "$port" ] || sleep 0.1
  done
  [ -n "$port" ] || { echo "linger.sh: no port: $(tail -3 "$dir/log")" >&2; exit 1; }
  sleep 0.5
}

stop() {
  kill -TERM "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  kill -KILL -- "-$spid" 2>/dev/null || true
  spid=""
}

# run LABEL BINARY APP_SO WORKERS CONNECTIONS [CONF]
run() {
  local out
  serve "$2" "$3" "$4" "${6:-}"
  wrk -t2 -c"$5" -d1s -s "$here/wrk_pipeline.lua" "http://127.0.0.1:$port/" >/dev/null
  out=$(wrk -t2 -c"$5" -d"${seconds}s" --latency -s "$here/wrk_pipeline.lua" \
    "http://127.0.0.1:$port/")
  stop
  printf '%s %s c=%s %s p50 %s p99 %s errors %s\n' "$1" "$(basename "$3" .so)" "$5" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    "$(grep -c 'Socket errors\|Non-2xx' <<<"$out" || true)"
}

for ((r = 1; r <= rounds; r++)); do
  echo "round $r, $(uptime | sed 's/.*load/load/')"
  for v in A B; do
    bin=$a
    [ "$v" = B ] && bin=$b
    run "$v" "$bin" "$hello" 2 2
    run "$v" "$bin" "$hello" 2 50
    run "$v" "$bin" "$testapp" 4 4 "latency_ms 5"
    run "$v" "$bin" "$testapp" 4 32 "latency_ms 5"
  done
done
