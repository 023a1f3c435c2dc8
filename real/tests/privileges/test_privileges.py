"""--user and --group on real processes (run as root; skipped otherwise), 127.0.0.1 only: every
zygote, worker and the front runs as the user, with its groups and no saved root id; the master
stays root; the control socket and run directory are the user's and `ctl` works as that user;
the options are refused clearly when they cannot work. Every server runs in a process group of
its own, killed by its id whatever happens."""
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import SERVER, Server, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
USER = "nobody"
GROUP = "nogroup"


def ids(pid):
    """Real, effective, saved and filesystem uids and gids, and the supplementary groups."""
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    uid = [int(x) for x in re.search(r"^Uid:\s+(.*)$", text, re.M).group(1).split()]
    gid = [int(x) for x in re.search(r"^Gid:\s+(.*)$", text, re.M).group(1).split()]
    groups = [int(x) for x in re.search(r"^Groups:[ \t]*(.*)$", text, re.M).group(1).split()]
    return uid, gid, groups


def world_readable(path):
    """The scratch directory is root's, mode 0700: the user must reach the releases in it."""
    os.chmod(path, 0o755)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644 if not f.endswith(".so") else 0o755)


@unittest.skipUnless(os.geteuid() == 0, "needs root: the master starts as root to drop")
class DropPrivileges(unittest.TestCase):
    def setUp(self):
        self.s = Server(self)
        for name in ("A", "B"):
            shutil.copy(TESTAPP, self.s.release(name, {"testapp.conf": ""}))
        world_readable(self.s.dir)
        os.chmod(self.s.run_dir, 0o700)

    def test_every_process_but_the_master_runs_as_the_user(self):
        user = pwd.getpwnam(USER)
        group = grp.getgrnam(GROUP)
        self.s.start("A", "testapp", "--user", USER, "--group", GROUP, workers=2)
        status, _, body = self.s.get("/")
        self.assertEqual(status, 200, body)
        want_groups = sorted(set(os.getgrouplist(USER, group.gr_gid)))
        for role in ("zygote", "worker", "front"):
            procs = self.s.processes(role) if role != "front" else self.front()
            self.assertTrue(procs, f"no {role} found")
            for pid in procs:
                uid, gid, groups = ids(pid)
                self.assertEqual(uid, [user.pw_uid] * 4, f"{role} {pid}")
                self.assertEqual(gid, [group.gr_gid] * 4, f"{role} {pid}")
                self.assertEqual(sorted(groups), want_groups, f"{role} {pid}")
        self.assertEqual(ids(self.s.proc.pid)[0][0], 0, "the master stays root to supervise")
        # The run directory and the control socket are the user's; ctl works as the user.
        control = os.path.join(self.s.run_dir, "control")
        self.assertEqual(os.stat(self.s.run_dir).st_uid, user.pw_uid)
        self.assertEqual(os.stat(control).st_uid, user.pw_uid)
        out = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={group.gr_gid}",
                              "--clear-groups", SERVER, "ctl", "--run-dir", self.s.run_dir,
                              "status"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("serving", out.stdout)
        # A deploy forks new workers from a new zygote: the user again.
        self.s.deploy("B")
        self.assertTrue(wait_until(lambda: self.s.all_on("B", 2), 20), self.s.log_text())
        for pid in [*self.s.workers(), *self.s.processes("zygote")]:
            self.assertEqual(ids(pid)[0], [user.pw_uid] * 4)
        self.s.stop()

    def front(self):
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.s.proc.pid:
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"zygote-real: front" in f.read():
                        found.append(int(pid))
            except OSError:
                continue
        return found

    def refused(self, *options, as_user=False):
        self.s.point("A")
        cmd = [SERVER, "-p", "0", "-b", os.path.join(self.s.dir, "current"), "--run-dir",
               self.s.run_dir, *options, "testapp"]
        if as_user:
            user = pwd.getpwnam(USER)
            cmd = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                   "--clear-groups", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out.stderr)
        return out.stderr

    def test_what_cannot_work_is_refused(self):
        self.assertIn("no such user: no-such-user", self.refused("--user", "no-such-user"))
        self.assertIn("no such group: no-such-group",
                      self.refused("--user", USER, "--group", "no-such-group"))
        self.assertIn("--group needs --user", self.refused("--group", GROUP))
        self.assertIn("the app must not run as root", self.refused("--user", "root"))
        shutil.rmtree(self.s.run_dir)
        self.assertIn("needs the master to start as root",
                      self.refused("--user", USER, as_user=True))


if __name__ == "__main__":
    unittest.main()
