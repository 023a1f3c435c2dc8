#!/usr/bin/env bash
# zygote-real against its peers, side by side in one run, on the same client (issue 11's "How it
# is measured"): zygote-real serving testapp with latency_ms 5, and gunicorn sync, uWSGI and
# waitress serving bench/peers/app.py (the same 5 ms), each with 4 workers or threads on
# 127.0.0.1, each driven by the same zygote-load command:
#
#   keepalive      32 clients, keep-alive 100%
#   close          32 clients, one connection per request (keep-alive 0%)
#   mixed-ka       32 clients keep-alive, 1 request in 20 taking 200 ms (?ms=200), each client
#                  pausing 200 ms between requests: about 55% of the 4 workers' capacity for this
#                  mix, so that a short request waits only where the server makes it wait (behind
#                  a long one on its worker); short and long requests' percentiles apart
#   mixed-close    as mixed-ka, one connection per request
#   held-without   as keepalive, just before held-with
#   held-with      as keepalive, while 1,000 slow clients (partial heads) and 10,000 idle
#                  keep-alive connections are held
#
#   bench/peers.sh [--quick] [--build DIR] [--out DIR]
#
# Builds nothing: DIR (default build-bench/, else build/) must hold real/zygote-real,
# real/load/zygote-load and examples/testapp/testapp.so. Writes to --out (default DIR/peers):
# peers.json (every run's zygote-load summary, the ratios, the machine), peers.md (the tables) and
# runs/ (each run's JSON and summary line). Full: 8 s per run, about 6 minutes; --quick: tiny
# sizes (1 s, 4 clients, 20 slow, 100 idle), about a minute, for the ctest smoke test.
# The peers run on Debian's /usr/bin/python3 with a clean environment (never another Python on
# PATH). Every server runs in a process group of its own, is stopped by its pid (uWSGI with
# SIGINT: it takes SIGTERM as "reload"), and its group is killed on exit, whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

quick=""
build=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --build) build=${2:?--build needs a directory}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    *) echo "usage: bench/peers.sh [--quick] [--build DIR] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done

fail() {
  echo "peers.sh: $*" >&2
  exit 1
}

has_binaries() { [ -x "$1/real/zygote-real" ] && [ -x "$1/real/load/zygote-load" ]; }
if [ -z "$build" ]; then
  for b in "$root/build-bench" "$root/build"; do
    if has_binaries "$b"; then build=$b; break; fi
  done
  [ -n "$build" ] || fail "no build dir with real/zygote-real and real/load/zygote-load: build them" \
    "(cmake --preset ci && cmake --build --preset ci --target zygote-real zygote-load testapp)"
fi
build=$(cd "$build" && pwd)
zygote_real=$build/real/zygote-real
load=$build/real/load/zygote-load
testapp=$build/examples/testapp/testapp.so
for f in "$zygote_real" "$load" "$testapp"; do [ -e "$f" ] || fail "missing $f: build it"; done
out=${out:-$build/peers}
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)
rm -f "$out"/runs/* "$out/peers.json" "$out/peers.md"

# The peers are Debian packages (scripts/install-deps.sh): a missing one fails the run, loudly.
python=/usr/bin/python3
[ -x "$python" ] || fail "no /usr/bin/python3 (Debian package python3)"
"$python" -c 'import gunicorn' 2>/dev/null || fail "gunicorn is not installed (Debian package" \
  "gunicorn; scripts/install-deps.sh installs it)"
"$python" -c 'import waitress' 2>/dev/null || fail "waitress is not installed (Debian package" \
  "python3-waitress; scripts/install-deps.sh installs it)"
[ -x /usr/bin/uwsgi-core ] || fail "uWSGI is not installed (Debian package uwsgi-core;" \
  "scripts/install-deps.sh installs it)"
[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || fail "uWSGI's python3 plugin is not" \
  "installed (Debian package uwsgi-plugin-python3; scripts/install-deps.sh installs it)"
command -v ss >/dev/null || fail "ss is missing (Debian package iproute2)"

workers=4
latency_ms=5
long_every=20
long_ms=200
if [ -n "$quick" ]; then
  duration_ms=1000 clients=4 slow=20 idle=100 hold_setup_ms=3000 request_timeout_ms=3000
  warmup_ms=300 mixed_think_ms=20
else
  duration_ms=8000 clients=32 slow=1000 idle=10000 hold_setup_ms=15000 request_timeout_ms=10000
  warmup_ms=1000 mixed_think_ms=200
fi

# shellcheck source=bench/lib.sh
source "$here/lib.sh"  # $dir, $spid (the server being measured: its pid and process group), free_port, answers
loadpid=""
stop_group() {
  if [ -n "$spid" ]; then kill -KILL -- "-$spid" 2>/dev/null || true; fi
}
cleanup() {
  if [ -n "$loadpid" ]; then kill -KILL "$loadpid" 2>/dev/null || true; fi
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# alive PID: the process exists and has not exited (a child not yet waited for is a zombie).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# wait_ready NAME PORT: until the server answers 200 (20 s at most, failing early if it died).
wait_ready() {
  local i
  for ((i = 0; i < 200; i++)); do
    alive "$spid" || fail "$1 exited while starting: $(tail -5 "$dir/$1.log")"
    answers "$2" && return 0
    sleep 0.1
  done
  fail "$1 did not answer on 127.0.0.1:$2 within 20 s: $(tail -5 "$dir/$1.log")"
}

# launch NAME DIR COMMAND...: COMMAND in DIR, in a process group of its own, with the peers'
# clean environment (Debian's Python and nothing of the caller's: no pyenv, no PYTHONPATH); sets
# spid. setsid does not fork here (a background job of a script is no group leader), so the pid
# is the server's.
launch() {
  local name=$1 cwd=$2
  shift 2
  (cd "$cwd" && exec setsid env -i PATH=/usr/bin:/bin HOME="$dir" LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 PEER_NAME="$name" PEER_LATENCY_MS=$latency_ms "$@") \
    >"$dir/$name.log" 2>&1 </dev/null &
  spid=$!
}

# start NAME: starts the server; sets spid and port, and the command line it ran.
start() {
  local name=$1 i
  port=""
  case $name in
    zygote-real)
      mkdir -p "$dir/releases/bench" "$dir/run"
      chmod 700 "$dir/run"
      cp "$testapp" "$dir/releases/bench/"
      echo "latency_ms $latency_ms" >"$dir/releases/bench/testapp.conf"
      ln -sfn releases/bench "$dir/current"
      # Room and time to hold every slow and idle connection through the slow+idle run: the
      # default --max-connections 10000 is below the 11,032 connections of that run, and the
      # default 5 s keep-alive timeout would close the idle ones before the clients' load ends.
      : >"$dir/$name.log"  # before the server starts, so that reading it for the port never races
      command_line="zygote-real --bind 127.0.0.1:0 --workers $workers --max-connections 12000 --keepalive-timeout-ms 60000 testapp (latency_ms $latency_ms)"
      setsid "$zygote_real" --bind 127.0.0.1:0 -b "$dir/current" --run-dir "$dir/run" \
        --workers "$workers" --max-connections 12000 --keepalive-timeout-ms 60000 testapp \
        2>"$dir/$name.log" </dev/null &
      spid=$!
      for ((i = 0; i < 100 && ${#port} == 0; i++)); do
        port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$dir/$name.log" | head -1)
        [ -n "$port" ] || sleep 0.1
      done
      [ -n "$port" ] || fail "zygote-real never said its port: $(tail -5 "$dir/$name.log")"
      ;;
    gunicorn)
      port=$(free_port)
      command_line="gunicorn -w $workers -k sync -b 127.0.0.1:PORT app:app"
      launch "$name" "$here/peers" "$python" -m gunicorn -w "$workers" -k sync \
        -b "127.0.0.1:$port" app:app
      ;;
    uwsgi)
      port=$(free_port)
      command_line="uwsgi --plugin python3 --http-socket 127.0.0.1:PORT --processes $workers --master --wsgi-file app.py --disable-logging"
      launch "$name" "$here/peers" /usr/bin/uwsgi-core --plugin python3 \
        --http-socket "127.0.0.1:$port" --processes "$workers" --master --need-app \
        --wsgi-file app.py --callable app --disable-logging
      ;;
    waitress)
      port=$(free_port)
      command_line="waitress-serve --listen=127.0.0.1:PORT --threads=$workers app:app"
      launch "$name" "$here/peers" "$python" -m waitress "--listen=127.0.0.1:$port" \
        "--threads=$workers" app:app
      ;;
  esac
  wait_ready "$name" "$port"
}

# stop NAME: the signal each server takes as "stop" to its pid, 10 s to exit, then its group is
# killed (workers included).
stop() {
  local signal=TERM i
  [ "$1" = uwsgi ] && signal=INT  # uWSGI reloads on SIGTERM
  kill -"$signal" "$spid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$spid" || break
    sleep 0.1
  done
  stop_group
  wait "$spid" 2>/dev/null || true
  spid=""
}

# measure NAME CASE [zygote-load options...]: one run; its JSON and summary line in runs/.
measure() {
  local name=$1 case=$2
  shift 2
  "$load" --port "$port" --duration-ms "$duration_ms" --clients "$clients" \
    --request-timeout-ms "$request_timeout_ms" --allow-failures \
    --json "$out/runs/$name.$case.json" "$@" >"$out/runs/$name.$case.txt"
  echo "peers: $name $case: $(sed 's/^zygote-load: //' "$out/runs/$name.$case.txt")"
}

# measure_keepalive_with_spread NAME: the keep-alive run, with the clients' connections counted per server process at
# its middle (ss): how the server spread 32 keep-alive connections over its processes.
measure_keepalive_with_spread() {
  local name=$1
  measure "$name" keepalive --keepalive-percent 100 &
  loadpid=$!
  sleep "$(awk "BEGIN {print $duration_ms / 2000}")"
  ss -tnpH state established "( sport = :$port )" 2>/dev/null |
    grep -o 'pid=[0-9]*' | sort | uniq -c | awk '{print $1}' | sort -rn | tr '\n' ' ' \
    >"$out/runs/$name.spread.txt" || true
  wait "$loadpid"
  loadpid=""
}

started=$SECONDS
servers=(zygote-real gunicorn uwsgi waitress)
for name in "${servers[@]}"; do
  start "$name"
  echo "peers: $name on 127.0.0.1:$port (pid $spid): $command_line"
  echo "$command_line" >"$out/runs/$name.command.txt"
  "$load" --port "$port" --duration-ms "$warmup_ms" --clients "$clients" \
    --keepalive-percent 0 --allow-failures >/dev/null
  measure_keepalive_with_spread "$name"
  measure "$name" close --keepalive-percent 0
  mix=(--long-every "$long_every" --long-ms "$long_ms" --think-ms "$mixed_think_ms")
  measure "$name" mixed-ka --keepalive-percent 100 "${mix[@]}"
  measure "$name" mixed-close --keepalive-percent 0 "${mix[@]}"
  measure "$name" held-without --keepalive-percent 100
  measure "$name" held-with --keepalive-percent 100 --slow-clients "$slow" \
    --idle-connections "$idle" --hold-setup-ms "$hold_setup_ms"
  stop "$name"
done

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$python" "$here/peers/report.py" write "$out" --commit "$commit" --quick "${quick:-0}" \
  --workers "$workers" --latency-ms "$latency_ms" --long-every "$long_every" --long-ms "$long_ms" \
  --clients "$clients" --duration-ms "$duration_ms" --slow "$slow" --idle "$idle" \
  --mixed-think-ms "$mixed_think_ms" \
  --servers "${servers[@]}"
"$python" "$here/peers/report.py" check "$out/peers.json"
echo "peers: wrote $out/peers.md and $out/peers.json in $((SECONDS - started)) s"
