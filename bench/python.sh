#!/usr/bin/env bash
# zygote-real serving Python WSGI apps against gunicorn (sync, gthread), uWSGI and waitress, side
# by side in one run on this machine, 127.0.0.1 only, the same apps and clients for all:
#
#   hello      bench/peers/app.py with no sleep (PEER_LATENCY_MS=0), driven by one wrk command
#              (wrk -t2 -c50 -d8s, keep-alive): requests per second
#   ka5        the same app sleeping 5 ms a request, 32 keep-alive clients (zygote-load), 8 s
#   uss        bench/peers/flask_app.py (Flask), each worker's USS and PSS after 10,000 requests
#              (from /proc/PID/smaps_rollup), gunicorn with --preload against zygote-real
#
# Every server has 4 workers (threads for waitress and gthread), runs in a process group of its
# own on Debian's /usr/bin/python3 with a clean environment, and is stopped by its pid.
#
#   bench/python.sh [--quick] [--build DIR] [--out DIR]      (writes DIR/python/python.json, .md)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
quick="" build="" out=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --build) build=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    *) echo "usage: bench/python.sh [--quick] [--build DIR] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
fail() { echo "python.sh: $*" >&2; exit 1; }
for b in "$build" "$root/build-bench" "$root/build"; do
  if [ -n "$b" ] && [ -x "$b/real/zygote-real" ] && [ -e "$b/real/zygote-python.so" ]; then
    build=$(cd "$b" && pwd); break
  fi
done
[ -n "$build" ] && [ -x "$build/real/zygote-real" ] || fail "no build with real/zygote-real and real/zygote-python.so"
zygote_real=$build/real/zygote-real
load=$build/real/load/zygote-load
out=${out:-$build/python}
mkdir -p "$out"
python=/usr/bin/python3
command -v wrk >/dev/null || fail "wrk is missing (Debian package wrk)"
workers=4
if [ -n "$quick" ]; then secs=1 uss_requests=500; else secs=8 uss_requests=10000; fi

# shellcheck source=bench/lib.sh
source "$here/lib.sh"  # $dir, $spid, free_port, answers
trap 'exit 130' INT TERM

# start NAME APPFILE MODULE:CALLABLE LATENCY_MS: sets spid and port.
start() {
  local name=$1 file=$2 app=$3 latency=$4 i
  local rel=$dir/releases/$name
  rm -rf "$rel" && mkdir -p "$rel" "$dir/run" && chmod 700 "$dir/run"
  cp "$here/peers/$file" "$rel/"
  port=$(free_port)
  local envs=(env -i PATH=/usr/bin:/bin HOME="$dir" LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
    PEER_NAME="$name" PEER_LATENCY_MS="$latency")
  local cmd
  case $name in
    zygote-real) ln -sfn "$rel" "$dir/current"
      cmd=("$zygote_real" --bind "127.0.0.1:$port" -b "$dir/current" --run-dir "$dir/run" --workers "$workers" "$app") ;;
    gunicorn-sync) cmd=("$python" -m gunicorn -w "$workers" -k sync -b "127.0.0.1:$port" "$app") ;;
    gunicorn-preload) cmd=("$python" -m gunicorn --preload -w "$workers" -k sync -b "127.0.0.1:$port" "$app") ;;
    gunicorn-gthread) cmd=("$python" -m gunicorn -w "$workers" -k gthread --threads 1 -b "127.0.0.1:$port" "$app") ;;
    uwsgi) cmd=(/usr/bin/uwsgi-core --plugin python3 --http-socket "127.0.0.1:$port" --processes "$workers"
      --master --need-app --module "${app%%:*}" --callable "${app##*:}" --disable-logging) ;;
    waitress) cmd=("$python" -m waitress "--listen=127.0.0.1:$port" "--threads=$workers" "$app") ;;
  esac
  (cd "$rel" && exec setsid "${envs[@]}" "${cmd[@]}") >"$dir/$name.log" 2>&1 </dev/null &
  spid=$!
  for ((i = 0; i < 200; i++)); do
    answers "$port" && return 0
    kill -0 "$spid" 2>/dev/null || fail "$name exited: $(tail -5 "$dir/$name.log")"
    sleep 0.1
  done
  fail "$name did not answer: $(tail -5 "$dir/$name.log")"
}
stop() {
  local sig=TERM i
  case $1 in uwsgi) sig=INT ;; esac
  kill -"$sig" "$spid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  spid=""
}
# Worker pids of the server in process group spid; and the process they were forked from.
group_workers() {
  if [ "$1" = zygote-real ]; then pgrep -g "$spid" -f 'zygote-real: worker'; return; fi
  pgrep -g "$spid" | grep -vx "$spid"
}
forked_from() {
  if [ "$1" = zygote-real ]; then pgrep -g "$spid" -f 'zygote-real: zygote' | head -1; return; fi
  echo "$spid"
}
# requests PORT N: N requests over 4 keep-alive connections, from Debian's Python.
requests() {
  "$python" - "$1" "$2" <<'PY'
import http.client, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
def run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(n // 4):
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
threads = [threading.Thread(target=run) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
}
smaps() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/smaps_rollup"; }

results=$out/python.jsonl
: >"$results"
record() { echo "$1" >>"$results"; echo "python: $1"; }

for name in zygote-real gunicorn-sync gunicorn-gthread uwsgi waitress; do
  start "$name" app.py app:app 0
  wrk -t2 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null
  rps=$(wrk -t2 -c50 -d"${secs}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
  record "{\"case\": \"hello\", \"server\": \"$name\", \"rps\": $rps}"
  stop "$name"
  start "$name" app.py app:app 5
  "$load" --port "$port" --clients 32 --keepalive-percent 100 --duration-ms $((secs * 1000)) \
    --allow-failures --json "$dir/ka.json" >/dev/null
  record "{\"case\": \"ka5\", \"server\": \"$name\", \"summary\": $(cat "$dir/ka.json")}"
  stop "$name"
done

for name in zygote-real gunicorn-preload; do
  start "$name" flask_app.py flask_app:app 0
  requests "$port" "$uss_requests"
  sleep 0.5
  uss=0 pss=0 n=0
  for p in $(group_workers "$name"); do
    u=$(( $(smaps "$p" Private_Clean) + $(smaps "$p" Private_Dirty) ))
    uss=$((uss + u)); pss=$((pss + $(smaps "$p" Pss))); n=$((n + 1))
  done
  lead_pss=$(smaps "$(forked_from "$name")" Pss)
  record "{\"case\": \"uss\", \"server\": \"$name\", \"workers\": $n, \"worker_uss_kb_mean\": $((uss / (n > 0 ? n : 1))), \"workers_pss_kb\": $pss, \"leader_pss_kb\": $lead_pss}"
  stop "$name"
done
echo "python: results in $results"
