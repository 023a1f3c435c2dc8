"""Resources running out on real processes, 127.0.0.1 only, every server in a process group of its
own and killed by its id: descriptors run out in the front (RLIMIT_NOFILE, slow uploads each
holding a connection and a spool file): what it holds is served, the failure is logged once, and
it recovers when descriptors free up; forks refused for want of processes (RLIMIT_NPROC, as root
for the user the workers run as) are retried with backoff while the workers that exist serve, and
the budget stays exact; workers the OOM killer kills (a memory cgroup of their own, as root) are
named as such and replaced; a worker whose app leaks descriptors retires before a hand-off is
lost for want of one; an event log on a full disk never stops the serving."""
import json
import os
import pwd
import re
import resource
import shutil
import socket
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "app",
                                "python", "tests"))
from harness import Server, wait_until  # noqa: E402

# The user the zygotes and workers drop to (as real/tests/privileges), and the test app.
RUN_AS = ("nobody", "nogroup")
TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")


def processes_of(uid):
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def status_json(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as r:
        return json.loads(r.read())


def readable_by_all(path):
    """The scratch directory is root's: the user must reach the releases in it."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o755)


class Exhaustion(unittest.TestCase):
    def server(self):
        s = Server(self)
        shutil.copy(TESTAPP, s.release("A", {"testapp.conf": ""}))
        return s

    @unittest.skipUnless(os.geteuid() == 0, "needs root: RLIMIT_NPROC binds the user it drops to")
    def test_forks_refused_for_want_of_processes_are_retried_and_the_budget_stays_exact(self):
        s = self.server()
        readable_by_all(s.dir)
        os.chmod(s.run_dir, 0o700)
        # The user's processes: two placeholders (their end frees room), the front and the
        # zygote, then room for two workers of four (if nothing else of the user's runs).
        user = pwd.getpwnam(RUN_AS[0])
        placeholders = []
        for _ in range(2):
            p = subprocess.Popen(["sleep", "300"], start_new_session=True,
                                 preexec_fn=lambda: (os.setgid(user.pw_gid),
                                                     os.setuid(user.pw_uid)))
            placeholders.append(p)
            self.addCleanup(lambda p=p: (p.kill(), p.wait()))
        self.assertTrue(wait_until(lambda: all(os.stat(f"/proc/{p.pid}").st_uid == user.pw_uid
                                               for p in placeholders), 5))
        limit = processes_of(user.pw_uid) + 4
        s.popen_extra = {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_NPROC,
                                                                  (limit, limit))}
        s.start("A", "testapp", "--user", RUN_AS[0], "--group", RUN_AS[1], "--status-bind",
                "127.0.0.1:0", workers=4, expect_serving=False)
        m = s.wait_log(r"status on port (\d+)", 10)
        self.assertTrue(m, s.log_text())
        port = int(m.group(1))
        # Refused forks are reported and retried (with backoff): several refusals.
        self.assertTrue(wait_until(lambda: s.read_log().count(b"spawn failed (errno 11)") >= 3,
                                   20), s.log_text())
        # How many fit depends on the user's other processes (one still exiting from an earlier
        # test, say): fewer than four, and those serve.
        serving = len(s.workers())
        self.assertLess(serving, 4, s.log_text())
        self.assertGreaterEqual(serving, 1, s.log_text())
        for _ in range(20):
            code, _, body = s.get("/")
            self.assertEqual(code, 200, body)
        # The budget counts what exists: those workers (once ready), and a fork asked for until
        # its refusal comes back; never the refused ones.
        def counted():
            w = status_json(port)["workers"]
            return w["ready"] + w["busy"] == serving and w["total"] - w["starting"] == serving
        self.assertTrue(wait_until(counted, 5), status_json(port)["workers"])
        self.assertEqual(len(s.workers()), serving, "still refused: " + s.log_text())
        # Processes to spare again: the retries bring the workers up to four.
        for p in placeholders:
            p.kill()
            p.wait()
        self.assertTrue(wait_until(lambda: len(s.workers()) == 4, 30), s.log_text())
        self.assertTrue(wait_until(lambda: status_json(port)["workers"]["ready"] == 4, 10))
        code, out = s.ctl("stop")
        self.assertEqual(code, 0, out)
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())

    def test_descriptors_running_out_in_the_front_are_survived_and_said_once(self):
        s = self.server()
        s.popen_extra = {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                  (200, 200))}
        s.start("A", "testapp", "--body-memory-bytes", "1024", "--max-body-bytes", "10000000",
                workers=2)
        head = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
        uploads = []
        self.addCleanup(lambda: [u.close() for u in uploads])
        # Each slow upload costs the front its connection and a spool file: 150 of them are more
        # than 200 descriptors.
        for _ in range(150):
            u = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            u.sendall(head + b"x" * 4096)
            uploads.append(u)
        out_of_fds = rb"(accept failed|could not be stored in [^ ]+) \(errno 24\)"
        self.assertTrue(wait_until(lambda: re.search(out_of_fds, s.read_log()), 10),
                        s.log_text())
        # What it holds is still served: the first upload, finished now, is answered.
        first = uploads[0]
        first.sendall(b"x" * (100000 - 4096))
        first.settimeout(10)
        self.assertRegex(first.recv(4096), rb"^HTTP/1.1 200 ")
        # Descriptors free again: a new request is served.
        for u in uploads[1:]:
            u.close()
        code, _, body = s.get("/")
        self.assertEqual(code, 200, body)
        log = s.read_log()
        print(re.findall(rb"zygote-real: front: [^\n]*", log), flush=True)
        for said in (b"accept failed", b"could not be stored"):
            self.assertLessEqual(log.count(said), 1, "said once:\n" + s.log_text())
        self.assertIsNone(s.proc.poll(), s.log_text())
        code, out = s.ctl("stop")
        self.assertEqual(code, 0, out)
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())

    def test_a_worker_running_out_of_descriptors_retires_and_loses_nothing(self):
        """An app that leaks descriptors, a few per request: the worker that runs low says so
        once and retires after the request it has; a fresh worker takes its slot; no request
        fails, even when one request takes every descriptor left."""
        s = self.server()
        s.popen_extra = {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                  (256, 256))}
        s.start("A", "testapp", "--status-bind", "127.0.0.1:0", workers=2)
        port = int(s.wait_log(r"status on port (\d+)", 10).group(1))
        before = set(s.workers())
        pattern = rb"worker (\d+): descriptors nearly exhausted \(([^\n]*)\)"
        # 4 leaked a request (fewer than the 16 a worker keeps spare): about 55 requests bring a
        # worker to its limit of 256.
        codes = [s.get("/?leak_fds=4")[0] for _ in range(150)]
        self.assertEqual(codes, [200] * 150, s.log_text())
        said = re.findall(pattern, s.read_log())
        self.assertTrue(said, s.log_text())
        retired = {int(pid) for pid, _ in said}
        self.assertEqual(len(retired), len(said), "once per worker:\n" + s.log_text())
        self.assertTrue(retired & before, "one of the first workers retired")
        self.assertTrue(all(b"descriptor 240 of 256 in use" == why for _, why in said), said)
        self.assertTrue(wait_until(lambda: retired.isdisjoint(s.workers()), 10), s.log_text())
        self.assertTrue(wait_until(lambda: len(s.workers()) == 2, 10), s.log_text())
        exits = status_json(port)["worker_exits"]
        self.assertGreaterEqual(exits["retired"], len(retired), exits)
        self.assertEqual(exits.get("crash", 0), 0, exits)

        # Every descriptor in one request: the probe after it finds the worker out of them, so it
        # retires at once, and the requests after it are served by the others.
        code, _, body = s.get("/?leak_fds=1000")
        self.assertEqual(code, 200)
        full = re.search(rb"pid (\d+)", body).group(1)

        def said_by_full():
            self.assertEqual(s.get("/")[0], 200)
            return full in [pid for pid, _ in re.findall(pattern, s.read_log())]
        self.assertTrue(wait_until(said_by_full, 10, step=0.01), s.log_text())
        self.assertTrue(wait_until(lambda: len(s.workers()) == 2 and
                                   status_json(port)["workers"]["ready"] == 2, 10), s.log_text())
        self.assertEqual([s.get("/")[0] for _ in range(10)], [200] * 10)
        print(re.findall(rb"zygote: worker [^\n]*", s.read_log()),
              status_json(port)["worker_exits"], flush=True)
        code, out = s.ctl("stop")
        self.assertEqual(code, 0, out)
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())

    @unittest.skipUnless(os.geteuid() == 0 and os.access("/sys/fs/cgroup/memory", os.W_OK),
                         "needs root and cgroup v1's memory controller")
    def test_workers_the_oom_killer_kills_are_named_and_replaced(self):
        s = self.server()
        s.start("A", "testapp", "--status-bind", "127.0.0.1:0", workers=2)
        port = int(s.wait_log(r"status on port (\d+)", 10).group(1))
        with open("/proc/self/cgroup") as f:
            mine = next(line.split(":", 2)[2].strip() for line in f
                        if line.split(":")[1] == "memory")
        parent = "/sys/fs/cgroup/memory" + mine
        cg = os.path.join(parent, f"zygote-oom-test-{os.getpid()}")
        os.mkdir(cg)

        def remove():
            with open(os.path.join(cg, "cgroup.procs")) as f:
                left = f.read().split()
            for pid in left:  # (killed with the server's group already, unless it failed)
                with open(os.path.join(parent, "cgroup.procs"), "w") as out:
                    out.write(pid)
            os.rmdir(cg)
        self.addCleanup(remove)
        with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
            f.write(str(64 << 20))
        workers = sorted(s.workers())
        for pid in workers:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        # Each request leaks 40 MiB in the worker that serves it: the second one overflows the
        # cgroup's 64 MiB, and the kernel kills a worker.
        for _ in range(6):
            try:
                s.get("/?leak_mib=40")
            except (OSError, EOFError):
                pass  # the request the worker died serving
            if b"the master did not send" in s.read_log():
                break
        self.assertTrue(s.wait_log(r"killed by SIGKILL, which the master did not send: the OOM "
                                   r"killer", 10), s.log_text())
        with open(os.path.join(cg, "memory.oom_control")) as f:
            self.assertRegex(f.read(), r"oom_kill [1-9]")
        # Replaced (forked by the zygote, outside the cgroup), and counted apart from crashes.
        self.assertTrue(wait_until(lambda: len(set(s.workers()) - set(workers)) >= 1 and
                                   status_json(port)["workers"]["ready"] == 2, 20), s.log_text())
        exits = status_json(port)["worker_exits"]
        self.assertGreaterEqual(exits.get("killed_externally", 0), 1, exits)
        code, _, body = s.get("/")
        self.assertEqual(code, 200, body)

    def test_an_event_log_on_a_full_disk_never_stops_the_serving(self):
        s = self.server()
        shutil.copy(TESTAPP, s.release("B", {"testapp.conf": ""}))
        s.start("A", "testapp", "--events", "/dev/full", workers=2)
        for _ in range(20):
            code, _, body = s.get("/")
            self.assertEqual(code, 200, body)
        s.deploy("B")  # every step of a deploy is an event the log cannot take
        self.assertTrue(wait_until(lambda: s.all_on("B", 2), 30), s.log_text())
        code, _, body = s.get("/")
        self.assertEqual(code, 200, body)
        self.assertIsNone(s.proc.poll(), s.log_text())
        code, out = s.ctl("stop")
        self.assertEqual(code, 0, out)
        self.assertEqual(s.proc.wait(timeout=30), 0, s.log_text())


if __name__ == "__main__":
    unittest.main()
