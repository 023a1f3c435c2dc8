"""The bundled Python WSGI example: scripts/run.sh serves it as `hello:application`.

Everything at module level runs once, in the release's zygote; every worker forked from it shares
the result. Per-worker resources (database connections, sockets) are opened after the fork."""
import os

RELEASE = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
WORKER = {}


def _after_fork():
    # Runs first in every worker: the place to open what must not be shared between processes.
    WORKER["pid"] = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


def application(environ, start_response):
    body = f"Hello from {RELEASE} (Python, worker {WORKER.get('pid')})\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
