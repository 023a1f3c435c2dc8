"""The status port (--status-bind) on real processes, 127.0.0.1 only: health and readiness, the
JSON against its documented fields, the metrics through promtool, the page in headless Chromium,
hostile clients, and /readyz during a graceful stop. Every wait is bounded; every server is in a
process group of its own, killed by its id whatever happens."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import (SERVER as SERVER_BIN, Server, load_status_page,  # noqa: E402
                     read_response, wait_until)

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
DOC = os.path.join(HERE, "..", "..", "..", "docs", "OPERATIONS.md")


class StatusServer(Server):
    def testapp_release(self, name, conf=""):
        path = self.release(name, {"testapp.conf": conf})
        shutil.copy(TESTAPP, path)
        return path

    def start_with_status(self, first, *options, workers=2):
        self.start(first, "testapp", "--status-bind", "127.0.0.1:0", *options, workers=workers)
        m = self.wait_log(r"status on port (\d+)", 10)
        self.test.assertTrue(m, "the server never said its status port:\n" + self.log_text())
        self.status_port = int(m.group(1))
        return self

    def status(self, raw):
        s = socket.create_connection(("127.0.0.1", self.status_port), timeout=10)
        try:
            s.sendall(raw)
            status, headers, body = read_response(s, head=raw.startswith(b"HEAD "))
            return status, headers, body
        finally:
            s.close()

    def status_get(self, path):
        return self.status(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())

    def json(self):
        status, headers, body = self.status_get("/status.json")
        self.test.assertEqual(status, 200, body)
        self.test.assertEqual(headers["content-type"], "application/json")
        return json.loads(body)

    def metrics(self):
        status, headers, body = self.status_get("/metrics")
        self.test.assertEqual(status, 200, body)
        self.test.assertIn("version=0.0.4", headers["content-type"])
        return body.decode()


def metric(text, name, labels=""):
    """The value of one sample, e.g. metric(t, "zygote_requests_total", 'class="2xx"')."""
    key = name + ("{" + labels + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return None


def documented_fields():
    """The field paths the docs' status.json table names: | `a.b[].c` | ... |"""
    fields = set()
    with open(DOC) as f:
        in_table = False
        for line in f:
            if line.startswith("<!-- status.json fields -->"):
                in_table = True
            elif line.startswith("<!-- end status.json fields -->"):
                in_table = False
            elif in_table:
                m = re.match(r"\| `([^`]+)` \|", line)
                if m:
                    fields.add(m.group(1))
    return fields


def field_paths(value, prefix=""):
    """Every key path of a JSON value; array elements as [] and maps of counters as their keys."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            path = prefix + "." + k if prefix else k
            out.add(path)
            out |= field_paths(v, path)
    elif isinstance(value, list):
        for v in value:
            out |= field_paths(v, prefix + "[]")
    return out


class StatusPort(unittest.TestCase):
    """One server through a failed deploy and a good one; the checks go in order."""

    @classmethod
    def setUpClass(cls):
        if not TESTAPP:
            raise RuntimeError("set ZYGOTE_TESTAPP to testapp.so")

    def setUp(self):
        self.s = StatusServer(self)
        # Each worker of A answers its 3rd request 500 (testapp error_on_request).
        self.s.testapp_release("A", "error_on_request 3\n")
        self.s.testapp_release("B")
        self.s.testapp_release("C", "load_fail 1\n")
        self.s.start_with_status("A", "--probation-ms", "500")

    def app_get(self, path="/"):
        try:
            return self.s.get(path)[0]
        except OSError:
            return 0

    def test_status_port(self):
        self.check_health_and_ready()
        self.check_requests_counted()
        self.check_promtool()
        self.check_hostile_clients()
        self.check_deploys()
        self.check_json_documented()  # now with a failure and a timeline in it
        self.check_page()

    def check_health_and_ready(self):
        status, _, body = self.s.status_get("/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertTrue(wait_until(lambda: self.s.status_get("/readyz")[0] == 200, 10),
                        self.s.log_text())
        status, headers, body = self.s.status(b"HEAD /readyz HTTP/1.1\r\nHost: t\r\n"
                                              b"Connection: close\r\n\r\n")
        self.assertEqual((status, body, headers["content-length"]), (200, b"", "6"))

    def check_requests_counted(self):
        seen = {}
        for _ in range(12):
            code = self.app_get()
            seen[code] = seen.get(code, 0) + 1
        self.assertEqual(sum(seen.get(c, 0) for c in (200, 500)), 12, seen)
        self.assertGreaterEqual(seen.get(500, 0), 1, seen)  # each worker's 3rd request

        def agrees():
            j = self.s.json()
            return j["requests"]["count"] == 12 and j
        j = wait_until(agrees, 10, step=0.2)
        self.assertTrue(j, self.s.json()["requests"])
        self.assertEqual(j["requests"]["by_class"]["2xx"], seen.get(200, 0))
        self.assertEqual(j["requests"]["by_class"]["5xx"], seen.get(500, 0))
        self.assertEqual(sum(p.get("served", 0) for p in j["processes"]), 12)
        buckets = [b["count"] for b in j["requests"]["duration_buckets"]]
        self.assertEqual(buckets, sorted(buckets))  # cumulative
        self.assertEqual(buckets[-1], 12)  # every request took less than 10 s
        t = self.s.metrics()
        self.assertEqual(metric(t, "zygote_requests_total", 'class="2xx"'), seen.get(200, 0))
        self.assertEqual(metric(t, "zygote_requests_total", 'class="5xx"'), seen.get(500, 0))
        self.assertEqual(metric(t, "zygote_request_duration_seconds_count"), 12)
        self.assertEqual(metric(t, "zygote_request_duration_seconds_bucket", 'le="+Inf"'), 12)
        self.assertEqual(metric(t, "zygote_ready"), 1)
        self.assertEqual(metric(t, "zygote_budget_slots"), 2)
        # Memory of every process of this server, from smaps_rollup: PSS and USS below RSS.
        for p in j["processes"]:
            if p["state"] in ("loaded", "ready", "busy"):
                m = p["memory"]
                self.assertTrue(m and 0 < m["uss"] <= m["pss"] <= m["rss"], p)

    def check_json_documented(self):
        got = field_paths(self.s.json())
        documented = documented_fields()
        self.assertTrue(documented, "no status.json table in " + DOC)
        self.assertEqual(sorted(got - documented), [], "fields served but not documented")
        self.assertEqual(sorted(documented - got), [], "fields documented but not served")

    def check_promtool(self):
        t = self.s.metrics()
        out = subprocess.run(["promtool", "check", "metrics"], input=t, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout + out.stderr, "", "promtool has remarks")

    def check_hostile_clients(self):
        before = self.s.json()
        pids = sorted(p["pid"] for p in before["processes"])
        cases = [
            (b"\x00\x01\x02 garbage\r\n\r\n", 400),
            (b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405),
            (b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n", 405),
            (b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404),
            (b"GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n", 404),
            (b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 413),
            (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 10000 + b"\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Length: 3\r\n\r\n", 400),
        ]
        for raw, want in cases:
            status, _, body = self.s.status(raw)
            self.assertEqual(status, want, (raw[:40], body))
        # More clients than it serves at once: the extra ones are told 503, none is waited on.
        held = [socket.create_connection(("127.0.0.1", self.s.status_port), timeout=10)
                for _ in range(40)]
        try:
            refused = 0
            for c in held[32:]:
                status, _, _ = read_response(c)
                refused += status == 503
            self.assertEqual(refused, 8)
            self.assertEqual(self.s.status_get("/healthz")[0], 503)  # still full
        finally:
            for c in held:
                c.close()
        self.assertTrue(wait_until(lambda: self.s.status_get("/healthz")[0] == 200, 5))
        # Keep-alive: three requests on one connection, answered in order.
        s = socket.create_connection(("127.0.0.1", self.s.status_port), timeout=10)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 2 +
                      b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
            bodies = [read_response(s)[2] for _ in range(3)]
            self.assertEqual(bodies, [b"ok\n", b"ok\n", b"ready\n"])
        finally:
            s.close()
        after = self.s.json()
        self.assertEqual(sorted(p["pid"] for p in after["processes"]), pids, "nothing changed")
        # The app still serves (a worker that has not had its 3rd request yet answers it 500).
        self.assertIn(200, [self.app_get() for _ in range(3)])

    def check_deploys(self):
        self.s.deploy("C")  # fails to load: A keeps serving
        self.assertTrue(wait_until(lambda: self.s.json()["deploys"]["failed"] == 1, 20),
                        self.s.log_text())
        self.s.deploy("B")
        proven = wait_until(lambda: (lambda j: j["serving"].endswith("/B") and
                                     j["serving_proven"] and j)(self.s.json()), 30, step=0.2)
        self.assertTrue(proven, self.s.log_text())
        self.assertEqual(proven["deploys"], {"started": 2, "failed": 1, "proven": 1,
                                             "rolled_back": 0})
        self.assertEqual(proven["worker_exits"]["deploy"], 2)
        steps = [(m["what"], os.path.basename(m["version"])) for m in proven["timeline"]]
        for step in [("start", "A"), ("loaded", "A"), ("deploy", "C"), ("load-failed", "C"),
                     ("deploy", "B"), ("loaded", "B"), ("rollout", "B"), ("proven", "B"),
                     ("stopped", "A"), ("stopped", "C")]:
            self.assertIn(step, steps)
        self.assertIn("failed to load", proven["failures"][-1]["reason"])
        t = self.s.metrics()
        self.assertEqual(metric(t, "zygote_deploys_total", 'outcome="started"'), 2)
        self.assertEqual(metric(t, "zygote_deploys_total", 'outcome="failed"'), 1)
        self.assertEqual(metric(t, "zygote_worker_exits_total", 'cause="deploy"'), 2)

    def check_page(self):
        dom = load_status_page(self, self.s, self.s.status_port, "status-page.png")
        self.assertRegex(dom, r'<span id="ready" class="badge ok">ready</span>')
        self.assertRegex(dom, r'<code id="serving">[^<]*/B \(proven\)</code>')
        lanes = re.findall(r'<g class="lane" data-version="[^"]*/([ABC])">', dom)
        self.assertEqual(sorted(lanes), ["A", "B", "C"])
        self.assertIn("class=\"mark proven\"", dom)
        self.assertIn("failed to load", dom)


class Retirements(unittest.TestCase):
    def test_workers_over_their_memory_limit_retire_and_are_counted(self):
        s = StatusServer(self)
        s.testapp_release("A", "preload_mib 48\n")  # touched by the zygote: in every worker's RSS
        s.start_with_status("A", "--max-rss-mib", "32", workers=1)
        for _ in range(3):
            self.assertTrue(wait_until(lambda: s.get("/")[0] == 200, 10))
        retired = wait_until(lambda: s.json()["worker_exits"]["retired"] >= 2, 15, step=0.2)
        self.assertTrue(retired, s.log_text())
        self.assertGreaterEqual(metric(s.metrics(), "zygote_worker_exits_total",
                                       'cause="retired"'), 2)
        self.assertEqual(s.json()["worker_exits"]["crash"], 0)

    def test_jitter_needs_a_request_limit(self):
        s = StatusServer(self)
        s.testapp_release("A")
        s.point("A")
        out = subprocess.run([SERVER_BIN, "-p", "0", "-b", os.path.join(s.dir, "current"),
                              "--run-dir", s.run_dir, "--max-requests-jitter", "5", "testapp"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--max-requests-jitter needs --max-requests", out.stderr)


class ReadyDuringStop(unittest.TestCase):
    def test_readyz_fails_during_a_graceful_stop(self):
        s = StatusServer(self)
        s.testapp_release("A")
        s.start_with_status("A", "--graceful-timeout-ms", "20000", workers=1)
        self.assertTrue(wait_until(lambda: s.status_get("/readyz")[0] == 200, 10))
        slow = {}
        t = threading.Thread(target=lambda: slow.update(code=s.get("/?ms=3000")[0]))
        t.start()
        self.assertTrue(wait_until(lambda: any(p.get("request_for_s") for p in
                                               s.json()["processes"]), 5),
                        "the slow request never showed on the status")
        os.kill(s.proc.pid, signal.SIGTERM)
        status, _, body = s.status_get("/readyz")
        self.assertEqual((status, body), (503, b"not ready\n"))
        self.assertTrue(s.json()["shutting_down"])
        self.assertEqual(s.status_get("/healthz")[0], 200)  # the master still runs
        t.join(20)
        self.assertEqual(slow.get("code"), 200, "the in-flight request was not finished")
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())


if __name__ == "__main__":
    unittest.main()
