#!/usr/bin/env bash
# Runs every benchmark and writes the report: the one documented command for issue 6.
#
#   scripts/bench.sh          full run, about 10 minutes on 2 cores after the build; writes
#                             docs/BENCHMARKS.md and docs/bench/ (raw results *.json, plot data
#                             *.dat and *.tsv, plots *.svg)
#   scripts/bench.sh --quick  every suite at its smoke size (about 90 s) into
#                             build-bench/bench-quick/, docs/ untouched: to try the pipeline
#
# It installs what is missing (scripts/install-deps.sh: Debian packages only), builds build-bench/
# (RelWithDebInfo), then runs, one after the other:
#   bench-fork      fork cost against the parent's memory (1, 64, 256, 1024 MiB): bare fork() vs
#                   the server's LinuxOs::spawn, with and without transparent huge pages (~40 s)
#   bench-ready     time to a worker's first served request: forked from a loaded zygote (plain and
#                   with --huge-pages) vs a cold zygote-real vs a cold process loading the app,
#                   preloading 64..1024 MiB (~20 s)
#   bench-sharing   USS and PSS per worker (zygote, plain and with --huge-pages) vs per solo
#                   process, as requests go by (~10 s)
#   throughput.sh   wrk against zygote-real (hello) and nginx: keep-alive and one connection per
#                   request (~50 s)
#   bench-deploy    three deploys under load: failed requests, p99 against steady state, keep-alive
#                   connections opened again, time to every worker on the new version, peak
#                   workers and total PSS (~40 s)
#   python.sh       Python WSGI apps: zygote-real against gunicorn (sync, gthread, --preload),
#                   uWSGI and waitress: hello throughput, the 5 ms app keep-alive, worker memory,
#                   time to a ready worker, Flask deploys under load against gunicorn's HUP
#   peers.sh        zygote-real against gunicorn sync, uWSGI and waitress under the same zygote-load
#                   runs: keep-alive, one connection per request, a 1-in-20 slow mix, 1,000 slow
#                   and 10,000 idle connections held (~6 minutes; into docs/bench/peers/)
# then bench-report writes the tables (with issue 11's targets against the run's ratios) and
# gnuplot draws the SVG plots from the data.
# Traffic goes to 127.0.0.1 only; every server a suite starts runs in a process group of its own
# and is killed when the suite ends or is interrupted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=""
[ "${1:-}" = "--quick" ] && quick=1

"$root/scripts/install-deps.sh"
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target bench-fork bench-ready bench-sharing bench-deploy bench-report \
  bench-solo zygote-real zygote-python zygote-load hello testapp churn
bin="$build/bench"

if [ -n "$quick" ]; then
  out="$build/bench-quick"
  md="$out/BENCHMARKS.md"
  smoke=(--smoke)
  peers_quick=(--quick)
else
  out="$root/docs/bench"
  md="$root/docs/BENCHMARKS.md"
  smoke=()
  peers_quick=()
fi
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.dat "$out"/*.tsv "$out"/*.svg "$out"/*.gp
rm -rf "$out/peers"

# step NAME COMMAND...: runs one suite in the background so that a signal to this script reaches it
# (the suites kill their servers' process groups on SIGTERM and SIGINT).
child=""
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 130' INT TERM
step() {
  local name=$1 started=$SECONDS
  shift
  echo "== bench: $name"
  "$@" &
  child=$!
  wait "$child"
  child=""
  echo "== bench: $name took $((SECONDS - started)) s"
}
gbench() {  # gbench NAME BINARY [ARGS...]: Google Benchmark JSON to $out/NAME.json
  local name=$1 binary=$2
  shift 2
  step "$name" "$binary" "${smoke[@]}" --benchmark_out="$out/$name.json" \
    --benchmark_out_format=json "$@"
}

"$bin/bench-report" machine "$out/machine.json"
if [ -n "$quick" ]; then
  gbench fork "$bin/bench-fork"
else
  gbench fork "$bin/bench-fork" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_min_time=0.3
fi
gbench ready "$bin/bench-ready"
gbench sharing "$bin/bench-sharing"
step throughput bash "$root/bench/throughput.sh" "$build/real/zygote-real" \
  "$build/examples/hello/hello.so" "$bin/bench-report" "$out/throughput.json" "${smoke[@]}"
gbench deploy "$bin/bench-deploy" --timeline="$out/deploy-timeline"
step peers bash "$root/bench/peers.sh" "${peers_quick[@]}" --build "$build" --out "$out/peers"
step python bash "$root/bench/python.sh" "${peers_quick[@]}" --build "$build" --out "$out/python"

for f in fork ready sharing deploy; do "$bin/bench-report" check "$out/$f.json"; done
"$bin/bench-report" write "$out" "$md" "$root/bench/NOTES.md"
for plot in fork ready sharing throughput deploy; do
  gnuplot -e "dir='$out'" -e "root='$root'" "$root/bench/plots/$plot.gp"
done
rm -f "$out"/*.gp
echo "bench: wrote $md and $(find "$out" -maxdepth 1 -name '*.svg' | wc -l) plots in $out"
