#!/usr/bin/env bash
# Fails if anything under the given core/ directory (tests excepted) reaches an OS facility, a
# thread, a clock, randomness or Boost.Asio/Context, or iterates an unordered container: core/
# makes decisions, and every input to a decision must arrive as an event.
set -u
dir=${1:?usage: check-core-purity.sh CORE_DIR}
[ -d "$dir" ] || { echo "no such directory: $dir" >&2; exit 2; }

headers='unistd\.h|sys/[a-z_/]+\.h|signal\.h|csignal|fcntl\.h|poll\.h|pthread\.h|dlfcn\.h|netinet/[a-z_]+\.h|arpa/[a-z_]+\.h|time\.h|ctime|thread|mutex|shared_mutex|condition_variable|future|atomic|semaphore|stop_token|random|filesystem|fstream|iostream|cstdio|stdio\.h|cstdlib|stdlib\.h|boost/asio[^>]*|boost/context[^>]*|boost/thread[^>]*|boost/random[^>]*|boost/filesystem[^>]*'
calls='(steady_clock|system_clock|high_resolution_clock|utc_clock|file_clock)::now|clock_gettime|gettimeofday|[^_a-zA-Z]time\(|[^_a-zA-Z]s?rand\(|random_device|getenv|unordered_(map|set|multimap|multiset)'

files=$(find "$dir" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) -not -path '*/tests/*' | sort)
[ -n "$files" ] || { echo "no sources under $dir" >&2; exit 2; }

found=0
# The one exception: core/assert.cpp writes a failed assertion to stderr and aborts.
allowed='(^|/)assert\.cpp:[0-9]+:#include <(cstdio|cstdlib)>$'
# shellcheck disable=SC2086
if hits=$(grep -nE "#[[:space:]]*include[[:space:]]*[<\"]($headers)[>\"]" $files | grep -vE "$allowed"); then
  echo "core/ must not include OS, thread, clock or random headers:"; echo "$hits"; found=1
fi
# shellcheck disable=SC2086
if hits=$(grep -nE "$calls" $files | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'); then
  echo "core/ must not read a clock, draw random numbers, read the environment or use unordered containers:"
  echo "$hits"; found=1
fi
if [ $found -eq 0 ]; then
  echo "core purity: $(echo "$files" | wc -l) files clean"
fi
exit $found
