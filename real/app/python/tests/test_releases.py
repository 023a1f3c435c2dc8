"""Python releases as operators deploy them: a virtualenv per release, deploys under load, broken
releases, the app's own descriptors, fork hooks, exit hooks, and APP errors at start."""
import json
import os
import re
import subprocess
import threading
import time
import unittest

from harness import LOAD, PYTHON, SERVER, Server, read_response, wait_until

# The embedded interpreter is the one PYTHON names (CMake pins both to /usr/bin/python3).
PYTHON_VERSION = subprocess.run([PYTHON, "-c", "import platform; print(platform.python_version())"],
                                capture_output=True, text=True, check=True).stdout.strip()

VERSIONED_APP = '''
import os, sys, time
import libver
def application(environ, start_response):
    q = environ["QUERY_STRING"]
    if q.startswith("ms="):
        time.sleep(int(q[3:]) / 1000)
    body = ("%s %s %s" % (libver.VERSION, sys.prefix, getattr(libver, "PTH", "-"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def site_packages(venv):
    return os.path.join(venv, "lib", "python3.11", "site-packages")


def make_venv(path, libver, system=False):
    """A virtualenv made by Debian's Python, holding its own version of one library, and a .pth
    file that adds a directory (both must reach the release's interpreter)."""
    args = [PYTHON, "-m", "venv", "--without-pip", path]
    if system:
        args.insert(3, "--system-site-packages")
    subprocess.run(args, check=True, timeout=60)
    site = site_packages(path)
    with open(os.path.join(site, "libver.py"), "w") as f:
        f.write("VERSION = %r\n" % libver)
    extra = os.path.join(path, "extra")
    os.makedirs(extra)
    with open(os.path.join(extra, "pthmod.py"), "w") as f:
        f.write("import libver\nlibver.PTH = 'pth-' + libver.VERSION\n")
    with open(os.path.join(site, "zz_extra.pth"), "w") as f:
        f.write(extra + "\nimport pthmod\n")


class Virtualenvs(unittest.TestCase):
    def test_two_releases_with_their_own_venvs_deploy_under_load(self):
        s = Server(self)
        for name, ver in (("A", "1.0"), ("B", "2.0")):
            s.release(name, {"app.py": VERSIONED_APP})
            make_venv(os.path.join(s.releases, name, "venv"), ver)
        s.start("A", "app:application", "--graceful-timeout-ms", "10000", workers=2)
        a_venv = os.path.join(s.releases, "A", "venv")
        self.assertEqual(s.get("/")[2].decode(), "1.0 %s pth-1.0" % a_venv)

        load = subprocess.Popen([LOAD, "--port", str(s.port), "--clients", "16", "--duration-ms",
                                 "6000", "--keepalive-percent", "50", "--json",
                                 os.path.join(s.dir, "load.json")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: load.poll() is None and load.kill())
        # A long request that A's code serves while B takes over (seed 001: running work keeps
        # its code, new work gets the new code).
        long_sock = s.connect()
        long_sock.sendall(b"GET /?ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.5)
        s.deploy("B")
        self.assertTrue(wait_until(lambda: s.all_on("B", 2), 20), s.log_text())
        status, _, body = read_response(long_sock)
        long_sock.close()
        self.assertEqual((status, body.split()[0]), (200, b"1.0"))
        b_venv = os.path.join(s.releases, "B", "venv")
        self.assertEqual(s.get("/")[2].decode(), "2.0 %s pth-2.0" % b_venv)
        # `ctl status` names what each zygote loaded, the JSON and the text alike.
        code, out = s.ctl("status", "--json")
        self.assertEqual(code, 0, out)
        zygotes = [p for p in json.loads(out)["processes"] if p["role"] == "zygote"]
        kind = "python %s WSGI app:application (virtualenv venv)" % PYTHON_VERSION
        self.assertIn(kind, [z["app"] for z in zygotes if z["state"] == "loaded"], zygotes)
        code, out = s.ctl("status")
        self.assertIn(": " + kind, out)
        out, _ = load.communicate(timeout=60)
        self.assertEqual(load.returncode, 0, out.decode())
        with open(os.path.join(s.dir, "load.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["failed"], 0, summary)
        self.assertGreater(summary["ok"], 100, summary)
        s.stop()

    def test_a_system_site_packages_venv_sees_debians_packages(self):
        s = Server(self)
        s.release("A", {"app.py": "import flask\n" + VERSIONED_APP})
        make_venv(os.path.join(s.releases, "A", "venv"), "3.0", system=True)
        s.start("A", "app:application", workers=1)
        self.assertEqual(s.get("/")[2].split()[0], b"3.0")
        s.stop()

    def test_a_venv_made_by_another_python_is_refused_and_A_keeps_serving(self):
        s = Server(self)
        s.release("A", {"app.py": VERSIONED_APP})
        make_venv(os.path.join(s.releases, "A", "venv"), "1.0")
        s.release("X", {"app.py": VERSIONED_APP,
                        "venv/pyvenv.cfg": "home = /opt/python3.12/bin\n"
                                           "include-system-site-packages = false\n"
                                           "version = 3.12.1\n",
                        "venv/bin/python": ""})
        s.start("A", "app:application", workers=2)
        s.deploy("X")
        self.assertTrue(s.wait_log(r"load-failed: .*releases/X", 20), s.log_text())
        code, status = s.ctl("status")
        self.assertEqual(code, 0, status)
        self.assertRegex(status, r"failed: .*releases/X: failed to load: .*made by Python 3\.12\.1")
        self.assertTrue(s.all_on("A", 2))
        self.assertEqual(s.get("/")[2].split()[0], b"1.0")
        s.stop()


BROKEN = {
    "import-error": ("import no_such_module_here\n", r"ModuleNotFoundError: No module named "
                     r"'no_such_module_here'"),
    "factory-raises": ("def create():\n    raise ValueError('no config for prod')\n"
                       "application = create()\n",
                       r"ValueError: no config for prod"),
    "not-callable": ("application = 42\n", r"gave int 42, which is not callable"),
    "threads": ("import threading, time\n"
                "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
                "def application(e, s): pass\n", r"left 1 thread\(s\) running"),
    "crash": ("import os\nos.abort()\n", r""),
    "hang": ("import time\ntime.sleep(3600)\n", r"not loaded within"),
}


class BrokenReleases(unittest.TestCase):
    def test_each_broken_release_is_reported_and_A_keeps_serving(self):
        s = Server(self)
        s.release("A", {"app.py": "import libver\n" + VERSIONED_APP.replace("import libver", "")
                        .replace("libver.VERSION", "'A'"), "libver.py": ""})
        for name, (source, _) in BROKEN.items():
            s.release(name, {"app.py": source})
        s.start("A", "app:application", "--load-timeout-ms", "3000", workers=2)
        for name, (_, reason) in BROKEN.items():
            with self.subTest(release=name):
                s.deploy(name)
                self.assertTrue(s.wait_log(r"load-failed: .*releases/%s\b" % re.escape(name), 20),
                                s.log_text())
                code, status = s.ctl("status")
                self.assertRegex(status, r"failed: .*releases/%s: failed to load: .*%s"
                                 % (re.escape(name), reason))
                self.assertTrue(s.all_on("A", 2), s.workers())
                self.assertEqual(s.get("/")[0], 200)
        self.assertRegex(s.log_text(), r"Traceback \(most recent call last\):(.|\n)*"
                                       r"ModuleNotFoundError")
        s.stop()


class Workers(unittest.TestCase):
    def test_descriptors_the_app_opened_stay_the_apps(self):
        s = Server(self)
        logfile = os.path.join(s.dir, "app.log")
        s.release("A", {"app.py": '''
import os
LOG = open(%r, "a", buffering=1)
def application(environ, start_response):
    LOG.write("served %%d\\n" %% os.getpid())
    body = b"clean"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [body]
''' % logfile})
        s.start("A", "app:application", workers=2)
        socks = [s.connect() for _ in range(6)]
        for _ in range(20):
            for sock in socks:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                status, _, body = read_response(sock)
                self.assertEqual((status, body), (200, b"clean"))
        for sock in socks:
            sock.close()
        with open(logfile) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 120)
        self.assertTrue(all(re.fullmatch(r"served \d+", l) for l in lines), lines[:5])
        for pid in s.workers():
            fds = [os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)]
            self.assertIn(logfile, fds)
        s.stop()

    def test_fork_hooks_run_in_each_worker_and_random_differs(self):
        s = Server(self)
        exitlog = os.path.join(s.dir, "exit.log")
        s.release("A", {"app.py": '''
import atexit, json, os, random, time
STATE = {"zygote": os.getpid(), "before": 0}
os.register_at_fork(before=lambda: STATE.update(before=STATE["before"] + 1),
                    after_in_child=lambda: STATE.update(child=os.getpid()))
atexit.register(lambda: open(%r, "a").write("exit %%d\\n" %% os.getpid()))
def application(environ, start_response):
    if environ["QUERY_STRING"] == "slow":
        time.sleep(1.5)
    body = json.dumps(dict(STATE, pid=os.getpid(), random=random.random())).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
''' % exitlog})
        s.start("A", "app:application", workers=2)
        seen = {}
        for _ in range(2):
            slow = s.connect()
            slow.sendall(b"GET /?slow HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.3)
            state = json.loads(s.get("/")[2])  # the other worker: the first is busy
            seen[state["pid"]] = state
            busy = json.loads(read_response(slow)[2])
            seen[busy["pid"]] = busy
            slow.close()
        self.assertEqual(len(seen), 2, seen)
        for pid, state in seen.items():
            self.assertEqual(state["child"], pid)
            self.assertNotEqual(state["zygote"], pid)
            self.assertGreaterEqual(state["before"], 1)
        self.assertEqual(len({st["random"] for st in seen.values()}), 2)
        workers = set(s.workers())
        s.stop()
        with open(exitlog) as f:
            exited = {int(l.split()[1]) for l in f.read().splitlines()}
        self.assertEqual(exited, workers)

    def test_only_the_zygote_and_its_workers_map_libpython(self):
        s = Server(self)
        s.release("A", {"app.py": VERSIONED_APP.replace("import libver", "libver = None")
                        .replace("libver.VERSION", "'A'")})
        s.start("A", "app:application", workers=1)

        def maps_python(pid):
            with open("/proc/%d/maps" % pid) as f:
                return "libpython3" in f.read()
        self.assertFalse(maps_python(s.proc.pid))
        (zygote,) = s.processes("zygote")
        self.assertTrue(maps_python(zygote))
        (worker,) = s.workers()
        self.assertTrue(maps_python(worker))
        s.stop()


class AppNames(unittest.TestCase):
    def start_fails(self, files, app):
        s = Server(self)
        s.release("A", files)
        s.point("A")
        out = subprocess.run([SERVER, "-p", "0", "-b", os.path.join(s.dir, "current"),
                              "--run-dir", s.run_dir, app], capture_output=True, text=True,
                             timeout=30)
        return out.returncode, out.stderr

    def test_an_ambiguous_app_is_refused_at_start(self):
        code, err = self.start_fails({"site.py": "", "site.so": ""}, "site")
        self.assertEqual(code, 2, err)
        self.assertRegex(err, r"APP site is ambiguous in .*: both .*site\.so .* and a Python module")

    def test_an_unknown_app_is_refused_at_start(self):
        code, err = self.start_fails({"other.py": ""}, "missing")
        self.assertEqual(code, 2, err)
        self.assertRegex(err, r"APP missing is not in .*: there is no .*missing\.so")

    def test_a_malformed_spec_is_refused_at_start(self):
        code, err = self.start_fails({"app.py": ""}, "app:")
        self.assertEqual(code, 2, err)
        self.assertIn("is not MODULE:CALLABLE", err)


if __name__ == "__main__":
    unittest.main()
