"""A fleet of three zygote-real hosts on 127.0.0.2, 127.0.0.3 and 127.0.0.4, each with its own
run directory, releases and symlink, behind HAProxy on 127.0.0.1 (active checks on each host's
/readyz) or nginx (an upstream of the three), running docs/fleet/haproxy.cfg and
docs/fleet/nginx.conf with only their addresses replaced. Under zygote-load through the load
balancer: a rolling deploy by scripts/fleet-deploy.sh loses no request and leaves every host on
the new release; a canary whose release fails to load, crash-loops or answers too many 5xx stops
the rollout with every other host untouched; a host whose master is SIGKILLed loses only what it
held, HAProxy taking it out (a graceful stop for maintenance still loses a few: an expected
failure, see below). Every wait is bounded;
every process (servers, HAProxy, nginx, the load client) is stopped by its id."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "app", "python", "tests"))
from harness import LOAD, SERVER, Server, read_response, wait_until  # noqa: E402

TESTAPP = os.environ.get("ZYGOTE_TESTAPP", "")
ROOT = os.path.join(HERE, "..", "..", "..")
FLEET_DEPLOY = os.path.join(ROOT, "scripts", "fleet-deploy.sh")
DOCS = os.path.join(ROOT, "docs", "fleet")
WORKERS = 3
STOP_DELAY_MS = 2000  # docs/FLEET.md
RELEASES = {
    "A": "latency_ms 2\n",
    "B": "latency_ms 2\n",
    "C": "load_fail 1\n",           # fails to load
    "D": "latency_ms 2\nerror_every 10\n",  # 10% of its answers are 500
    "E": "crash_on_request 1\n",    # every worker crashes at once: a crash loop
}


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_get(host, port, path):
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(s)


class Host(Server):
    def __init__(self, test, name, address):
        super().__init__(test)
        self.name = name
        self.address = address
        self.bind_args = ["--bind", f"{address}:0"]
        for release, conf in RELEASES.items():
            shutil.copy(TESTAPP, self.release(release, {"testapp.conf": conf}))

    def boot(self):
        # --stop-delay-ms as docs/FLEET.md says: above HAProxy's time to mark a host down (two
        # checks 500 ms apart), so a graceful stop begins once HAProxy has stopped sending.
        self.start("A", "testapp", "--status-bind", f"{self.address}:0", "--probation-ms", "1000",
                   "--keepalive-timeout-ms", "5000", "--stop-delay-ms", str(STOP_DELAY_MS),
                   workers=WORKERS)
        m = self.wait_log(r"status on port (\d+)", 10)
        self.test.assertTrue(m, self.log_text())
        self.status_port = int(m.group(1))

    def status(self):
        return json.loads(http_get(self.address, self.status_port, "/status.json")[2])

    def serving(self):
        return self.status()["serving"].rsplit("/", 1)[-1]


class Daemon:
    """A load balancer in a process group of its own, killed by its id at cleanup."""

    def __init__(self, test, args, log):
        self.log_path = log
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        test.addCleanup(self.stop)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.log.close()

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]


class Fleet(unittest.TestCase):
    def setUp(self):
        if not (SERVER and TESTAPP and LOAD):
            raise RuntimeError("set ZYGOTE_REAL, ZYGOTE_TESTAPP and ZYGOTE_LOAD")
        self.dir = tempfile.mkdtemp(prefix="zygote-fleet-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.hosts = [Host(self, f"web{i}", f"127.0.0.{i + 1}") for i in (1, 2, 3)]
        for h in self.hosts:
            h.boot()
        self.fleet_file = os.path.join(self.dir, "fleet")
        with open(self.fleet_file, "w") as f:
            f.write("# name base run-dir run-on\n")
            for h in self.hosts:
                f.write(f"{h.name} {h.dir} {h.run_dir} sh -c\n")
        self.lb_port = free_port()

    # The load balancers, from the files in docs/fleet.
    def haproxy(self):
        with open(os.path.join(DOCS, "haproxy.cfg")) as f:
            cfg = f.read()
        self.stats_port = free_port()
        cfg = cfg.replace("bind 0.0.0.0:80", f"bind 127.0.0.1:{self.lb_port}")
        cfg = cfg.replace("bind 127.0.0.1:8404", f"bind 127.0.0.1:{self.stats_port}")
        cfg = cfg.replace("/run/haproxy/admin.sock", os.path.join(self.dir, "haproxy.sock"))
        for i, h in enumerate(self.hosts):
            cfg, n = re.subn(rf"server {h.name} \S+ port \d+",
                             f"server {h.name} {h.address}:{h.port} port {h.status_port}", cfg)
            self.assertEqual(n, 1)
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.lb = Daemon(self, ["haproxy", "-db", "-f", path], os.path.join(self.dir, "lb.log"))
        self.assertTrue(wait_until(lambda: all(self.lb_state(h) == "UP" for h in self.hosts), 15),
                        self.lb.text())

    def lb_row(self, host):
        """The host's row of HAProxy's stats CSV, by column name (None if not there)."""
        try:
            csv = http_get("127.0.0.1", self.stats_port, "/stats;csv")[2].decode()
        except OSError:
            return None
        lines = csv.splitlines()
        names = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            f = line.split(",")
            if len(f) > 17 and f[0] == "app" and f[1] == host.name:
                return dict(zip(names, f))
        return None

    def lb_state(self, host):
        row = self.lb_row(host)
        return row["status"].split()[0] if row else None

    def lb_errors(self):
        """The load balancer's log lines of requests that did not end well."""
        with open(self.lb.log_path, errors="replace") as f:
            return "".join(l for l in f if not re.search(r" 200 \d+ - - ---- ", l))[-6000:]

    def nginx(self):
        with open(os.path.join(DOCS, "nginx.conf")) as f:
            cfg = f.read()
        cfg = cfg.replace("listen 80;", f"listen 127.0.0.1:{self.lb_port};")
        for i, h in enumerate(self.hosts):
            cfg = cfg.replace(f"server 10.0.0.1{i + 1}:8000", f"server {h.address}:{h.port}")
        self.assertNotIn("10.0.0.", cfg)
        d = os.path.join(self.dir, "nginx")
        os.makedirs(d)
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
{cfg}
}}
""")
        self.lb = Daemon(self, ["nginx", "-p", d, "-c", path], os.path.join(self.dir, "lb.log"))
        self.assertTrue(wait_until(lambda: self.through_lb() == 200, 10), self.lb.text())

    def through_lb(self):
        try:
            return http_get("127.0.0.1", self.lb_port, "/")[0]
        except OSError:
            return 0

    # The load, and the rollout.
    def load(self, seconds, *extra):
        self.load_json = os.path.join(self.dir, f"load-{time.monotonic_ns()}.json")
        self.load_t0 = time.monotonic()
        p = subprocess.Popen([LOAD, "--port", str(self.lb_port), "--clients", "32",
                              "--keepalive-percent", "50", "--duration-ms", str(seconds * 1000),
                              "--json", self.load_json, *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def load_result(self, p):
        out = p.communicate(timeout=120)[0]
        with open(self.load_json) as f:
            return json.load(f), out

    def rollout(self, release, *options):
        args = [FLEET_DEPLOY, "--zygote-real", SERVER, "--canary-watch-s", "3", *options,
                self.fleet_file, release]
        if hasattr(self, "stats_port"):
            args[1:1] = ["--haproxy-stats", f"http://127.0.0.1:{self.stats_port}/stats",
                         "--backend", "app"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=300)
        print(f"\n$ fleet-deploy.sh {release}\n{out.stdout}{out.stderr}", flush=True)
        return out.returncode, out.stdout + out.stderr

    def all_serve(self, release):
        return all(h.all_on(release, WORKERS) and h.serving() == release for h in self.hosts)

    def rolling_deploy_loses_nothing(self):
        load = self.load(25)
        time.sleep(2)
        code, out = self.rollout("B")
        finished = time.monotonic()
        result, load_out = self.load_result(load)
        print(load_out, flush=True)
        self.assertEqual(code, 0, out)
        self.assertLess(finished, self.load_t0 + 24, "the load ended before the rollout did")
        self.assertEqual(result["failed"], 0, load_out)
        self.assertTrue(wait_until(lambda: self.all_serve("B"), 10),
                        [h.workers() for h in self.hosts])
        order = [m.group(1) for m in re.finditer(r"^(web\d): proven in", out, re.M)]
        self.assertEqual(order, ["web1", "web2", "web3"])
        self.assertRegex(out, r"web1: canary watch 3 s: [1-9]\d* requests, 0 5xx")
        for h in self.hosts:
            self.assertGreater(h.status()["requests"]["count"], 0, f"{h.name} got no request")
        return out

    def test_rolling_deploy_through_haproxy(self):
        self.haproxy()
        out = self.rolling_deploy_loses_nothing()
        self.assertEqual(len(re.findall(r"^web\d: HAProxy has it UP after", out, re.M)), 3)

    def test_rolling_deploy_through_nginx(self):
        self.nginx()
        self.rolling_deploy_loses_nothing()

    def test_a_failing_canary_stops_the_rollout(self):
        self.haproxy()
        # A release that fails to load: the canary serves on, no request is lost.
        load = self.load(8)
        code, out = self.rollout("C")
        result, load_out = self.load_result(load)
        self.assertEqual(code, 1, out)
        self.assertIn("HALTED at web1", out)
        self.assertIn("failed to load", out)
        self.assertEqual(result["failed"], 0, load_out)
        self.assertTrue(self.all_serve("A"))
        # One that crash-loops: rolled back on the canary by its own server, the rest untouched.
        load = self.load(8, "--allow-failures")
        code, out = self.rollout("E")
        self.load_result(load)
        self.assertEqual(code, 1, out)
        self.assertIn("HALTED at web1", out)
        self.assertTrue(wait_until(lambda: self.all_serve("A"), 10), out)
        # One that loads and serves, but answers 10% of requests 500: the canary's watch sees it,
        # the canary goes back to A.
        load = self.load(12, "--allow-failures")
        code, out = self.rollout("D")
        self.load_result(load)
        self.assertEqual(code, 1, out)
        self.assertRegex(out, r"web1: canary watch 3 s: \d+ requests, [1-9]\d* 5xx")
        self.assertIn("put back on A", out)
        self.assertTrue(wait_until(lambda: self.all_serve("A"), 10), out)
        for h in self.hosts:
            self.assertEqual(os.readlink(os.path.join(h.dir, "current")), "releases/A")
        # And the fleet serves, whole.
        load = self.load(3)
        result, load_out = self.load_result(load)
        self.assertEqual(result["failed"], 0, load_out)

    def test_maintenance_a_graceful_stop_loses_nothing(self):
        self.haproxy()
        web2 = self.hosts[1]
        load = self.load(8)
        time.sleep(3)
        code, out = web2.ctl("stop")  # maintenance: a graceful stop while HAProxy still sends
        self.assertEqual(code, 0, out)
        answered_at_stop = int(self.lb_row(web2)["hrsp_2xx"])
        self.assertEqual(web2.proc.wait(timeout=30), 0)
        self.assertIn(f"graceful stop in {STOP_DELAY_MS}ms", web2.log_text())
        # It went on serving what HAProxy sent until HAProxy saw /readyz say 503.
        self.assertGreater(int(self.lb_row(web2)["hrsp_2xx"]), answered_at_stop)
        self.assertTrue(wait_until(lambda: self.lb_state(web2) == "DOWN", 5), self.lb.text())
        result, load_out = self.load_result(load)
        print(load_out, flush=True)
        self.assertEqual(result["failed"], 0, f"{result['status_counts']}\n" + self.lb_errors())

    def test_a_crashed_host_loses_only_what_it_held(self):
        self.haproxy()
        web3 = self.hosts[2]
        load = self.load(8)
        time.sleep(3)
        killed = time.monotonic()
        os.kill(web3.proc.pid, signal.SIGKILL)  # a crash: the master, and with it the rest
        self.assertTrue(wait_until(lambda: self.lb_state(web3) == "DOWN", 5), self.lb.text())
        down_after = time.monotonic() - killed
        result, load_out = self.load_result(load)
        print(load_out, f"\nweb3 DOWN in HAProxy {down_after:.2f} s after its master was killed",
              flush=True)
        # The load client's times count from its own start, a little after load_t0: a failure
        # is placed up to this much too early.
        slack = 0.3
        times = [self.load_t0 + t / 1000 for t in result["failure_times_ms"]]
        self.assertEqual([t for t in times if t < killed - slack], [], load_out)
        # What failed, failed when web3 died: what it held (its workers' requests and those
        # waiting in its front); afterwards HAProxy retries refused connections elsewhere.
        self.assertEqual([t for t in times if t > killed + 1.0], [],
                         f"killed at {killed - self.load_t0:.3f} s\n" + self.lb_errors())
        self.assertLessEqual(result["failed"], 32, load_out)
        web3.proc.wait(timeout=5)  # reaped: the group is empty once its children are gone too
        self.assertTrue(wait_until(lambda: not web3.group_alive(), 5), "web3 left processes")
        self.assertEqual(self.lb_state(self.hosts[0]), "UP")


class KubernetesManifest(unittest.TestCase):
    """docs/fleet/kubernetes.yaml is documented, not run: it parses, and its probes, ports and
    timeouts agree with each other and with the server's options."""

    def test_it_parses_and_agrees_with_itself(self):
        script = ("import json, sys, yaml; "
                  "print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))")
        out = subprocess.run(["/usr/bin/python3", "-c", script,
                              os.path.join(DOCS, "kubernetes.yaml")],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        deployment, service = json.loads(out.stdout)
        pod = deployment["spec"]["template"]["spec"]
        c = pod["containers"][0]
        args = dict(a[2:].split("=", 1) for a in c["args"] if a.startswith("--"))
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(args["bind"], f"0.0.0.0:{ports['http']}")
        self.assertEqual(args["status-bind"], f"0.0.0.0:{ports['status']}")
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "status"})
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "status"})
        pause = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
        self.assertGreater(pod["terminationGracePeriodSeconds"],
                           pause + int(args["graceful-timeout-ms"]) / 1000)
        self.assertEqual(deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        self.assertEqual(service["spec"]["ports"][0]["targetPort"], "http")
        # The options are the server's own.
        help_text = subprocess.run([SERVER, "--help"], capture_output=True, text=True).stdout
        for option in args:
            self.assertIn(f"--{option} ", help_text)


if __name__ == "__main__":
    unittest.main()
