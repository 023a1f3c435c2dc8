"""bench/peers.sh's report: peers.json and peers.md from the runs, and the smoke test's check.

  report.py write OUT_DIR --commit C --servers S... [sizes...]   OUT_DIR/runs/* -> peers.json, .md
  report.py check PEERS_JSON     every row present, with positive counts (never a speed)

Standard library only; run with Debian's /usr/bin/python3.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

CASES = ["keepalive", "close", "mixed-ka", "mixed-close", "held-without", "held-with"]
CASE_TITLES = {
    "keepalive": "keep-alive 100%",
    "close": "one connection per request",
    "mixed-ka": "mixed 1 in 20 x 200 ms, keep-alive",
    "mixed-close": "mixed 1 in 20 x 200 ms, one connection per request",
    "held-without": "keep-alive, without slow+idle",
    "held-with": "keep-alive, with slow+idle held",
}


def read(path):
    with open(path) as f:
        return f.read().strip()


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    debian = read("/etc/debian_version") if os.path.exists("/etc/debian_version") else "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "debian": debian, "python": platform.python_version()}


def versions():
    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    from importlib import metadata
    return {"gunicorn": metadata.version("gunicorn"), "waitress": metadata.version("waitress"),
            "uwsgi": run("/usr/bin/uwsgi-core", "--version")}


def ratio(a, b):
    return a / b if a and b else None


def ratios(runs, ideal_rps):
    ka, close = runs["keepalive"], runs["close"]
    mka, mclose = runs["mixed-ka"], runs["mixed-close"]
    without, held = runs["held-without"], runs["held-with"]
    return {
        "keepalive_vs_close_rps": ratio(ka["requests_per_second"], close["requests_per_second"]),
        "keepalive_vs_ideal_rps": ratio(ka["requests_per_second"], ideal_rps),
        "keepalive_vs_close_p50": ratio(ka["latency_ms"]["p50"], close["latency_ms"]["p50"]),
        "mixed_short_p50_keepalive_vs_close": ratio(mka["latency_ms_short"]["p50"],
                                                    mclose["latency_ms_short"]["p50"]),
        "held_p99_with_vs_without": ratio(held["latency_ms"]["p99"], without["latency_ms"]["p99"]),
        "held_clients_failed": held["failed"],
        "held_idle_failed": held["idle_connections"]["failed"],
        "held_slow_failed": held["slow_clients"]["failed"],
    }


def write(args):
    out = args.out
    servers = []
    for name in args.servers:
        runs = {}
        for case in CASES:
            with open(os.path.join(out, "runs", "%s.%s.json" % (name, case))) as f:
                runs[case] = json.load(f)
        spread_file = os.path.join(out, "runs", name + ".spread.txt")
        spread = [int(w) for w in read(spread_file).split()] if os.path.exists(spread_file) else []
        servers.append({"name": name, "command": read(os.path.join(out, "runs",
                                                                   name + ".command.txt")),
                        "keepalive_connections_per_process": spread, "runs": runs})
    ideal = args.workers * 1000.0 / args.latency_ms
    for s in servers:
        s["ratios"] = ratios(s["runs"], ideal)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": args.commit, "quick": bool(int(args.quick)), "machine": machine(),
        "versions": versions(),
        "config": {"workers": args.workers, "latency_ms": args.latency_ms,
                   "ideal_rps": ideal, "long_every": args.long_every, "long_ms": args.long_ms,
                   "clients": args.clients, "duration_ms": args.duration_ms,
                   "mixed_think_ms": args.mixed_think_ms, "slow_clients": args.slow,
                   "idle_connections": args.idle},
        "servers": servers,
    }
    with open(os.path.join(out, "peers.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "peers.md"), "w") as f:
        f.write(markdown(report))


def mixed_utilisation(c):
    """Offered load over capacity in the mixed runs, for closed-loop clients that pause."""
    mean_ms = ((c["long_every"] - 1) * c["latency_ms"] + c["long_ms"]) / c["long_every"]
    offered = c["clients"] / (c["mixed_think_ms"] + mean_ms)
    return offered / (c["workers"] / mean_ms)


def fmt(v, digits=1):
    return "n/a" if v is None else "%.*f" % (digits, v)


def markdown(r):
    m, c, v = r["machine"], r["config"], r["versions"]
    lines = [
        "Measured %s on %s, %d cores, Linux %s, Debian %s; commit %s%s." % (
            r["date"], m["cpu"], m["cores"], m["kernel"], m["debian"], r["commit"],
            " (--quick: tiny sizes, not figures)" if r["quick"] else ""),
        "Peers: gunicorn %s, uWSGI %s, waitress %s on CPython %s (/usr/bin/python3). "
        "%d workers or threads each; the app sleeps %d ms a request (testapp latency_ms %d, "
        "bench/peers/app.py); one zygote-load client, %d clients, %d ms a run; ideal "
        "W / service time = %.0f req/s. The mixed runs: 1 request in %d asks for %d ms "
        "(?ms=%d), each client pauses %d ms between requests: about %.0f%% of the workers' "
        "capacity for that mix." % (
            v["gunicorn"], v["uwsgi"], v["waitress"], m["python"], c["workers"],
            c["latency_ms"], c["latency_ms"], c["clients"], c["duration_ms"], c["ideal_rps"],
            c["long_every"], c["long_ms"], c["long_ms"], c["mixed_think_ms"],
            100 * mixed_utilisation(c)),
        "",
        "*failed*: the clients' failed requests (and, in the slow+idle run, the idle "
        "connections' that failed or never got an answer); *retried*: requests sent again once "
        "because a reused keep-alive connection was closed before any byte of the answer; "
        "*connections opened*: by the clients (held connections apart); *ok per "
        "client*: the fewest and the most requests one client got answered (far apart: the "
        "server starves some connections while it serves others).",
        "",
        "| server | case | req/s | p50 ms | p99 ms | short p50 ms | long p50 ms | failed | "
        "retried | connections opened | ok per client, min-max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["servers"]:
        for case in CASES:
            run = s["runs"][case]
            mixed = case.startswith("mixed")
            answered = run["latency_ms_short"]["count"] + run["latency_ms_long"]["count"]
            failed = run["failed"] + run["idle_connections"]["failed"]
            lines.append("| %s | %s | %.0f | %s | %s | %s | %s | %d | %d | %d | %d-%d |" % (
                s["name"], CASE_TITLES[case], run["requests_per_second"],
                fmt(run["latency_ms"]["p50"] if answered else None),
                fmt(run["latency_ms"]["p99"] if answered else None),
                fmt(run["latency_ms_short"]["p50"]) if mixed else "",
                fmt(run["latency_ms_long"]["p50"]) if mixed else "", failed, run["retried"],
                run["connections_opened"], run["ok_per_client"]["min"],
                run["ok_per_client"]["max"]))
    lines += [
        "",
        "Ratios issue 11 names (its targets in brackets):",
        "",
        "| server | keep-alive / one-conn req/s [>= 0.95] | keep-alive / ideal %.0f req/s "
        "[>= 0.95] | keep-alive / one-conn p50 [<= 1.1] | mixed: short p50 keep-alive / "
        "one-conn [<= 1.2] | p99 with / without slow+idle [<= 1.5] | failed with slow+idle: "
        "clients' requests, idle connections [0, 0] |" % c["ideal_rps"],
        "|---|---|---|---|---|---|---|",
    ]
    for s in r["servers"]:
        q = s["ratios"]
        lines.append("| %s | %s | %s | %s | %s | %s | %d, %d |" % (
            s["name"], fmt(q["keepalive_vs_close_rps"], 2), fmt(q["keepalive_vs_ideal_rps"], 2),
            fmt(q["keepalive_vs_close_p50"], 2), fmt(q["mixed_short_p50_keepalive_vs_close"], 2),
            fmt(q["held_p99_with_vs_without"], 2), q["held_clients_failed"],
            q["held_idle_failed"]))
    lines += [
        "",
        "Held connections in the slow+idle run (%d slow clients sending a partial head, %d idle "
        "keep-alive connections after one request; the load starts once they hold, or after "
        "the setup bound): where each ended; ages are from connect to the server's close. A "
        "connection is open at the end even if it only sits in the kernel's accept queue: the "
        "handshake and the partial head need no accept." % (
            c["slow_clients"], c["idle_connections"]),
        "",
        "| server | setup s | slow: open at end | slow: closed by server (age p50 s) | slow: "
        "never held | idle: open at end | idle: closed by server (age p50 s) | idle: failed | "
        "clients' requests in the run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["servers"]:
        run = s["runs"]["held-with"]
        sl, idl = run["slow_clients"], run["idle_connections"]
        lines.append("| %s | %.1f | %d | %d (%.1f) | %d | %d | %d (%.1f) | %d | %d |" % (
            s["name"], sl["setup_ms"] / 1000.0, sl["open_at_end"], sl["closed_by_server"],
            sl["close_age_ms"]["p50"] / 1000.0, sl["failed"], idl["open_at_end"],
            idl["closed_by_server"], idl["close_age_ms"]["p50"] / 1000.0, idl["failed"],
            run["requests"]))
    lines += [
        "",
        "Keep-alive connections per server process, sampled with `ss` halfway through the "
        "keep-alive run (a server that closes after each response shows few):",
        "",
        "| server | connections per process | command |",
        "|---|---|---|",
    ]
    for s in r["servers"]:
        spread = s["keepalive_connections_per_process"]
        lines.append("| %s | %s | `%s` |" % (
            s["name"], " ".join(str(n) for n in spread) or "none", s["command"]))
    return "\n".join(lines) + "\n"


def check(path):
    """Every server has every case, with positive counts; never a threshold on speed."""
    problems = []
    with open(path) as f:
        report = json.load(f)
    md_path = os.path.join(os.path.dirname(path), "peers.md")
    md = read(md_path) if os.path.exists(md_path) else ""
    names = [s["name"] for s in report["servers"]]
    for want in ("zygote-real", "gunicorn", "uwsgi", "waitress"):
        if want not in names:
            problems.append("no server %s" % want)
    for s in report["servers"]:
        name = s["name"]
        for case in CASES:
            run = s["runs"].get(case)
            if run is None:
                problems.append("%s: no %s run" % (name, case))
                continue
            if run["requests"] <= 0 or run["elapsed_s"] <= 0:
                problems.append("%s %s: no request ended" % (name, case))
            if case != "held-with" and (run["ok"] <= 0 or run["requests_per_second"] <= 0):
                problems.append("%s %s: no request succeeded" % (name, case))
            if case.startswith("mixed") and (run["latency_ms_short"]["count"] <= 0 or
                                             run["latency_ms_long"]["count"] <= 0):
                problems.append("%s %s: no short or no long request" % (name, case))
        held = s["runs"].get("held-with")
        if held is not None:
            for cls in ("slow_clients", "idle_connections"):
                h = held[cls]
                ended = (h["open_at_end"] + h["closed_by_server"] + h["connect_failed"] +
                         h["request_failed"] + h["pending_at_end"] + h["not_opened"])
                if h["wanted"] <= 0 or ended != h["wanted"]:
                    problems.append("%s held-with: %s: %d wanted, %d accounted for" % (
                        name, cls, h["wanted"], ended))
        for case in CASES:
            if "| %s | %s |" % (name, CASE_TITLES[case]) not in md:
                problems.append("peers.md: no row for %s %s" % (name, case))
        if md.count("| %s | " % name) != len(CASES) + 3:
            problems.append("peers.md: %s is missing from a table" % name)
    for key in ("cpu", "cores", "kernel"):
        if not report["machine"].get(key):
            problems.append("machine: no %s" % key)
    for p in problems:
        print("report.py check: " + p, file=sys.stderr)
    if not problems:
        print("report.py check: %d servers x %d runs, every row present" % (
            len(report["servers"]), len(CASES)))
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("--commit", default="unknown")
    w.add_argument("--quick", default="0")
    w.add_argument("--servers", nargs="+", required=True)
    for flag in ("workers", "latency-ms", "long-every", "long-ms", "clients", "duration-ms",
                 "slow", "idle", "mixed-think-ms"):
        w.add_argument("--" + flag, type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("peers_json")
    args = parser.parse_args()
    if args.command == "write":
        write(args)
        return 0
    return check(args.peers_json)


if __name__ == "__main__":
    sys.exit(main())
