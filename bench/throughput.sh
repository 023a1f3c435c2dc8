#!/usr/bin/env bash
# Throughput and latency on 127.0.0.1: zygote-real serving the hello app against nginx returning
# 200 from a one-line location, both started here side by side with the same number of worker
# processes, then measured one after the other with the same wrk command (same threads,
# connections and duration), keep-alive and one connection per request ("Connection: close").
#
#   throughput.sh ZYGOTE_REAL HELLO_SO BENCH_REPORT OUT_JSON [--smoke]
#
# Writes OUT_JSON: {"config": {...}, "runs": [{"server", "mode", wrk's summary}...]}, then checks
# that every run produced numbers (bench-report check). Full: 10 s per run after a 2 s warm-up
# (about 50 s); --smoke: 1 s per run. Every process started here is in a process group of its own
# and killed on exit, whatever happens.
set -euo pipefail
zygote_real=${1:?usage: throughput.sh ZYGOTE_REAL HELLO_SO BENCH_REPORT OUT_JSON [--smoke]}
hello=${2:?}
report=${3:?}
out=${4:?}
smoke=${5:-}
here=$(cd "$(dirname "$0")" && pwd)

workers=2
threads=2
connections=50
duration=10
warmup=2
if [ "$smoke" = "--smoke" ]; then
  duration=1
  warmup=1
fi

dir=$(mktemp -d)
zpid=""
npid=""
cleanup() {
  if [ -n "$zpid" ]; then kill -KILL -- "-$zpid" 2>/dev/null || true; fi
  if [ -n "$npid" ]; then kill -KILL -- "-$npid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "throughput.sh: $*" >&2
  tail -20 "$dir/zygote.log" "$dir/nginx-error.log" 2>/dev/null >&2 || true
  exit 1
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# zygote-real: release "bench", so hello answers "Hello from bench\n" (17 bytes, as nginx does).
mkdir -p "$dir/releases/bench" "$dir/run"
chmod 700 "$dir/run"
cp "$hello" "$dir/releases/bench/"
ln -s releases/bench "$dir/current"
zport=$("$report" free-port)
setsid "$zygote_real" --bind "127.0.0.1:$zport" -b "$dir/current" --run-dir "$dir/run" \
  --workers "$workers" hello 2>"$dir/zygote.log" &
zpid=$!

nport=$("$report" free-port)
mkdir -p "$dir/nginx"
cat >"$dir/nginx/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location / { return 200 "Hello from nginx\n"; }
  }
}
CONF
setsid /usr/sbin/nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx-error.log" &
npid=$!

wait_port "$zport" || fail "zygote-real did not listen on $zport"
wait_port "$nport" || fail "nginx did not listen on $nport"
curl_ok() { [ "$(exec 3<>"/dev/tcp/127.0.0.1/$1"; printf 'GET / HTTP/1.0\r\n\r\n' >&3; head -c 12 <&3)" = "HTTP/1.1 200" ]; }
curl_ok "$zport" || fail "zygote-real does not answer 200"
curl_ok "$nport" || fail "nginx does not answer 200"

# run SERVER MODE PORT: one wrk run (after a warm-up), its summary to $dir/SERVER-MODE.json.
run() {
  local header=()
  [ "$2" = close ] && header=(-H "Connection: close")
  wrk -t"$threads" -c"$connections" -d"${warmup}s" "${header[@]}" "http://127.0.0.1:$3/" >/dev/null
  WRK_JSON="$dir/$1-$2.json" wrk -t"$threads" -c"$connections" -d"${duration}s" --latency \
    "${header[@]}" -s "$here/wrk_json.lua" "http://127.0.0.1:$3/" >"$dir/$1-$2.txt"
  [ -s "$dir/$1-$2.json" ] || fail "wrk wrote no summary for $1 $2"
  echo "throughput: $1 $2: $(grep -E 'Requests/sec' "$dir/$1-$2.txt" | tr -s ' ')"
}
for mode in keepalive close; do
  run zygote "$mode" "$zport"
  run nginx "$mode" "$nport"
done

{
  printf '{"config": {"workers": %d, "wrk_threads": %d, "connections": %d, "duration_s": %d},\n' \
    "$workers" "$threads" "$connections" "$duration"
  printf ' "runs": [\n'
  sep=""
  for mode in keepalive close; do
    for server in zygote nginx; do
      printf '%s  {"server": "%s", "mode": "%s", "wrk": %s}' "$sep" "$server" "$mode" \
        "$(cat "$dir/$server-$mode.json")"
      sep=$',\n'
    done
  done
  printf '\n]}\n'
} >"$out"

# Both servers stop gracefully; the trap kills whatever remains of their groups.
kill -TERM "$zpid" 2>/dev/null || true
kill -QUIT "$npid" 2>/dev/null || true
wait "$zpid" "$npid" 2>/dev/null || true
"$report" check "$out"
