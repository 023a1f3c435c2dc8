"""--config FILE (TOML) on real processes, 127.0.0.1 only: the file's options apply, the command
line overrides them, the app and its arguments may come from it, the documented example starts
a server, and every kind of bad file is refused with its file, line and column. Every server
runs in a process group of its own, killed by its id whatever happens."""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import SERVER, Server, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
EXAMPLE = os.path.join(HERE, "..", "..", "..", "docs", "zygote.example.toml")


class Config(unittest.TestCase):
    def setUp(self):
        self.s = Server(self)
        shutil.copy(TESTAPP, self.s.release("A", {"testapp.conf": ""}))
        self.s.bind_args = []

    def write(self, text):
        path = os.path.join(self.s.dir, "zygote.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def base(self, extra=""):
        return (f'bind = "127.0.0.1:0"\napp-dir = "{self.s.dir}/current"\n'
                f'run-dir = "{self.s.run_dir}"\n' + extra)

    def test_options_apply_and_the_command_line_wins(self):
        path = self.write(self.base('workers = 3\nkeepalive-timeout-ms = 700\napp = "testapp"\n'))
        # The harness adds -w 2 on the command line: it overrides workers = 3.
        self.s.bind_args = ["--config", path]
        self.s.start("A", "", workers=2)  # no APP on the command line: the file's
        self.assertEqual(len(self.s.workers()), 2)
        self.assertIn("budget of 2 worker slots", self.s.log_text())
        self.assertEqual(self.s.get("/")[0], 200)
        self.s.stop()

    def test_the_documented_example_starts_a_server(self):
        with open(EXAMPLE) as f:
            text = f.read()
        # This machine's paths instead of /srv and /var, and a free port.
        text = re.sub(r'^bind = .*$', 'bind = "127.0.0.1:0"', text, flags=re.M)
        text = re.sub(r'^app-dir = .*$', f'app-dir = "{self.s.dir}/current"', text, flags=re.M)
        text = re.sub(r'^app = .*$', 'app = "testapp"', text, flags=re.M)
        text = re.sub(r'^run-dir = .*$', f'run-dir = "{self.s.run_dir}"', text, flags=re.M)
        text = re.sub(r'^spool-dir = .*$', f'spool-dir = "{self.s.dir}"', text, flags=re.M)
        text = re.sub(r'^access-log = .*$', f'access-log = "{self.s.dir}/access.log"', text,
                      flags=re.M)
        text = re.sub(r'^status-bind = .*$', 'status-bind = "127.0.0.1:0"', text, flags=re.M)
        self.s.bind_args = ["--config", self.write(text)]
        self.s.start("A", "", workers=8)
        self.assertEqual(self.s.get("/")[0], 200)
        self.assertTrue(self.s.wait_log(r"status on port \d+", 5))
        self.assertTrue(wait_until(lambda: os.path.getsize(f"{self.s.dir}/access.log") > 0, 5))
        self.s.stop()

    def refused(self, text):
        self.s.point("A")
        out = subprocess.run([SERVER, "--config", self.write(text)], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out.stderr)
        return out.stderr

    def test_bad_files_are_refused_with_the_place(self):
        f = os.path.join(self.s.dir, "zygote.toml")
        cases = [
            ('workers = 4\nworkerz = 4\n', f"{f}:2:1: unknown key 'workerz'"),
            ('workers = "four"\n', f"{f}:1:1: workers: "),
            ('bind = [1]\n', f"{f}:1:1: bind: expected a string or an integer, got an array"),
            ('huge-pages = "yes"\n', f"{f}:1:1: huge-pages is true or false"),
            ('workers = 4.5\n', f"{f}:1:1: workers: expected a string or an integer, got a float"),
            ('workers =\n', f"{f}:1:"),
            ('[server]\nworkers = 4\n', f"{f}:1:2: a table, [server]"),
            ('args = ["x"]\n', f"{f}: args needs app"),
            ('args = [1]\napp = "t"\n', f"{f}:1:1: args is an array of strings"),
            ('help = true\n', f"{f}:1:1: unknown key 'help'"),
        ]
        for text, why in cases:
            self.assertIn(why, self.refused(text), text)
        out = subprocess.run([SERVER, "--config", f + ".missing"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn(f + ".missing: ", out.stderr)
        # A value the server itself refuses after reading the file: still exit 2, with why.
        self.assertIn("--max-connections must be at least 1",
                      self.refused(self.base('max-connections = 0\napp = "testapp"\n')))


class ReleaseFile(unittest.TestCase):
    """zygote.toml in a release directory: its arguments and its workers' limits, read when it
    loads; a bad one fails that release only."""

    def test_a_release_sets_its_own_limits_and_arguments(self):
        s = Server(self)
        shutil.copy(TESTAPP, s.release("A", {"testapp.conf": ""}))
        shutil.copy(TESTAPP, s.release("B", {"testapp.conf": "", "zygote.toml":
                                             "# B's workers retire early\nmax-requests = 2\n"}))
        shutil.copy(TESTAPP, s.release("C", {"testapp.conf": "", "zygote.toml":
                                             "max-requests = 2\nbogus = 1\n"}))
        shutil.copy(TESTAPP, s.release("D", {"testapp.conf": "", "zygote.toml":
                                             'args = ["--prod"]\n'}))
        s.start("A", "testapp", workers=2)

        def status():
            code, out = s.ctl("status", "--json")
            self.assertEqual(code, 0, out)
            return json.loads(out)
        for _ in range(6):
            self.assertEqual(s.get("/")[0], 200)
        self.assertEqual(status()["worker_exits"]["retired"], 0)  # A: the server's (no limit)

        s.point("C")
        code, out = s.ctl("deploy", "--wait", "--wait-timeout-s", "30")
        self.assertEqual(code, 1, out)
        self.assertIn("zygote.toml:2:1: unknown key 'bogus'", out)
        s.point("D")
        code, out = s.ctl("deploy", "--wait", "--wait-timeout-s", "30")
        self.assertEqual(code, 1, out)
        self.assertIn("testapp takes no arguments (got 1)", out)  # its args reached its init
        self.assertTrue(s.all_on("A", 2))
        self.assertEqual(s.get("/")[0], 200)

        s.point("B")
        code, out = s.ctl("deploy", "--wait", "--wait-timeout-s", "30")
        self.assertEqual(code, 0, out)
        for _ in range(8):
            self.assertTrue(wait_until(lambda: s.get("/")[0] == 200, 5))
        self.assertTrue(wait_until(lambda: status()["worker_exits"]["retired"] >= 2, 10),
                        status()["worker_exits"])
        self.assertEqual(status()["worker_exits"]["crash"], 0)


if __name__ == "__main__":
    unittest.main()
