"""zygote-real under systemd's protocols, on real processes and 127.0.0.1 only: the notify
messages and their order against a real notify socket (READY, RELOADING with MONOTONIC_USEC,
STATUS, STOPPING, WATCHDOG only while the master's loop turns), socket activation through
systemd-socket-activate and across a restart of the master, and the shipped unit files through
systemd-analyze verify. Every wait is bounded; every server runs in a process group of its own,
killed by its id whatever happens."""
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import SERVER, Server, read_response, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
UNITS = os.path.join(HERE, "..", "..", "units")


class TestappServer(Server):
    def testapp_release(self, name, conf=""):
        path = self.release(name, {"testapp.conf": conf})
        shutil.copy(TESTAPP, path)
        return path


def get(port, path="/"):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(s)


class NotifySocket:
    """A notify socket, as systemd's: each datagram with the time it arrived."""

    def __init__(self, test):
        self.dir = tempfile.mkdtemp(prefix="zygote-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self.collect, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def collect(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode()))

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def index(self, pattern, after=-1):
        """The first message after index `after` that matches, or None."""
        for i, (_, m) in enumerate(self.snapshot()):
            if i > after and re.search(pattern, m, re.M):
                return i
        return None

    def wait(self, pattern, after=-1, seconds=20):
        return wait_until(lambda: self.index(pattern, after), seconds, step=0.05)

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Notify(unittest.TestCase):
    def test_messages_and_their_order(self):
        notify = NotifySocket(self)
        s = TestappServer(self)
        s.testapp_release("A")
        s.testapp_release("B")
        s.testapp_release("C", "load_fail 1\n")
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000")
        env.pop("WATCHDOG_PID", None)
        s.popen_extra = {"env": env}
        s.start("A", "testapp", "--probation-ms", "300")
        ready = notify.wait(r"^READY=1$")
        self.assertIsNotNone(ready, notify.snapshot())
        msg = notify.snapshot()[ready][1]
        self.assertRegex(msg, r"STATUS=serving \S+/A with [12] of 2 workers")
        self.assertIsNone(notify.index(r"^(RELOADING|STOPPING)=1$"))
        self.assertEqual(get(s.port)[0], 200)

        # The watchdog, every half WATCHDOG_USEC. A stopped master sends nothing (any sender
        # would pass that part); the check with teeth is that it starts again after SIGCONT.
        self.assertTrue(wait_until(lambda: len([m for _, m in notify.snapshot()
                                                if m == "WATCHDOG=1"]) >= 3, 5))
        os.kill(s.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        time.sleep(1.0)
        resumed = time.monotonic()
        os.kill(s.proc.pid, signal.SIGCONT)
        during = [t for t, m in notify.snapshot()
                  if m == "WATCHDOG=1" and stopped + 0.3 < t < resumed]
        self.assertEqual(during, [], "a stopped master's loop sent WATCHDOG=1")
        self.assertTrue(wait_until(lambda: any(t > resumed and m == "WATCHDOG=1"
                                               for t, m in notify.snapshot()), 3))

        # A release that fails to load: reloading, the reason, ready again (A serves on).
        mark = len(notify.snapshot()) - 1
        s.deploy("C")
        reloading = notify.wait(r"^RELOADING=1$", mark)
        self.assertIsNotNone(reloading, notify.snapshot()[mark:])
        usec = int(re.search(r"^MONOTONIC_USEC=(\d+)$", notify.snapshot()[reloading][1],
                             re.M).group(1))
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertLess(abs(now - usec), 5_000_000)
        failed = notify.wait(r"^STATUS=load-failed: ", reloading)
        again = notify.wait(r"^READY=1$", reloading)
        self.assertIsNotNone(failed)
        self.assertIsNotNone(again)
        self.assertLess(failed, again)
        self.assertRegex(notify.snapshot()[again][1], r"STATUS=serving \S+/A ")

        # A good release: reloading until it is proven, then ready on B.
        mark = again
        s.deploy("B")
        reloading = notify.wait(r"^RELOADING=1$", mark)
        proven = notify.wait(r"^STATUS=proven: ", reloading)
        again = notify.wait(r"^READY=1$", reloading)
        self.assertIsNotNone(reloading)
        self.assertIsNotNone(proven, notify.snapshot()[mark:])
        self.assertEqual(again, proven + 1, notify.snapshot()[mark:])
        self.assertRegex(notify.snapshot()[again][1], r"STATUS=serving \S+/B with 2 of 2")

        # A graceful stop: STOPPING=1, then nothing says ready again.
        os.kill(s.proc.pid, signal.SIGTERM)
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())
        stopping = notify.index(r"^STOPPING=1$", again)
        self.assertIsNotNone(stopping, notify.snapshot()[again:])
        self.assertIsNone(notify.index(r"^(READY|RELOADING)=1$", stopping))

    def test_without_a_notify_socket_it_serves_and_stops(self):
        s = TestappServer(self)
        s.testapp_release("A")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        s.popen_extra = {"env": env}
        s.start("A", "testapp")
        self.assertEqual(get(s.port)[0], 200)
        s.stop()


def free_listener():
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.bind(("127.0.0.1", 0))
    l.listen(64)
    return l


def as_systemd(sockets, names):
    """Runs the server as systemd would with these listening sockets: descriptors 3, 4, ...,
    LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the server's own pid: sh execs it)."""
    fds = [s.fileno() for s in sockets]

    def place():
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)  # inheritable: dup2 clears FD_CLOEXEC
    prefix = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"]
    env = dict(os.environ, LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
    return prefix, {"env": env, "preexec_fn": place, "close_fds": False}


class SocketActivation(unittest.TestCase):
    def test_with_systemd_socket_activate_and_two_named_sockets(self):
        s = TestappServer(self)
        s.testapp_release("A")
        probe = [free_listener(), free_listener()]
        app_port, status_port = (p.getsockname()[1] for p in probe)
        for p in probe:
            p.close()
        s.bind_args = []
        s.prefix = ["systemd-socket-activate", "-l", f"127.0.0.1:{app_port}", "-l",
                    f"127.0.0.1:{status_port}", "--fdname=http:status"]
        s.popen_extra = {"env": dict(os.environ)}
        # It starts the server at the first connection; the harness learns the port from the log.
        self.start_on_first_connection(s, app_port)
        self.assertEqual(s.port, app_port)
        status, _, body = get(app_port)
        self.assertEqual(status, 200, body)
        self.assertTrue(wait_until(lambda: get(status_port, "/readyz")[0] == 200, 10))
        s.stop()

    def start_on_first_connection(self, s, app_port):
        first = {}

        def knock():
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    first["reply"] = get(app_port)
                    return
                except OSError:
                    time.sleep(0.05)
        t = threading.Thread(target=knock)
        t.start()
        s.start("A", "testapp")
        t.join(15)
        self.assertEqual(first.get("reply", (0,))[0], 200, s.log_text())

    def test_the_socket_outlives_the_master(self):
        l = free_listener()
        port = l.getsockname()[1]
        s = TestappServer(self)
        s.testapp_release("A")
        s.bind_args = []
        s.prefix, s.popen_extra = as_systemd([l], ["http"])
        s.start("A", "testapp")
        self.assertEqual(s.port, port)
        first = get(port)[2]
        # The master dies; its front and workers follow it. The socket is ours, as systemd's.
        os.killpg(s.proc.pid, signal.SIGKILL)
        s.proc.wait(timeout=10)
        self.assertTrue(wait_until(lambda: not s.group_alive(), 10))
        waiting = socket.create_connection(("127.0.0.1", port), timeout=20)
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        s.log.close()
        s.start("A", "testapp")  # the restarted master, on the same socket
        status, _, body = read_response(waiting)
        waiting.close()
        self.assertEqual(status, 200)
        self.assertNotEqual(body.split()[-1], first.split()[-1], "a worker of the first master")
        s.stop()
        l.close()

    def test_sockets_it_cannot_serve_are_refused(self):
        cases = [
            ([free_listener(), free_listener()], ["http", "other"],
             "more than one socket for the app"),
            ([socket.socket(socket.AF_INET, socket.SOCK_DGRAM)], ["http"],
             "not a listening stream socket"),
        ]
        for sockets, names, why in cases:
            s = TestappServer(self)
            s.testapp_release("A")
            s.point("A")
            prefix, extra = as_systemd(sockets, names)
            out = subprocess.run([*prefix, SERVER, "-b", os.path.join(s.dir, "current"),
                                  "--run-dir", s.run_dir, "testapp"], capture_output=True,
                                 text=True, timeout=30, **extra)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn(why, out.stderr)
            for sock in sockets:
                sock.close()
        # -p with a socket from systemd: one or the other.
        l = free_listener()
        prefix, extra = as_systemd([l], ["http"])
        out = subprocess.run([*prefix, SERVER, "-p", "0", "-b", "/nonexistent", "testapp"],
                             capture_output=True, text=True, timeout=30, **extra)
        self.assertEqual(out.returncode, 2)
        self.assertIn("the listening socket comes from systemd", out.stderr)
        l.close()


class Units(unittest.TestCase):
    def verify(self, edit=None):
        d = tempfile.mkdtemp(prefix="zygote-units-")
        self.addCleanup(shutil.rmtree, d, True)
        for f in os.listdir(UNITS):
            with open(os.path.join(UNITS, f)) as src:
                text = src.read().replace("/usr/local/bin/zygote-real", SERVER)
            if edit:
                text = edit(f, text)
            with open(os.path.join(d, f), "w") as out:
                out.write(text)
        units = sorted(os.path.join(d, f) for f in os.listdir(d))
        return subprocess.run(["systemd-analyze", "verify", *units], capture_output=True,
                              text=True, timeout=60)

    def test_the_shipped_units_verify_cleanly(self):
        self.assertEqual(sorted(os.listdir(UNITS)),
                         ["zygote-status.socket", "zygote.service", "zygote.socket"])
        out = self.verify()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout + out.stderr, "")

    def test_the_check_catches_a_broken_unit(self):
        out = self.verify(lambda f, t: t.replace("KillMode=mixed", "KillMode=mixd"))
        self.assertIn("Failed to parse kill mode specification, ignoring: mixd",
                      out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
