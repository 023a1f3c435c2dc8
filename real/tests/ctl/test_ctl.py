"""`zygote-real ctl` rollback, workers and stop on real processes, 127.0.0.1 only: each does what
it says and refuses clearly what it cannot do. Every wait is bounded; every server runs in a
process group of its own, killed by its id whatever happens."""
import os
import shutil
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import Server, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")


class Ctl(unittest.TestCase):
    def server(self, *options, workers=2):
        s = Server(self)
        for name in ("A", "B"):
            shutil.copy(TESTAPP, s.release(name, {"testapp.conf": ""}))
        s.start("A", "testapp", *options, workers=workers)
        return s

    def test_rollback_returns_to_the_resident_version_at_once(self):
        s = self.server("--probation-ms", "60000")
        code, out = s.ctl("rollback")
        self.assertEqual(code, 1, out)
        self.assertIn("nothing to roll back to", out)
        code, out = s.ctl("deploy")  # the same release: a no-op, nothing to roll back either
        s.point("B")
        code, out = s.ctl("deploy")
        self.assertEqual(code, 0, out)
        self.assertTrue(wait_until(lambda: s.all_on("B", 2), 20), s.log_text())
        code, out = s.ctl("status")
        self.assertIn("fallback: " + os.path.join(s.releases, "A"), out)
        code, out = s.ctl("rollback")
        self.assertEqual(code, 0, out)
        self.assertIn("back to resident " + os.path.join(s.releases, "A"), out)
        self.assertTrue(wait_until(lambda: s.all_on("A", 2), 20), s.log_text())
        self.assertTrue(s.get("/")[2].startswith(b"testapp A "))
        code, out = s.ctl("rollback")  # A is proven and nothing else is resident
        self.assertEqual(code, 1, out)
        self.assertIn("nothing to roll back to", out)

    def test_workers_lists_every_process_with_its_figures(self):
        s = self.server()
        for _ in range(4):
            self.assertEqual(s.get("/")[0], 200)
        def listed():
            code, out = s.ctl("workers")
            lines = out.splitlines()
            served = sum(int(l.split()[4]) for l in lines[1:] if l.startswith("worker"))
            return code == 0 and served == 4 and lines
        lines = wait_until(listed, 10, step=0.2)
        self.assertTrue(lines, s.ctl("workers")[1])
        self.assertTrue(lines[0].startswith("ROLE"))
        roles = [l.split()[0] for l in lines[1:]]
        self.assertEqual(sorted(roles), ["front", "master", "worker", "worker", "zygote"])
        pids = {int(l.split()[1]) for l in lines[1:] if l.startswith("worker")}
        self.assertEqual(pids, set(s.workers()))
        for l in lines[1:]:
            self.assertRegex(l.split()[6], r"^\d+\.\d$", l)  # RSS in MiB, read from smaps_rollup
        code, out = s.ctl("workers", "--json")
        self.assertEqual(code, 0)
        self.assertIn('"processes"', out)

    def test_stop_is_graceful_and_fast_is_fast(self):
        s = self.server(workers=1)
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=s.get("/?ms=1500")))
        t.start()
        self.assertTrue(wait_until(lambda: "busy" in s.ctl("status")[1], 5))
        code, out = s.ctl("stop")
        self.assertEqual(code, 0, out)
        self.assertIn("shutdown", out)
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())
        t.join(10)
        self.assertEqual(slow["r"][0], 200, "a graceful stop finishes the request in flight")

        s = self.server(workers=1)
        code, out = s.ctl("stop", "--fast")
        self.assertEqual(code, 0, out)
        self.assertIsNotNone(wait_until(lambda: s.proc.poll() is not None, 10))

    def test_what_it_cannot_do_is_refused(self):
        s = self.server(workers=1)
        for args, why in [(("stop", "now"), "takes no argument"),
                          (("status", "--fast"), "--fast goes with stop"),
                          (("reboot",), "unknown command 'reboot'"),
                          (("rollback", "A"), "takes no argument")]:
            code, out = s.ctl(*args)
            self.assertEqual(code, 2, (args, out))
            self.assertIn(why, out)
        self.assertEqual(s.get("/")[0], 200)


if __name__ == "__main__":
    unittest.main()
