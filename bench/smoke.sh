#!/usr/bin/env bash
# One benchmark suite once, in smoke mode, for ctest: it must run and produce numbers. No timing
# threshold: bench-report check only asserts that the named counters are present and positive
# (or, for COUNTER>=0, not negative).
#
#   smoke.sh BENCH_REPORT "PREFIX=COUNTER,... ..." BENCH [ARGS...]
set -euo pipefail
report=${1:?usage: smoke.sh BENCH_REPORT SPECS BENCH [ARGS...]}
specs=${2?}
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$@" --smoke --benchmark_out="$dir/out.json" --benchmark_out_format=json
# shellcheck disable=SC2086 # the specs are words on purpose
"$report" check "$dir/out.json" $specs
