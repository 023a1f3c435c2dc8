"""--access-log on real processes, 127.0.0.1 only: one line per request (JSON lines or the
combined format) with what the client saw, SIGUSR1 reopening the file after logrotate moved it,
a log that cannot be written (/dev/full) never stopping the serving, and bad options refused.
Every wait is bounded; every server runs in a process group of its own, killed by its id."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import SERVER, Server, read_response, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class AccessLog(unittest.TestCase):
    def server(self, *options, conf="", workers=2):
        s = Server(self)
        shutil.copy(TESTAPP, s.release("A", {"testapp.conf": conf}))
        s.start("A", "testapp", *options, workers=workers)
        return s

    def send(self, s, raw):
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(raw)
            return read_response(c, head=raw.startswith(b"HEAD "))

    def test_json_lines_say_what_the_client_saw(self):
        log = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"zygote-access-{os.getpid()}.log")
        self.addCleanup(lambda: os.path.exists(log) and os.unlink(log))
        s = self.server("--access-log", log, conf="error_on_request 3\n")
        seen = []
        for i in range(8):
            raw = (f"GET /item/{i}?q=\"x\" HTTP/1.1\r\nHost: t\r\nUser-Agent: probe/{i} \"q\"\r\n"
                   f"Referer: http://ref/{i}\r\nConnection: close\r\n\r\n").encode()
            status, _, body = self.send(s, raw)
            seen.append((f"/item/{i}?q=\"x\"", status, len(body), f"probe/{i} \"q\""))
        status, _, _ = self.send(s, b"HEAD /h HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        seen.append(("/h", status, 0, "-"))
        got = wait_until(lambda: len(lines(log)) == len(seen) and lines(log), 10)
        self.assertTrue(got, lines(log))
        # Each worker writes its line after its answer, so two workers' lines may come in either
        # order: matched by target.
        entries = sorted((json.loads(l) for l in got), key=lambda e: e["target"])
        seen.sort(key=lambda x: x[0])
        workers = set(s.workers())
        for e, (target, status, size, ua) in zip(entries, seen):
            self.assertEqual((e["target"], e["status"], e["bytes"], e["user_agent"]),
                             (target, status, size, ua), e)
            self.assertEqual(e["remote"], "127.0.0.1")
            self.assertIn(e["worker"], workers)
            self.assertTrue(e["version"].endswith("/releases/A"))
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertGreaterEqual(e["duration_ms"], 0)
        self.assertIn(500, [e["status"] for e in entries])
        self.assertEqual([e["method"] for e in entries if e["target"] == "/h"], ["HEAD"])

        # logrotate: move the file, SIGUSR1 the master; new lines go to a new file.
        rotated = log + ".1"
        os.replace(log, rotated)
        self.addCleanup(lambda: os.path.exists(rotated) and os.unlink(rotated))
        os.kill(s.proc.pid, signal.SIGUSR1)

        def reopened():
            self.assertIn(s.get("/after")[0], (200, 500))
            return lines(log)
        self.assertTrue(wait_until(reopened, 10, step=0.2), s.log_text())
        # A worker that had not taken its SIGUSR1 yet wrote to the moved file, as logrotate
        # expects; once every worker has reopened, nothing more goes there.
        moved = lines(rotated)
        self.assertTrue(all('"target":"/after"' in l for l in moved[len(seen):]), moved)
        self.assertTrue(wait_until(lambda: len(s.workers()) == 2, 5))
        before = len(lines(log))
        for _ in range(6):
            self.assertIn(s.get("/late")[0], (200, 500))  # error_on_request 3
        self.assertTrue(wait_until(lambda: len(lines(log)) == before + 6, 10), lines(log))
        self.assertEqual(len(lines(rotated)), len(moved), "a line after the reopening went there")
        s.stop()

    def test_combined_format(self):
        log = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"zygote-combined-{os.getpid()}.log")
        self.addCleanup(lambda: os.path.exists(log) and os.unlink(log))
        s = self.server("--access-log", log, "--access-log-format", "combined")
        status, _, body = self.send(s, b"GET /c?a=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: ua \"x\"\x80"
                                       b"\r\nConnection: close\r\n\r\n")
        self.assertEqual(status, 200)
        got = wait_until(lambda: lines(log), 10)
        self.assertRegex(got[0], r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                                 r'"GET /c\?a=1 HTTP/1\.1" 200 %d "-" "ua \\"x\\"\\x80"$' % len(body))

    def test_a_log_that_cannot_be_written_never_stops_serving(self):
        s = self.server("--access-log", "/dev/full", "--status-bind", "127.0.0.1:0")
        m = s.wait_log(r"status on port (\d+)", 10)
        for _ in range(6):
            self.assertEqual(s.get("/")[0], 200)

        def dropped():
            with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as c:
                c.sendall(b"GET /status.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                return json.loads(read_response(c)[2])["requests"]["log_lines_dropped"] == 6
        self.assertTrue(wait_until(dropped, 10, step=0.2), s.log_text())
        log = s.log_text()
        self.assertLessEqual(log.count("access log: cannot write"), 2, log)  # once per worker
        self.assertTrue(s.wait_log("access log: 6 lines could not be written", 5), log)
        s.stop()

    def test_bad_options_are_refused(self):
        s = Server(self)
        shutil.copy(TESTAPP, s.release("A", {"testapp.conf": ""}))
        s.point("A")
        for options, why in [(["--access-log", "/nonexistent/dir/log"], "No such file"),
                             (["--access-log", "-", "--access-log-format", "apache"],
                              "json or combined")]:
            out = subprocess.run([SERVER, "-p", "0", "-b", os.path.join(s.dir, "current"),
                                  "--run-dir", s.run_dir, *options, "testapp"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn(why, out.stderr)


if __name__ == "__main__":
    unittest.main()
