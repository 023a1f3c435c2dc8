"""Chaos on real processes, 127.0.0.1 only: one zygote-real (4 workers, the test app) under
zygote-load while, at random (one seed, printed), its workers, zygotes and front are SIGKILLed or
SIGSTOPped for 1 to 3 s, and deploys alternate between two releases. Then the faults stop and:
every failed request must be explained by a process killed while it could hold that request (the
load client's failure times against the kills: from 0.3 s before one, the client's clock starting
a little late, to 1 s after); the server must be back to 4 ready workers within 1 s of the last
fault; after the stop no process is left; zygote-check finds the event log clean, the explained
failures counted apart. ZYGOTE_CHAOS_SECONDS (default 60) is how long the faults go on;
scripts/chaos.sh MINUTES runs longer. Every process is stopped by its id."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "app",
                                "python", "tests"))
from harness import LOAD, Server, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
CHECK = os.environ.get("ZYGOTE_CHECK", "")
SECONDS = int(os.environ.get("ZYGOTE_CHAOS_SECONDS", "60"))
SEED = int(os.environ.get("ZYGOTE_CHAOS_SEED", str(int(time.time()) % 100000)))
WORKERS = 4
BEFORE, AFTER = 0.3, 1.0  # a failure explained by a kill from BEFORE ahead of it to AFTER past it
RECOVERY = 1.0            # back to WORKERS ready workers within this of the last fault


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as r:
        return json.loads(r.read())


class Chaos(unittest.TestCase):
    def setUp(self):
        if not LOAD or not CHECK:
            raise RuntimeError("set ZYGOTE_LOAD and ZYGOTE_CHECK")
        self.s = Server(self)
        for name in ("A", "B"):
            shutil.copy(TESTAPP, self.s.release(name, {"testapp.conf": "latency_ms 2\n"}))
        self.events = os.path.join(self.s.dir, "events.jsonl")
        self.rng = random.Random(SEED)
        self.kills = []   # (time, role, pid)
        self.pauses = []  # (time, role, pid, until)
        self.deploys = 0
        self.stopped = []  # (pid, until): paused, to be continued

    def roles(self):
        return {"worker": sorted(self.s.processes("worker")),
                "zygote": sorted(self.s.processes("zygote")),
                "front": sorted(self.s.titled(r"zygote-real: front"))}

    def continue_due(self, now):
        for pid, until in list(self.stopped):
            if now >= until:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                self.stopped.remove((pid, until))

    def one_fault(self, now, deploys=True):
        k = self.rng.random()
        if k < 0.12:
            if not deploys:
                return
            self.deploys += 1
            self.s.deploy("B" if self.deploys % 2 else "A")
            return
        role = "worker" if k < 0.6 else "zygote" if k < 0.8 else "front"
        pids = [p for p in self.roles()[role] if all(p != s for s, _ in self.stopped)]
        if not pids:
            return
        pid = self.rng.choice(pids)
        try:
            if self.rng.random() < 0.65:
                os.kill(pid, signal.SIGKILL)
                self.kills.append((now, role, pid))
            else:
                until = now + self.rng.uniform(1.0, 3.0)
                os.kill(pid, signal.SIGSTOP)
                self.stopped.append((pid, until))
                self.pauses.append((now, role, pid, until))
        except ProcessLookupError:
            pass

    def test_faults_at_random_lose_only_what_killed_processes_held(self):
        print(f"chaos: seed {SEED} (ZYGOTE_CHAOS_SEED), {SECONDS} s of faults", flush=True)
        self.s.start("A", "testapp", "--status-bind", "127.0.0.1:0", "--events", self.events,
                     "--probation-ms", "1000", workers=WORKERS)
        m = self.s.wait_log(r"status on port (\d+)", 10)
        self.assertTrue(m, self.s.log_text())
        port = int(m.group(1))
        summary = os.path.join(self.s.dir, "load.json")
        load = subprocess.Popen(
            [LOAD, "--port", str(self.s.port), "--clients", "16", "--keepalive-percent", "50",
             "--duration-ms", str((SECONDS + 8) * 1000), "--request-timeout-ms", "10000",
             "--allow-failures", "--json", summary],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: load.poll() is None and load.kill())
        t0 = time.monotonic()
        time.sleep(2)
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            now = time.monotonic()
            self.continue_due(now)
            self.one_fault(now, deploys=now < end - 5)  # the last seconds: faults only
            time.sleep(self.rng.uniform(0.3, 1.2))
        while self.stopped:  # the paused go on when their time comes
            self.continue_due(time.monotonic())
            time.sleep(0.01)
        # The last fault, from which recovery is timed: a kill of the worker, zygote or front.
        role = self.rng.choice(["worker", "zygote", "front"])
        self.assertTrue(wait_until(lambda: self.roles()[role], 30), self.s.log_text())
        last_fault = time.monotonic()
        pid = self.rng.choice(self.roles()[role])
        os.kill(pid, signal.SIGKILL)
        self.kills.append((last_fault, role, pid))

        def recovered():
            st = status(port)
            return st["workers"]["ready"] + st["workers"]["busy"] == WORKERS and \
                st["workers"]["total"] == WORKERS and st["loading"] in ("", None)
        self.assertTrue(wait_until(recovered, 60, step=0.01), self.s.log_text())
        recovery = time.monotonic() - last_fault
        out, _ = load.communicate(timeout=60)
        with open(summary) as f:
            result = json.load(f)
        failures = [t0 + t / 1000 for t in result["failure_times_ms"]]
        kill_times = [k for k, _, _ in self.kills]
        unexplained = [f - t0 for f in failures
                       if not any(k - BEFORE <= f <= k + AFTER for k in kill_times)]
        by_role = {r: sum(1 for _, role, _ in self.kills if role == r)
                   for r in ("worker", "zygote", "front")}
        print(f"chaos: {len(self.kills)} kills {by_role}, {len(self.pauses)} pauses, "
              f"{self.deploys} deploys; {result['requests']} requests, {result['failed']} "
              f"failed, {len(failures) - len(unexplained)} explained by a kill, "
              f"{len(unexplained)} not; back to {WORKERS} ready workers {recovery:.2f} s after "
              f"the last fault\n{out.strip()}", flush=True)
        self.assertEqual(len(failures), result["failed"], "every failure has its time")
        self.assertEqual(unexplained, [], "failures no kill explains (s from the start)")
        self.assertLessEqual(recovery, RECOVERY, self.s.log_text())
        code, text = self.s.ctl("stop")
        self.assertEqual(code, 0, text)
        self.assertEqual(self.s.proc.wait(timeout=60), 0, self.s.log_text())
        self.assertTrue(wait_until(lambda: not self.s.group_alive(), 5), "processes remain")
        check = subprocess.run([CHECK, self.events, "--load", summary, "--lost-to-fault",
                                str(result["failed"])], capture_output=True, text=True,
                               timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout[-3000:] + check.stderr[-3000:])


if __name__ == "__main__":
    unittest.main()
