"""WSGI apps over the whole PEP 3333 surface, each wrapped in wsgiref's validator with its warnings
as errors: a request the server gets wrong fails inside the app and answers 500."""
import hashlib
import io
import json
import os
import sys
import urllib.parse
import warnings
from wsgiref.validate import validator

warnings.simplefilter("error")
UNRAISABLE = []  # the validator's "close() was never called" check lands here


def _hook(info):
    UNRAISABLE.append(repr(info.exc_value))


sys.unraisablehook = _hook

ENVIRON_KEYS = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
                "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR",
                "REMOTE_PORT", "wsgi.url_scheme", "wsgi.multithread", "wsgi.multiprocess",
                "wsgi.run_once", "wsgi.input_terminated"]


def reply(start_response, body, ctype="application/json", extra=()):
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body))),
                              *extra])
    return [body]


def env(environ, start_response):
    out = {k: environ.get(k) for k in ENVIRON_KEYS}
    out["http"] = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    out["version"] = list(environ["wsgi.version"])
    errors = environ["wsgi.errors"]
    out["errors_is_stderr"] = getattr(errors, "errors", errors) is sys.stderr  # validator wraps it
    out["pid"] = os.getpid()
    # PATH_INFO holds bytes as latin-1: give them back exactly.
    out["path_bytes"] = list(environ["PATH_INFO"].encode("latin-1"))
    return reply(start_response, json.dumps(out).encode())


def input_methods(environ, start_response):
    inp = environ["wsgi.input"]
    first = inp.read(3)
    line = inp.readline()
    lines = inp.readlines()
    rest = inp.read(100)  # the validator insists on a size
    out = {"first": first.decode(), "line": line.decode(), "lines": [x.decode() for x in lines],
           "rest": rest.decode()}
    return reply(start_response, json.dumps(out).encode())


def input_iter(environ, start_response):
    body = b"".join(iter(environ["wsgi.input"]))
    return reply(start_response, json.dumps({"n": len(body), "sum": sum(body)}).encode())


def digest(environ, start_response):
    """The body read in 64 KiB blocks: its length and SHA-256, what wsgi.input is, and which
    worker read it."""
    inp = environ["wsgi.input"]
    h, n = hashlib.sha256(), 0
    while True:
        block = inp.read(65536)
        if not block:
            break
        h.update(block)
        n += len(block)
    out = {"n": n, "sha256": h.hexdigest(), "content_length": environ.get("CONTENT_LENGTH"),
           "input": type(getattr(inp, "input", inp)).__name__, "pid": os.getpid()}
    return reply(start_response, json.dumps(out).encode())


def write_callable(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"then ")
    return [b"returned"]


def stream(environ, start_response):
    n = int(environ["QUERY_STRING"] or "3")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return (b"block %d\n" % i for i in range(n))


def endless(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def forever():
        i = 0
        while True:
            yield b"%08d" % i * 8192
            i += 1
    return forever()


def exc_info_before_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("changed my mind")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def fail_before(environ, start_response):
    raise RuntimeError("failed before the response")


def fail_during(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def blocks():
        yield b"first part\n"
        raise RuntimeError("failed during the response")
    return blocks()


def head(environ, start_response):
    body = b"x" * 1234
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def short_length(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
    return iter([b"only ", b"ten b"])  # fewer bytes than declared


def long_length(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return iter([b"abc", b"defghij"])  # more bytes than declared


def file_wrapper(environ, start_response):
    f = open(__file__, "rb")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](f, 4096)


class CountingFile(io.FileIO):
    """A real file that counts the reads made through it, and leaves the count beside itself
    when closed: zero when the server sent it with sendfile."""

    def __init__(self, path):
        super().__init__(path, "rb")
        self.path, self.reads = path, 0

    def read(self, size=-1):
        self.reads += 1
        return super().read(size)

    def readinto(self, b):
        self.reads += 1
        return super().readinto(b)

    def close(self):
        if not self.closed:
            with open(self.path + ".reads", "w") as f:
                f.write(str(self.reads))
        super().close()


def sendfile(environ, start_response):
    """?path=P&offset=N&length=L&bytesio=1: P from byte N (its position when handed over), with a
    Content-Length of L if given; from memory (no descriptor) with bytesio."""
    q = dict(urllib.parse.parse_qsl(environ["QUERY_STRING"]))
    f = CountingFile(q["path"])
    f.seek(int(q.get("offset", 0)))
    if q.get("bytesio"):
        data = f.read()
        f.close()
        f = io.BytesIO(data)
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in q:
        headers.append(("Content-Length", q["length"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f)


def keywords(environ, start_response):
    """start_response called with keywords, as PEP 3333 allows."""
    body = b"by keyword"
    start_response(status="200 OK", exc_info=None,
                   response_headers=[("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]


def header_text(environ, start_response):
    """?v=latin1: a header value with a code point above ASCII that fits latin-1 (sent as its
    byte); ?v=wide: one that does not (the app's error: a 500)."""
    value = {"latin1": "caf\u00e9", "wide": "\u20ac"}[environ["QUERY_STRING"].split("=")[1]]
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Text", value),
                              ("Content-Length", "2")])
    return [b"ok"]


def unraisable(environ, start_response):
    return reply(start_response, json.dumps(UNRAISABLE).encode())


ROUTES = {"/env": env, "/input": input_methods, "/input-iter": input_iter, "/digest": digest,
          "/write": write_callable, "/stream": stream, "/endless": endless,
          "/exc-info": exc_info_before_body, "/fail-before": fail_before,
          "/fail-during": fail_during, "/head": head, "/file": file_wrapper,
          "/sendfile": sendfile,
          "/short-length": short_length, "/long-length": long_length,
          "/unraisable": unraisable, "/keywords": keywords, "/header-text": header_text}


def dispatch(environ, start_response):
    route = ROUTES.get(environ["PATH_INFO"], env)
    if route in (fail_before, fail_during, endless, unraisable, short_length, long_length,
                 keywords, header_text):
        return route(environ, start_response)  # outside the validator: it would object first
    if route is sendfile:  # the validator would hide the file wrapper (it wraps the iterable)
        return route(environ, start_response)
    return validator(route)(environ, start_response)


application = dispatch


def get_application(*args):
    """The seeds' form: `surface ARGS...`."""
    def app(environ, start_response):
        return reply(start_response, json.dumps({"args": list(args)}).encode())
    return app


def create_app(greeting, times=1):
    """gunicorn's factory form: `surface:create_app("hi", times=2)`."""
    def app(environ, start_response):
        return reply(start_response, (greeting * times).encode(), "text/plain")
    return app
