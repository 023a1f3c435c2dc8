"""Every operations feature at once, under load, for a while: one zygote-real started as systemd
would (socket activation with a named app and status socket, a notify socket, a watchdog) from a
configuration file (limits, an access log, an event log), each release with its own zygote.toml,
serving zygote-load while deploys alternate two releases through `ctl deploy --wait`, the status
port is read every second, `ctl workers` runs, and logrotate's move-and-SIGUSR1 happens. A native
release (testapp) and a Python one (Flask) each get a run.

At the end the figures must agree with each other: no failed request; the requests the load client
got, the lines of the access log (over every rotated file) and the count in /metrics are the same
number; the budget in status.json was never exceeded; /readyz never failed while serving; the
watchdog never missed its interval; every deploy was RELOADING=1 then READY=1; workers retired by
their request limits were counted; the master's descriptors did not grow; zygote-check finds the
event log clean; `ctl stop` leaves nothing. The page is loaded in Chromium against the final state.

ZYGOTE_SOAK_SECONDS sets the load's length (default 30; scripts/soak.sh runs longer ones).
127.0.0.1 only, every wait bounded, every process in the server's process group, killed by id."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "systemd"))
from harness import LOAD, Server, load_status_page, read_response, wait_until  # noqa: E402
from test_systemd import NotifySocket, as_systemd, free_listener  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
CHECK = os.environ.get("ZYGOTE_CHECK", "")
SECONDS = int(os.environ.get("ZYGOTE_SOAK_SECONDS", "30"))
WORKERS = 4
WATCHDOG_S = 3.0  # the master pings every half of it; systemd would kill it after a whole one


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(s)


def fds_of(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Soak:
    """One server and what the soak saw of it."""

    def __init__(self, test, kind):
        self.test = test
        self.kind = kind
        self.s = Server(test)
        self.notify = NotifySocket(test)
        self.access = os.path.join(self.s.dir, "access.log")
        self.events = os.path.join(self.s.dir, "events.jsonl")
        self.problems = []
        self.deploys = 0
        self.rotations = 0
        self.samples = 0

    def releases(self):
        for name, limit in (("A", 300), ("B", 200)):
            files = {"zygote.toml": f"max-requests = {limit}\nmax-requests-jitter = 50\n"}
            if self.kind == "native":
                shutil.copy(TESTAPP, self.s.release(name, {**files, "testapp.conf":
                                                           "latency_ms 2\n"}))
            else:
                self.s.release(name, files, copy=["flaskapp.py"])

    def start(self):
        config = os.path.join(self.s.dir, "zygote.toml")
        with open(config, "w") as f:
            f.write(f'''probation-ms = 1000
graceful-timeout-ms = 10000
keepalive-timeout-ms = 2000
max-requests = 1000
max-rss-mib = 512
access-log = "{self.access}"
access-log-format = "json"
events = "{self.events}"
''')
        self.http, self.status = free_listener(), free_listener()
        self.test.addCleanup(self.http.close)
        self.test.addCleanup(self.status.close)
        self.status_port = self.status.getsockname()[1]
        self.s.bind_args = []
        self.s.prefix, self.s.popen_extra = as_systemd([self.http, self.status],
                                                       ["http", "status"])
        env = self.s.popen_extra["env"]
        env.update(NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(int(WATCHDOG_S * 1e6)))
        env.pop("WATCHDOG_PID", None)
        app = "testapp" if self.kind == "native" else "flaskapp:app"
        self.s.start("A", app, "--config", config, workers=WORKERS)
        self.test.assertEqual(self.s.port, self.http.getsockname()[1])
        self.test.assertIsNotNone(self.notify.wait(r"^READY=1$"), self.notify.snapshot())
        self.master_fds = fds_of(self.s.proc.pid)

    def note(self, what):
        self.problems.append(f"{time.monotonic() - self.t0:7.2f}s {what}")

    def sample(self):
        """The status port, as a dashboard and a load balancer would read it."""
        self.samples += 1
        try:
            code, _, body = http_get(self.status_port, "/readyz")
            if code != 200:
                self.note(f"/readyz {code}")
            code, _, body = http_get(self.status_port, "/status.json")
            st = json.loads(body)
            in_use = st["workers"]["total"]
            if in_use > st["budget"]:
                self.note(f"budget exceeded: {in_use} of {st['budget']}")
            code, _, body = http_get(self.status_port, "/metrics")
            if code != 200 or b"zygote_requests_total" not in body:
                self.note(f"/metrics {code}")
            return body.decode()
        except (OSError, ValueError, KeyError) as e:
            self.note(f"status port: {e!r}")
            return ""

    def promtool(self, text):
        out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
        if out.stdout + out.stderr:
            self.note("promtool: " + (out.stdout + out.stderr)[:300])

    def rotate(self):
        """logrotate's way: move the file, SIGUSR1, the server writes a new one."""
        self.rotations += 1
        os.rename(self.access, f"{self.access}.{self.rotations}")
        os.kill(self.s.proc.pid, signal.SIGUSR1)

    def deploy(self, name):
        self.s.point(name)
        code, out = self.s.ctl("deploy", "--wait")
        self.deploys += 1
        if code != 0:
            self.note(f"ctl deploy --wait to {name}: exit {code}: {out.strip()}")

    def workers_listed(self):
        code, out = self.s.ctl("workers")
        n = len([l for l in out.splitlines() if re.match(r"\s*worker\b", l)])
        if code != 0 or not 1 <= n <= WORKERS:
            self.note(f"ctl workers: exit {code}, {n} workers: {out[:300]}")

    def run(self):
        load_json = os.path.join(self.s.dir, "load.json")
        load = subprocess.Popen(
            [LOAD, "--port", str(self.s.port), "--clients", "32", "--keepalive-percent", "50",
             "--duration-ms", str(SECONDS * 1000), "--long-every", "50", "--long-ms", "100",
             "--json", load_json], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.test.addCleanup(lambda: load.poll() is None and load.kill())
        self.t0 = time.monotonic()
        last_metrics, nxt, tick = "", "B", 0
        while load.poll() is None:
            tick += 1
            last_metrics = self.sample() or last_metrics
            if tick % 5 == 0:
                self.deploy(nxt)
                nxt = "A" if nxt == "B" else "B"
            if tick % 7 == 0:
                self.rotate()
            if tick % 6 == 0:
                self.workers_listed()
            if tick % 10 == 0:
                self.promtool(last_metrics)
            time.sleep(1)
        out = load.communicate(timeout=60)[0]
        with open(load_json) as f:
            self.load = json.load(f)
        self.final = "A" if nxt == "B" else "B"
        return out


class OpsSoak(unittest.TestCase):
    def soak(self, kind):
        if not LOAD or not CHECK:
            raise RuntimeError("set ZYGOTE_LOAD and ZYGOTE_CHECK")
        k = Soak(self, kind)
        k.releases()
        k.start()
        out = k.run()
        print(f"\n{kind}: {out.strip()}\n  {k.deploys} deploys, {k.rotations} rotations, "
              f"{k.samples} status samples", flush=True)
        self.assertEqual(k.problems, [])
        self.assertEqual(k.load["failed"], 0, out)
        self.assertGreaterEqual(k.deploys, SECONDS // 10)
        self.assertTrue(wait_until(lambda: k.s.all_on(k.final, WORKERS), 30), k.s.log_text())
        self.check_counts_agree(k)
        self.check_notify(k)
        self.assertLessEqual(fds_of(k.s.proc.pid), k.master_fds, "the master's descriptors grew")
        self.check_page(k)
        code, out = k.s.ctl("stop")
        self.assertEqual(code, 0, out)
        self.assertEqual(k.s.proc.wait(timeout=30), 0, k.s.log_text())
        self.assertTrue(wait_until(lambda: not k.s.group_alive(), 5), "processes remain")
        self.assertIsNotNone(k.notify.wait(r"^STOPPING=1$", seconds=5))
        check = subprocess.run([CHECK, k.events, "--load", os.path.join(k.s.dir, "load.json")],
                               capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout[-3000:] + check.stderr[-3000:])

    def check_counts_agree(self, k):
        """The load client, the access log and /metrics count the same requests."""
        got = k.load["requests"] - k.load["failed"]
        logged = []

        def log_lines():
            logged.clear()
            for path in sorted(glob.glob(k.access + "*")):
                with open(path) as f:
                    logged.extend(f.read().splitlines())
            return len(logged) == got
        self.assertTrue(wait_until(log_lines, 10), f"{len(logged)} access-log lines, {got} got")
        self.assertGreater(len(glob.glob(k.access + ".*")), 0)
        pids = set()
        for line in logged:
            entry = json.loads(line)
            self.assertRegex(entry["version"], r"/releases/[AB]$")
            pids.add(entry["worker"])
        self.assertGreater(len(pids), WORKERS, "deploys and retirements replaced no worker")

        def counted():
            m = re.search(r"^zygote_requests_total\{class=\"2xx\"\} (\S+)$", k.sample(), re.M)
            return m and float(m.group(1)) == got
        self.assertTrue(wait_until(counted, 10, step=0.5), k.sample()[:3000])
        st = json.loads(http_get(k.status_port, "/status.json")[2])
        self.assertEqual(st["requests"]["count"], got)
        self.assertEqual(st["requests"]["log_lines_dropped"], 0)
        self.assertGreater(st["worker_exits"]["retired"], 0, st["worker_exits"])
        self.assertGreater(st["worker_exits"]["deploy"], 0, st["worker_exits"])
        # A 10-minute native run saw one worker crash in ~2300 exits (no request failed); until
        # it is explained, the long runs (scripts/soak.sh) fail on it and the short one says it.
        # What the master said of each one, so that a crash is explained by its own run.
        said = [line for line in k.s.read_log().decode("utf-8", "replace").splitlines()
                if "exited unexpectedly" in line or "worker-crash" in line]
        if SECONDS >= 300:
            self.assertEqual(st["worker_exits"]["crash"], 0, f"{st['worker_exits']}\n" +
                             "\n".join(said))
        elif st["worker_exits"]["crash"]:
            print(f"worker crashes: {st['worker_exits']['crash']}\n" + "\n".join(said),
                  flush=True)
        self.assertEqual(st["deploys"]["proven"], k.deploys, st["deploys"])
        k.status_json = st

    def check_notify(self, k):
        msgs = k.notify.snapshot()
        reloading = [i for i, (_, m) in enumerate(msgs) if re.search(r"^RELOADING=1$", m, re.M)]
        self.assertEqual(len(reloading), k.deploys)
        for i in reloading:
            self.assertIsNotNone(k.notify.index(r"^READY=1$", i), msgs[i:])
        pings = [t for t, m in msgs if m == "WATCHDOG=1"]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertGreater(len(pings), SECONDS / WATCHDOG_S)
        self.assertLess(max(gaps), WATCHDOG_S, "the watchdog would have fired")

    def check_page(self, k):
        dom = load_status_page(self, k.s, k.status_port, f"status-page-soak-{k.kind}.png", 900)
        self.assertRegex(dom, rf'<code id="serving">[^<]*/{k.final} \(proven\)</code>')
        lanes = re.findall(r'<g class="lane" data-version="[^"]*/([AB])">', dom)
        self.assertEqual(sorted(set(lanes)), ["A", "B"])
        self.assertIn('class="mark proven"', dom)
        if k.kind == "python":
            self.assertIn("python 3.", dom)
            # What the page says of memory: a forked Python worker shares most of its zygote.
            for p in k.status_json["processes"]:
                if p["role"] == "worker":
                    self.assertLess(p["memory"]["uss"], p["memory"]["rss"] / 2, p)

    def test_native_release(self):
        self.soak("native")

    def test_python_release(self):
        self.soak("python")


if __name__ == "__main__":
    unittest.main()
