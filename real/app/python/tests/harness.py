"""Runs zygote-real on Python releases for the WSGI tests: 127.0.0.1 only, every wait bounded,
the server in a process group of its own that is killed (by its id) whatever happens."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import weakref

SERVER = os.environ.get("ZYGOTE_REAL", "")
LOAD = os.environ.get("ZYGOTE_LOAD", "")
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
PYTHON = "/usr/bin/python3"


def wait_until(predicate, seconds, step=0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


class Server:
    """One zygote-real serving releases under a scratch directory."""

    def __init__(self, test):
        if not SERVER or not os.access(SERVER, os.X_OK):
            raise RuntimeError("set ZYGOTE_REAL to the zygote-real binary")
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="zygote-py-")
        self.releases = os.path.join(self.dir, "releases")
        os.makedirs(self.releases)
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(self.run_dir, mode=0o700)
        self.log_path = os.path.join(self.dir, "log")
        self.proc = None
        self.port = None
        # What start() runs the server with; tests of socket activation and systemd change them.
        self.bind_args = ["--bind", "127.0.0.1:0"]
        self.prefix = []
        self.popen_extra = {}
        test.addCleanup(self.cleanup)

    def release(self, name, files=None, copy=()):
        """A release directory: files (name -> text) written, fixture apps copied."""
        path = os.path.join(self.releases, name)
        os.makedirs(path, exist_ok=True)
        for f in copy:
            shutil.copy(os.path.join(APPS, f), path)
        for rel, text in (files or {}).items():
            full = os.path.join(path, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as out:
                out.write(text)
        return path

    def point(self, name):
        link = os.path.join(self.dir, "current")
        tmp = link + ".new"
        os.symlink(os.path.join("releases", name), tmp)
        os.replace(tmp, link)

    def start(self, first, app, *options, workers=2, expect_serving=True):
        self.point(first)
        args = [*self.prefix, SERVER, *self.bind_args, "-b", os.path.join(self.dir, "current"),
                "--run-dir", self.run_dir, "-w", str(workers), *options,
                *[a for a in app.split(" ") if a]]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, **self.popen_extra)
        m = wait_until(lambda: re.search(rb"listening on port (\d+)", self.read_log()), 10)
        self.test.assertTrue(m, "the server never said its port:\n" + self.log_text())
        self.port = int(m.group(1))
        if expect_serving:
            loaded = wait_until(lambda: self.proc.poll() is not None or
                                re.search(rb"zygote-loaded", self.read_log()), 20)
            self.test.assertTrue(loaded and self.proc.poll() is None,
                                 "the first release never loaded:\n" + self.log_text())
            self.test.assertTrue(wait_until(lambda: len(self.workers()) == workers, 20),
                                 "workers never started:\n" + self.log_text())
        return self

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def log_text(self):
        return self.read_log().decode("utf-8", "replace")[-6000:]

    def wait_log(self, pattern, seconds):
        return wait_until(lambda: re.search(pattern.encode(), self.read_log()), seconds)

    def deploy(self, name):
        self.point(name)
        os.kill(self.proc.pid, signal.SIGHUP)

    def ctl(self, *args):
        out = subprocess.run([SERVER, "ctl", "--run-dir", self.run_dir, *args],
                             capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def titled(self, pattern):
        """This server's processes whose title matches `pattern`: pid -> the match."""
        found = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.proc.pid:
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except (OSError, ProcessLookupError):
                continue
            m = re.search(pattern, title)
            if m:
                found[int(pid)] = m
        return found

    def processes(self, role):
        """Pids of this server's processes whose title says `role`, with their release."""
        return {pid: m.group(1)
                for pid, m in self.titled(r"zygote-real: %s \[(.*?)\]" % role).items()}

    def workers(self):
        return self.processes("worker")

    def all_on(self, name, count):
        w = self.workers()
        return len(w) == count and all(v.endswith("/releases/" + name) for v in w.values())

    def stop(self):
        """SIGTERM: the master exits 0 and leaves no process behind."""
        os.kill(self.proc.pid, signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.test.assertEqual(code, 0, self.log_text())
        self.test.assertTrue(wait_until(lambda: not self.group_alive(), 5),
                             "processes remain after the stop")

    def group_alive(self):
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def cleanup(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # HTTP, raw: the tests check bytes on the wire, not what a client library makes of them.
    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        return s

    def request(self, raw, sock=None):
        """Sends raw bytes; returns (status, headers dict lowercased, body bytes, sock)."""
        s = sock or self.connect()
        s.sendall(raw)
        return read_response(s, head=raw.startswith(b"HEAD ")) + (s,)

    def get(self, path, headers=()):
        raw = f"GET {path} HTTP/1.1\r\nHost: t\r\n".encode()
        raw += b"".join(h.encode() + b"\r\n" for h in headers) + b"Connection: close\r\n\r\n"
        status, hdrs, body, s = self.request(raw)
        s.close()
        return status, hdrs, body


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        try:
            while True:
                self.fill()
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out


_readers = weakref.WeakKeyDictionary()  # per socket object: a closed one's number is reused


def load_status_page(test, server, port, shot, height=700):
    """The status page in headless Chromium once its data has loaded: its DOM, after checking
    that it lists exactly the server's workers; a screenshot kept as ZYGOTE_ARTEFACTS/shot."""
    url = f"http://127.0.0.1:{port}/"
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--window-size=1100,{height}", "--virtual-time-budget=5000",
              "--user-data-dir=" + os.path.join(server.dir, "chromium")]
    out = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=90)
    dom = out.stdout
    test.assertIn('data-loaded="1"', dom, out.stderr[-2000:])
    workers = re.findall(r'<tr data-role="worker" data-pid="(\d+)">', dom)
    test.assertEqual(sorted(map(int, workers)), sorted(server.workers()))
    artefacts = os.environ.get("ZYGOTE_ARTEFACTS", "")
    if artefacts:
        os.makedirs(artefacts, exist_ok=True)
        path = os.path.join(artefacts, shot)
        subprocess.run(common + ["--screenshot=" + path, url], capture_output=True, timeout=90)
        test.assertTrue(os.path.getsize(path) > 0)
    return dom


def read_response(sock, head=False):
    r = _readers.setdefault(sock, Reader(sock))
    status_line = r.line()
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = r.line()
        if not line:
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    if head or status in (204, 304):
        return status, headers, b""
    if "content-length" in headers:
        return status, headers, r.exactly(int(headers["content-length"]))
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int(r.line().split(b";")[0], 16)
            if size == 0:
                r.line()
                return status, headers, body
            body += r.exactly(size)
            r.exactly(2)
    return status, headers, r.rest()
