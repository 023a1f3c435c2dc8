#!/usr/bin/env bash
# End to end on real processes: zygote-real serves the hello app on 127.0.0.1 (a free port); a
# deploy to a second release under a stream of requests fails none of them and ends with every
# answer coming from the new release; a graceful stop exits 0 and leaves no process behind.
set -euo pipefail
server=${1:?usage: smoke.sh ZYGOTE_REAL HELLO_SO}
hello=${2:?usage: smoke.sh ZYGOTE_REAL HELLO_SO}
source "$(dirname "$0")/lib.sh"

release A "$hello"
release B "$hello"
start_server "$server" A --workers 3 --graceful-timeout-ms 8000 --keepalive-timeout-ms 1000 hello

# One request on its own connection; prints the status code and the body's last word.
get() {
  local reply status body
  reply=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port
    printf 'GET / HTTP/1.1\r\nHost: smoke\r\nConnection: close\r\n\r\n' >&3
    cat <&3") || { echo "000 none"; return; }
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

deploy B
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

stop_server
grep -q "rollout: .*/releases/B" "$dir/log" || fail "no rollout in the log"
echo "smoke: ok"
