# Shared by the end-to-end tests on real processes. Source it after `set -euo pipefail`; it makes
# a scratch directory ($dir) removed on exit, starts zygote-real in a process group of its own
# (killed on exit, whatever happens), and checks what every test checks. 127.0.0.1 only; every
# wait is bounded.

dir=$(mktemp -d)
pgid=""
pid=""
port=""
_zr_cleanup() {
  if [ -n "$pgid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap _zr_cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "--- server log (tail)"
  tail -40 "$dir/log" 2>/dev/null || true
  exit 1
}

# release NAME SHARED_OBJECT [CONF]: a release directory holding the app (and testapp.conf).
release() {
  mkdir -p "$dir/releases/$1"
  cp "$2" "$dir/releases/$1/"
  if [ -n "${3:-}" ]; then printf '%b' "$3" >"$dir/releases/$1/testapp.conf"; fi
}

# deploy NAME: repoint the app symlink atomically, then SIGHUP the master.
deploy() {
  ln -s "releases/$1" "$dir/current.new"
  mv -T "$dir/current.new" "$dir/current"
  kill -HUP "$pid"
}

# wait_for_log PATTERN SECONDS
wait_for_log() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    grep -q "$1" "$dir/log" && return 0
    sleep 0.1
  done
  return 1
}

# start_server ZYGOTE_REAL FIRST_RELEASE [zygote-real options and APP...]: sets pid, pgid, port.
start_server() {
  local server=$1 first=$2
  shift 2
  mkdir -p -m 700 "$dir/run"
  ln -sfn "releases/$first" "$dir/current"
  setsid "$server" --bind 127.0.0.1:0 -b "$dir/current" --run-dir "$dir/run" "$@" 2>"$dir/log" &
  pid=$!
  pgid=$pid
  wait_for_log "listening on port" 10 || fail "the server never said which port it listens on"
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$dir/log" | head -1)
}

# all_on RELEASE COUNT: exactly COUNT workers exist and every one runs RELEASE.
all_on() {
  local total=0 good=0 cmd p
  for p in $(pgrep -g "$pgid" -f 'zygote-real: worker'); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    total=$((total + 1))
    case "$cmd" in *"/releases/$1]"*) good=$((good + 1)) ;; esac
  done
  [ "$total" -eq "$2" ] && [ "$good" -eq "$total" ]
}

# eventually_all_on RELEASE COUNT SECONDS
eventually_all_on() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    all_on "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}

# stop_server: SIGTERM; the master must exit 0 within 30 s and leave no process behind.
stop_server() {
  local i code
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "the master did not exit after SIGTERM"
  wait "$pid" && code=0 || code=$?
  [ "$code" -eq 0 ] || fail "the master exited with $code"
  if pgrep -g "$pgid" >/dev/null; then fail "processes remain: $(pgrep -g "$pgid" | tr '\n' ' ')"; fi
  pgid=""
}
