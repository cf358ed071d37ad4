#!/usr/bin/env python3
"""Load on the patient-view service in one run, side by side: one replica on SQLite, one replica
on PostgreSQL, and two replicas on one PostgreSQL (a wrk per replica, at once, the connections
split between them). Requests per second and p99 latency, loopback, wrk (Debian `wrk`).
Authentication is off (loopback), so every request is an assessment and its audit row.

    python3 scripts/bench_replicas.py [path/to/cobalt] [--seconds 10] [--connections 16]

PostgreSQL is started as in scripts/test_replicas.py (Debian's packages, a temporary directory,
a free port).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_replicas import Postgres, free_port  # noqa: E402

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def serve(cobalt, db, tmp, name):
    port = free_port()
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    p = subprocess.Popen([cobalt, "serve", "--listen", f"127.0.0.1:{port}", "--db", db, "--insecure-no-auth"],
                         stdout=log, stderr=log)
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return p, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start")


def load(ports, seconds, connections, lua):
    per = max(1, connections // len(ports))
    procs = [subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{seconds}s", "-s", lua,
                               f"http://127.0.0.1:{p}/cds-services/cobalt-b12-patient-view"],
                              stdout=subprocess.PIPE, text=True) for p in ports]
    requests, p99, errors, duration = 0, 0.0, 0, 0.0
    for pr in procs:
        out = pr.communicate()[0]
        m = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) (\d+)", out)
        if not m:
            raise SystemExit(f"wrk gave no result: {out}")
        requests += int(m.group(1))
        duration = max(duration, float(m.group(2)))
        p99 = max(p99, float(m.group(3)))
        errors += int(m.group(4))
    return requests / duration, p99, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cobalt", nargs="?", default=os.path.join(HERE, "..", "target", "release", "cobalt"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    a = ap.parse_args()
    cobalt = os.path.abspath(a.cobalt)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    tmp = tempfile.mkdtemp(prefix="cobalt-bench-replicas-")
    body = os.path.join(tmp, "body.json")
    with open(body, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "bench_body.py"), "--vitals", "14"], stdout=f, check=True)
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write(LUA.replace("{body}", body))
    pg = Postgres(tmp)
    pg.start()
    procs = []
    try:
        print(f"{a.seconds} s each, {a.connections} connections in all, loopback, 2 cores shared by wrk, "
              "the replicas and PostgreSQL")
        p, port = serve(cobalt, os.path.join(tmp, "audit.sqlite3"), tmp, "sqlite")
        procs.append(p)
        runs = [("1 replica, SQLite", [port])]
        p1, port1 = serve(cobalt, pg.url, tmp, "pg-a")
        p2, port2 = serve(cobalt, pg.url, tmp, "pg-b")
        procs += [p1, p2]
        runs += [("1 replica, PostgreSQL", [port1]), ("2 replicas, one PostgreSQL", [port1, port2])]
        for name, ports in runs:
            load(ports, 2, a.connections, lua)  # warm-up
            rps, p99, errors = load(ports, a.seconds, a.connections, lua)
            print(f"{name:28s} {rps:8.0f} requests/s   p99 {p99:7.2f} ms   errors {errors}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
