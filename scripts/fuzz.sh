#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset: clang, ASan + UBSan, build-fuzz/) and runs each
# for SECONDS (default 60), two at a time, from its seeds and the corpus it kept from earlier runs
# (build-fuzz/fuzz/kept/<target>/). Prints, per target, the executions, their rate, the coverage
# (edges and features) and the corpus size; a crash stops that target, leaves its input in
# build-fuzz/fuzz/crashes/<target>/ and makes the script exit 1. Copy a crash, once fixed, into
# fuzz/regressions/<target>/ so that ctest replays it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      targets: fuzz_http_request fuzz_http_response
#                                              fuzz_control fuzz_scenario fuzz_event_log fuzz_config
#   scripts/fuzz.sh --runs N [TARGET...]       each until N executions instead (the long runs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=0
if [ "${1:-}" = --runs ]; then
  runs=${2:-}
  shift 2 || true
  seconds=0
else
  seconds=${1:-60}
  shift || true
fi
if ! [[ "$seconds" =~ ^[0-9]+$ && "$runs" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS | --runs N] [TARGET...]" >&2
  exit 2
fi
all=(fuzz_http_request fuzz_http_response fuzz_control fuzz_scenario fuzz_event_log fuzz_config)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

declare -A seeds=(
  [fuzz_http_request]="core/http/tests/corpus"
  [fuzz_http_response]="fuzz/seeds/http_response"
  [fuzz_control]="fuzz/seeds/control"
  [fuzz_scenario]="sim/scenarios conform/scenarios"
  [fuzz_event_log]="fuzz/seeds/event_log"
  [fuzz_config]="fuzz/seeds/config docs/zygote.example.toml"
)
for t in "${targets[@]}"; do
  if [ -z "${seeds[$t]+x}" ]; then
    echo "fuzz.sh: unknown target $t (targets: ${all[*]})" >&2
    exit 2
  fi
done

./scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

out=build-fuzz/fuzz
run_one() {
  local t=$1 kept=$out/kept/$1 crashes=$out/crashes/$1 log=$out/$1.log
  mkdir -p "$kept" "$crashes"
  local inputs=()
  for s in ${seeds[$t]}; do
    if [ -d "$s" ]; then inputs+=("$s"); fi
  done
  local single=()
  for s in ${seeds[$t]}; do
    if [ -f "$s" ]; then single+=("$s"); fi
  done
  if [ ${#single[@]} -gt 0 ]; then cp "${single[@]}" "$kept/"; fi
  local status=0 len=()
  # A log replays the supervisor line by line: short inputs keep it fast.
  if [ "$t" = fuzz_event_log ]; then len=(-max_len=4096); fi
  local limit=(-max_total_time="$seconds")
  if [ "$runs" -gt 0 ]; then limit=(-runs="$runs"); fi
  "$out/$t" "${limit[@]}" -rss_limit_mb=2048 -print_final_stats=1 "${len[@]}" \
    -artifact_prefix="$crashes/" "$kept" "${inputs[@]}" >"$log" 2>&1 || status=$?
  local execs rate cov ft corpus
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "$kept" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    printf '%-20s clean  %12s execs %8s/s  cov %6s  ft %7s  corpus %6s\n' \
      "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus"
  else
    printf '%-20s CRASH  after %s execs: %s (log %s)\n' "$t" "${execs:-?}" \
      "$(find "$crashes" -type f | head -1)" "$log"
  fi
  return "$status"
}

failed=0
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge 2 ]; then  # two at a time: the next starts as soon as one ends
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$runs" -gt 0 ]; then each="$runs runs"; else each="$seconds s"; fi
echo "fuzz.sh: ${#targets[@]} targets, $each each, $(date -u +%Y-%m-%d), $(nproc) cores"
exit "$failed"
