#!/usr/bin/env bash
# zygote-real serving Python WSGI apps against gunicorn (sync, gthread), uWSGI and waitress, side
# by side in one run on this machine, 127.0.0.1 only, the same apps and clients for all:
#
#   hello      bench/peers/app.py with no sleep (PEER_LATENCY_MS=0), driven by one wrk command
#              (wrk -t2 -c50 -d8s, keep-alive): requests per second
#   ka5        the same app sleeping 5 ms a request, 32 keep-alive clients (zygote-load), 8 s
#   uss        bench/peers/flask_app.py (Flask), each worker's USS and PSS after 10,000 requests
#              (from /proc/PID/smaps_rollup), gunicorn with --preload against zygote-real
#   ready      time to a ready Flask worker forked from the zygote against a cold start
#   deploy     the Flask app deployed three times under load (bench-deploy --flask: 32 clients,
#              half keep-alive, 1 s windows): zygote-real's deploy (SIGHUP) against gunicorn's
#              HUP (sync workers, no --preload, so that HUP loads the new code): failed
#              requests, peak worker processes against the 4 slots, p99 in the rollout windows
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
usable() { [ -x "$1/real/zygote-real" ] && [ -e "$1/real/zygote-python.so" ] && [ -x "$1/real/load/zygote-load" ] && [ -x "$1/bench/bench-deploy" ]; }
if [ -z "$build" ]; then
  for b in "$root/build-bench" "$root/build"; do
    if usable "$b"; then build=$b; break; fi
  done
fi
[ -n "$build" ] && usable "$build" || fail "no build dir with real/zygote-real, real/zygote-python.so," \
  "real/load/zygote-load and bench/bench-deploy: build them (cmake --build --preset ci)"
build=$(cd "$build" && pwd)
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
  record "$("$python" -c 'import json, sys
d = json.load(open(sys.argv[2]))
print(json.dumps({"case": "ka5", "server": sys.argv[1], "rps": round(d["requests_per_second"], 1),
                  "ok": d["ok"], "failed": d["failed"], "p50_ms": d["latency_ms"]["p50"],
                  "p99_ms": d["latency_ms"]["p99"]}))' "$name" "$dir/ka.json")"
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
# Time to a ready Flask worker: forked from zygote-real's zygote (from the master's request to the
# worker's "ready", read from --events) against a cold start of the same app (a new
# /usr/bin/python3 process, from its start to the app built), medians of each. One worker asked
# for at a time (scale 1 -> 2 cycles): each sample is one fork; and, apart, scale-ups of three
# at once (1 -> 4), which the zygote forks one after the other.
ready_cycles=15
[ -n "$quick" ] && ready_cycles=3
rel=$dir/releases/ready && mkdir -p "$rel" "$dir/run" && chmod 700 "$dir/run"
cp "$here/peers/flask_app.py" "$rel/"
ln -sfn "$rel" "$dir/current"
port=$(free_port)
(exec setsid env -i PATH=/usr/bin:/bin HOME="$dir" LANG=C.UTF-8 "$zygote_real" --bind "127.0.0.1:$port" \
  -b "$dir/current" --run-dir "$dir/run" --workers "$workers" --events "$dir/ready.jsonl" flask_app:app) \
  >"$dir/ready.log" 2>&1 </dev/null &
spid=$!
for ((i = 0; i < 200; i++)); do answers "$port" && break; sleep 0.1; done
"$zygote_real" ctl --run-dir "$dir/run" scale 1 >/dev/null
sleep 1
for ((c = 0; c < ready_cycles; c++)); do
  "$zygote_real" ctl --run-dir "$dir/run" scale 2 >/dev/null
  sleep 0.5
  "$zygote_real" ctl --run-dir "$dir/run" scale 1 >/dev/null
  sleep 0.5
done
echo "--- burst" >>"$dir/ready.log"
burst_from=$(wc -l <"$dir/ready.jsonl")
for ((c = 0; c < ready_cycles / 3; c++)); do
  "$zygote_real" ctl --run-dir "$dir/run" scale "$workers" >/dev/null
  sleep 1
  "$zygote_real" ctl --run-dir "$dir/run" scale 1 >/dev/null
  sleep 1
done
stop zygote-real
ready=$("$python" - "$dir/ready.jsonl" "$rel" "$ready_cycles" "$burst_from" <<'PY'
import json, statistics, subprocess, sys, time
single, burst, asked = [], [], {}
for n, line in enumerate(open(sys.argv[1])):
    e = json.loads(line)
    for c in e.get("commands", []):
        if c.startswith("request-worker w"):
            asked[int(c.split()[1][1:])] = e["t"]
    ev = e.get("event", {})
    if ev.get("type") == "worker-ready" and ev["worker"] in asked and ev["worker"] > 4:
        (burst if n >= int(sys.argv[4]) else single).append((e["t"] - asked[ev["worker"]]) / 1e6)
cold = []
code = "import sys; sys.path.insert(0, sys.argv[1]); import flask_app; flask_app.app; print('ready', flush=True); sys.stdin.read()"
for _ in range(max(3, int(sys.argv[3]))):
    start = time.monotonic()
    p = subprocess.Popen(["/usr/bin/python3", "-c", code, sys.argv[2]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert p.stdout.readline() == b"ready\n"
    cold.append((time.monotonic() - start) * 1000)
    p.kill()
    p.wait()
w, b, c = statistics.median(single), statistics.median(burst), statistics.median(cold)
print(json.dumps({"case": "ready", "server": "zygote-real", "forked_ms_median": round(w, 3),
                  "forked_samples": len(single), "burst_ms_median": round(b, 3),
                  "burst_samples": len(burst), "cold_ms_median": round(c, 1),
                  "cold_samples": len(cold), "ratio": round(c / w, 1),
                  "burst_ratio": round(c / b, 1)}))
PY
) || fail "the time-to-ready measurement failed"
record "$ready"

# Deploys under load, the same bench-deploy run for each server (its own scratch directory,
# process group and load).
deploy_args=(--flask="$here/peers/flask_app.py" --zygote-real="$zygote_real")
[ -n "$quick" ] && deploy_args+=(--steady-ms=1500 --deploys=1 --gap-ms=3000 --clients=8)
for name in zygote-real gunicorn; do
  "$build/bench/bench-deploy" "${deploy_args[@]}" --server="$name" --benchmark_format=json \
    --benchmark_out="$dir/deploy-$name.json" >"$dir/deploy-$name.log" 2>&1 \
    || fail "bench-deploy --server=$name failed: $(tail -5 "$dir/deploy-$name.log")"
  record "$("$python" -c 'import json, sys
b = json.load(open(sys.argv[2]))["benchmarks"][0]
if b.get("error_occurred"):
    sys.exit("bench-deploy: " + b.get("error_message", "?"))
keys = ["deploys", "budget", "peak_workers", "steady_requests", "deploy_requests", "deploy_failed",
        "steady_p99_ms", "steady_p99_p90_ms", "rollout_windows", "rollout_p99_ms",
        "rollout_p99_worst_ms", "all_new_ms", "all_new_max_ms", "deploy_reopened"]
row = {"case": "deploy", "server": sys.argv[1]}
row.update({k: round(b[k], 2) for k in keys})
print(json.dumps(row))' "$name" "$dir/deploy-$name.json")"
done

"$python" - "$results" "$out/python.md" "$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["case"], r["server"]): r for r in rows}
out = ["Machine: %s CPUs, %s; every server 4 workers (threads for waitress), 127.0.0.1." % (sys.argv[3], sys.argv[4]), ""]
out += ["| server | hello req/s (wrk -t2 -c50) | zygote-real / it | 5 ms app, 32 keep-alive: req/s | p50 ms | p99 ms | failed |", "|---|---|---|---|---|---|---|"]
z = by[("hello", "zygote-real")]["rps"]
for name in ["zygote-real", "gunicorn-sync", "gunicorn-gthread", "uwsgi", "waitress"]:
    h, k = by[("hello", name)], by[("ka5", name)]
    out.append("| %s | %.0f | %.2f | %.0f | %.1f | %.1f | %d |" % (name, h["rps"], z / h["rps"], k["rps"], k["p50_ms"], k["p99_ms"], k["failed"]))
out += ["", "| server (Flask app, after the requests) | worker USS mean, KiB | workers' PSS total, KiB | zygote / master PSS, KiB |", "|---|---|---|---|"]
for name in ["zygote-real", "gunicorn-preload"]:
    u = by[("uss", name)]
    out.append("| %s | %d | %d | %d |" % (name, u["worker_uss_kb_mean"], u["workers_pss_kb"], u["leader_pss_kb"]))
zu, gu = by[("uss", "zygote-real")], by[("uss", "gunicorn-preload")]
out.append("")
out.append("Worker USS, zygote-real / gunicorn --preload: %.2f; total PSS (workers + the process they fork from): %.2f." % (
    zu["worker_uss_kb_mean"] / gu["worker_uss_kb_mean"],
    (zu["workers_pss_kb"] + zu["leader_pss_kb"]) / (gu["workers_pss_kb"] + gu["leader_pss_kb"])))
r = by[("ready", "zygote-real")]
out.append("")
out.append("Time to a ready Flask worker: forked from the zygote %.2f ms (median of %d, one worker asked for at a time, from the master's request to the worker's ready), a cold start of the same app %.1f ms (median of %d, a new python3 process until the app is built): %.0fx." % (
    r["forked_ms_median"], r["forked_samples"], r["cold_ms_median"], r["cold_samples"], r["ratio"]))
if "burst_ms_median" in r:
    out.append("Three asked for at once (a scale-up from 1 to 4), which the zygote forks one after the other: %.2f ms (median of %d), %.0fx." % (
        r["burst_ms_median"], r["burst_samples"], r["burst_ratio"]))
out += ["", "Flask deploys under load (bench-deploy --flask, 32 clients, half keep-alive, 1 s windows; 4 worker slots):", "",
        "| server | deploys | failed requests (of) | peak worker processes | steady p99 ms | rollout windows' p99 ms (median, worst) | to all new ms (median, max) |",
        "|---|---|---|---|---|---|---|"]
for name in ["zygote-real", "gunicorn"]:
    d = by[("deploy", name)]
    out.append("| %s | %d | %d (%d) | %d | %.1f | %.1f, %.1f | %.0f, %.0f |" % (
        name, d["deploys"], d["deploy_failed"], d["deploy_requests"], d["peak_workers"],
        d["steady_p99_ms"], d["rollout_p99_ms"], d["rollout_p99_worst_ms"], d["all_new_ms"], d["all_new_max_ms"]))
dz, dg = by[("deploy", "zygote-real")], by[("deploy", "gunicorn")]
out.append("")
out.append("Peak worker processes during deploys: zygote-real %d, gunicorn %d, for 4 slots; rollout windows' p99, zygote-real / gunicorn: %.2f." % (
    dz["peak_workers"], dg["peak_workers"], dz["rollout_p99_ms"] / dg["rollout_p99_ms"] if dg["rollout_p99_ms"] else float("nan")))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
echo "python: results in $results and $out/python.md"
