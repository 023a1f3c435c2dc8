#!/usr/bin/env bash
# End to end on real processes: zygote-real serves the hello app on 127.0.0.1 (a free port); a
# deploy to a second release under a stream of requests fails none of them and ends with every
# answer coming from the new release; a graceful stop exits 0 and leaves no process behind.
# Bounded in time; every process it starts is in one process group, killed on exit.
set -euo pipefail
server=${1:?usage: smoke.sh ZYGOTE_REAL HELLO_SO}
hello=${2:?usage: smoke.sh ZYGOTE_REAL HELLO_SO}
dir=$(mktemp -d)
pgid=""
cleanup() {
  if [ -n "$pgid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server log"; cat "$dir/log"; exit 1; }

mkdir -p "$dir/releases/A" "$dir/releases/B" "$dir/run"
chmod 700 "$dir/run"
cp "$hello" "$dir/releases/A/hello.so"
cp "$hello" "$dir/releases/B/hello.so"
ln -s releases/A "$dir/current"

setsid "$server" --bind 127.0.0.1:0 -b "$dir/current" --workers 3 --run-dir "$dir/run" \
  --graceful-timeout-ms 8000 --keepalive-timeout-ms 1000 hello 2>"$dir/log" &
pid=$!
pgid=$pid

port=""
for _ in $(seq 1 100); do  # wait for the port, at most 10 s
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$dir/log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the server never said which port it listens on"

# One request on its own connection; prints the status code and the body's last word.
get() {
  local reply
  reply=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port
    printf 'GET / HTTP/1.1\r\nHost: smoke\r\nConnection: close\r\n\r\n' >&3
    cat <&3") || { echo "000 none"; return; }
  local status body
  status=$(printf '%s' "$reply" | head -1 | cut -d' ' -f2)
  body=$(printf '%s' "$reply" | tail -1)
  echo "$status ${body##*/}"
}

first=""
for _ in $(seq 1 50); do  # the first workers come up
  first=$(get)
  [ "${first%% *}" = 200 ] && break
  sleep 0.1
done
[ "${first%% *}" = 200 ] || fail "no 200 from the first release: $first"
echo "before the deploy: $first"

ln -s releases/B "$dir/current.new"
mv -T "$dir/current.new" "$dir/current"
kill -HUP "$pid"

failed=0
served_b=0
for i in $(seq 1 200); do  # requests throughout the deploy, at most ~20 s
  r=$(get)
  case "$r" in
    "200 "*B*) served_b=$((served_b + 1)) ;;
    "200 "*) ;;
    *) failed=$((failed + 1)); echo "request $i failed: $r" ;;
  esac
  [ $served_b -ge 20 ] && break
  sleep 0.05
done
[ $failed -eq 0 ] || fail "$failed requests failed during the deploy"
[ $served_b -ge 20 ] || fail "the new release did not take over"
echo "after the deploy: $(get) ($served_b answers from B, $failed failed)"

kill -TERM "$pid"
for _ in $(seq 1 150); do  # graceful stop, at most 15 s
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the master did not exit after SIGTERM"
wait "$pid" && code=0 || code=$?
[ "$code" -eq 0 ] || fail "the master exited with $code"
if pgrep -g "$pgid" >/dev/null; then fail "processes remain: $(pgrep -g "$pgid" | tr '\n' ' ')"; fi
pgid=""
grep -q "rollout: releases/B\|rollout: .*/releases/B" "$dir/log" || fail "no rollout in the log"
echo "smoke: ok"
