# Shared by the benchmark scripts that start servers of their own (source it after setting
# `python`): a scratch directory ($dir) removed on exit, the server's process group ($spid) killed
# on exit whatever happens, and the helpers to find a port and see a server answer.
dir=$(mktemp -d)
spid=""
bench_cleanup() {
  if [ -n "$spid" ]; then kill -KILL -- "-$spid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap bench_cleanup EXIT

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# answers PORT: one GET / on 127.0.0.1:PORT gets a 200 within 2 s.
answers() {
  "$python" - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(12) == b"HTTP/1.1 200" else 1)
PY
}
