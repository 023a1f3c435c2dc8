#!/usr/bin/env bash
# The static checks, run by ctest as `tidy` (so ./scripts/test.sh runs them): formatting,
# clang-tidy on core/, the include direction between the layers, shellcheck on scripts/, and
# function length. Prints one line per check and every finding; exits 1 if any check fails.
#   scripts/tidy.sh [--deep] [BUILD_DIR]
# BUILD_DIR holds compile_commands.json for clang-tidy (default: build); --deep adds clang-tidy's
# static analyzer.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
deep=0
if [ "${1:-}" = --deep ]; then deep=1; shift; fi
build=$(realpath "${1:-build}")
cache=$build/tidy-cache
checks='-clang-analyzer-*'
[ $deep -eq 1 ] && checks=''
max_function_lines=70
long_functions=scripts/long-functions.txt

if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t cxx < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.c')
else  # an exported tree: every source outside the build directories
  mapfile -t cxx < <(find . \( -name 'build*' -o -name '.*' \) -prune -o -type f \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.c' \) -print | sed 's|^\./||' | sort)
fi
[ ${#cxx[@]} -gt 0 ] || { echo "tidy: no sources found" >&2; exit 2; }
failed=()

run() {  # run NAME COMMAND...: one check, its findings, its verdict
  local name=$1 start=$SECONDS out
  shift
  if out=$("$@" 2>&1); then
    echo "tidy: $name: ok ($((SECONDS - start)) s)"
  else
    echo "tidy: $name: FAILED"
    printf '%s\n' "$out" | sed 's/^/  /'
    failed+=("$name")
  fi
}

format() { clang-format --dry-run -Werror "${cxx[@]}"; }

# clang-tidy on core/ (tests aside), with the flags of the build's compile database, two files at
# a time (2 cores). It takes minutes, so a file found clean is remembered, keyed by its contents,
# the project headers it includes, its compile command and the configuration, and checked again
# only when one of them changes. The path-sensitive analyzer (clang-analyzer-*, several times
# slower) runs with --deep only.
tidy_key() {  # tidy_key FILE: what a clean verdict on FILE depends on
  local f=$1 seen=" " todo=("$1") h
  while [ ${#todo[@]} -gt 0 ]; do
    h=${todo[0]}
    todo=("${todo[@]:1}")
    [[ $seen == *" $h "* || ! -f $h ]] && continue
    seen+="$h "
    mapfile -t -O ${#todo[@]} todo < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$h")
  done
  { echo "$deep"; cat .clang-tidy; clang-tidy --version; grep -F "/$f\"" "$build/compile_commands.json"
    for h in $seen; do echo "== $h"; cat "$h"; done; } | sha256sum | cut -d' ' -f1
}

tidy_one() {  # tidy_one FILE: clang-tidy on FILE unless a clean verdict is remembered
  local f=$1 key out
  key=$(tidy_key "$f")
  [ -f "$cache/$key" ] && return 0
  out=$(clang-tidy -p "$build" --quiet --header-filter="^$PWD/core/" --checks="$checks" "$f" 2>/dev/null)
  if echo "$out" | grep -qE '(warning|error):'; then
    echo "$out"
    return 1
  fi
  touch "$cache/$key"
}

tidy_core() {
  [ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: build first"; return 1; }
  mkdir -p "$cache"
  export -f tidy_key tidy_one
  export build cache deep checks
  # shellcheck disable=SC2016  # "$1" is the inner shell's
  printf '%s\n' "${cxx[@]}" | grep -E '^core/.*\.cpp$' | grep -v '/tests/' |
    xargs -P 2 -I{} bash -c 'tidy_one "$1"' _ {}
}

# core/ includes only core/, the standard library, Beast's HTTP parser and nlohmann/json (its
# tests: GoogleTest too); sim/ and real/ never include each other (conform/ may include both).
includes() {
  local bad=0 f line
  for f in "${cxx[@]}"; do
    while IFS= read -r line; do
      case "$f" in
        core/*)
          if [[ $line =~ \"([^\"]+)\" && ${BASH_REMATCH[1]} != core/* ]] ||
             [[ $line =~ \<([^>]+/[^>]+)\> && ! ${BASH_REMATCH[1]} =~ ^(boost/beast/|nlohmann/|gtest/|gmock/) ]]; then
            echo "$f: $line: core/ includes only core/ and the allowed libraries"; bad=1
          fi ;;
        sim/*) [[ $line =~ \"real/ ]] && { echo "$f: $line: sim/ never includes real/"; bad=1; } ;;
        real/*) [[ $line =~ \"sim/ ]] && { echo "$f: $line: real/ never includes sim/"; bad=1; } ;;
      esac
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$f")
  done
  return $bad
}

shell() { shellcheck scripts/*.sh; }

# Every function at most $max_function_lines lines, but those listed in $long_functions, which
# may not grow past their listed length and leave the list once they are short enough.
function_length() {
  local bad=0 file name lines listed
  declare -A allowed=()
  while read -r listed file name; do
    [[ -z $listed || $listed == \#* ]] && continue
    allowed["$file $name"]=$listed
  done < "$long_functions"
  declare -A seen=()
  while IFS='|' read -r file start end name; do
    lines=$((end - start + 1))
    listed=${allowed["$file $name"]:-}
    if [ -n "$listed" ]; then
      seen["$file $name"]=1
      if [ "$lines" -gt "$listed" ]; then
        echo "$file:$start: $name has grown to $lines lines (listed at $listed): shrink it"; bad=1
      elif [ "$lines" -le $max_function_lines ]; then
        echo "$file:$start: $name is $lines lines now: remove it from $long_functions"; bad=1
      fi
    elif [ "$lines" -gt $max_function_lines ]; then
      echo "$file:$start: $name is $lines lines; at most $max_function_lines"; bad=1
    fi
  done < <(ctags -x --languages=C++ --kinds-C++=f --_xformat='%{input}|%{line}|%{end}|%{scope}::%{name}' \
             "${cxx[@]}" 2>/dev/null | sed -E 's/\|::/|/; s/__anon[0-9a-f]+:://g')
  for entry in "${!allowed[@]}"; do
    [ -n "${seen[$entry]:-}" ] || { echo "$long_functions: $entry: no such function"; bad=1; }
  done
  return $bad
}

run format format
run clang-tidy tidy_core
run includes includes
run shellcheck shell
run function-length function_length
if [ ${#failed[@]} -gt 0 ]; then
  echo "tidy: failed: ${failed[*]}"
  exit 1
fi
echo "tidy: all checks passed"
