"""The peers' app: testapp's workload as WSGI, for gunicorn, uWSGI and waitress.

Like testapp with `latency_ms 5` (examples/testapp/testapp.c): every request sleeps 5 ms
(PEER_LATENCY_MS overrides it), a target whose query has ms=N sleeps N ms instead (zygote-load's
--long-every asks for that), and the answer is a short text body, "peer <server> pid <pid>\\n".
Standard library only.
"""

import os
import time
from urllib.parse import parse_qs

LATENCY_S = int(os.environ.get("PEER_LATENCY_MS", "5")) / 1000.0
SERVER = os.environ.get("PEER_NAME", "wsgi")


def sleep_for(query_string):
    values = parse_qs(query_string).get("ms")
    if values and values[0].isdigit():
        return int(values[0]) / 1000.0
    return LATENCY_S


def app(environ, start_response):
    delay = sleep_for(environ.get("QUERY_STRING", ""))
    if delay > 0:
        time.sleep(delay)
    body = ("peer %s pid %d\n" % (SERVER, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = app
