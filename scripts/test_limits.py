#!/usr/bin/env python3
"""`cobalt serve` under careless or hostile clients, over loopback with real sockets, and its
/metrics scraped by a real Prometheus (Debian's `prometheus`).

    python3 scripts/test_limits.py target/release/cobalt

1. A connection that sends half a request line is closed within the header timeout.
2. With more such connections than --max-connections (and than a small descriptor limit), the
   service still answers /livez once the slow ones time out, and its descriptors stay below the
   limit.
3. SIGTERM with a slow connection open and a request in flight ends the process within the
   shutdown grace, and the request in flight is answered.
4. A request without a token is answered 401 at once, while it is still sending its body.
5. Prometheus scrapes /metrics: the target is up, and cobalt's request counters and latency
   histograms are there, by route template.
6. With the audit database on a full disk (a 2 MiB tmpfs, as root), and then its log too:
   assessments are 503 (never 200 without their row, never a connection closed without an
   answer), /readyz is 503 so that a load balancer stops sending traffic, and both recover once
   space is freed.

Prints `limits: N passed, M failed` last; exits 1 on a failure.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

COBALT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/cobalt")
passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}\n     {str(detail)[:1500]}", flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


def start(tmp, extra, nofile=None, db_dir=None, log_dir=None):
    port = free_port()
    cmd = [COBALT, "serve", "--listen", f"127.0.0.1:{port}", "--insecure-no-auth", "--db", os.path.join(db_dir or tmp, f"{port}.sqlite3")] + extra
    if nofile:
        cmd = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] + cmd
    log = open(os.path.join(log_dir or tmp, f"{port}.log"), "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=log)
    for _ in range(100):
        if get(port, "/livez", 1)[0] == 200:
            return p, port
        time.sleep(0.1)
    raise SystemExit("cobalt serve did not start: " + open(os.path.join(log_dir or tmp, f"{port}.log")).read()[-2000:])


def half_request(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /livez HT")
    return s


def closed_within(s, seconds):
    s.settimeout(seconds)
    t0 = time.time()
    try:
        data = s.recv(1024)
        # A 408 answer or a plain close both end the connection.
        while data:
            data = s.recv(1024)
        return time.time() - t0
    except socket.timeout:
        return None
    except OSError:
        return time.time() - t0


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def post_case(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/assess", data=json.dumps({"format": "cobalt.case/1", "patient": {"age_years": 50}}).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def full_disk(tmp, procs):
    if os.geteuid() != 0:
        check("a full disk (needs root to mount a tmpfs)", False, "not root")
        return
    small = os.path.join(tmp, "small")
    os.makedirs(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small], check=True)
    try:
        # First with the log elsewhere, then with the log (standard output and error) on the
        # full disk too, as when a service logs to a file beside its database.
        for where, log_dir in (("", None), (" (its log on the full disk too)", small)):
            p, port = start(tmp, [], db_dir=small, log_dir=log_dir)
            procs.append(p)
            check(f"full disk{where}: an assessment is answered while there is room", post_case(port) == 200)
            filler = os.path.join(small, "filler")
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            statuses = [post_case(port) for _ in range(20)]
            ready = get(port, "/readyz")[0]
            check(f"full disk{where}: assessments are 503, never 200 without their row", all(s == 503 for s in statuses), statuses)
            check(f"full disk{where}: /readyz is 503 (a load balancer stops sending traffic)", ready == 503, ready)
            check(f"full disk{where}: /livez stays 200 (no restart)", get(port, "/livez")[0] == 200)
            os.remove(filler)
            time.sleep(6)
            ready = get(port, "/readyz")[0]
            check(f"space freed{where}: /readyz is 200 again and assessments are answered", ready == 200 and post_case(port) == 200, ready)
            p.terminate()
            p.wait(timeout=15)
            for n in os.listdir(small):
                os.remove(os.path.join(small, n))
    finally:
        subprocess.run(["umount", "-l", small])


def main():
    tmp = tempfile.mkdtemp(prefix="cobalt-limits-")
    procs = []
    try:
        # 1. Half a request line.
        p, port = start(tmp, ["--header-timeout-secs", "2"])
        procs.append(p)
        s = half_request(port)
        took = closed_within(s, 8)
        check("half a request line: the connection is closed within the 2 s header timeout", took is not None and took < 4, took)

        # 4. No token: 401 while the body is still coming.
        port_auth = free_port()
        cmd = [COBALT, "serve", "--listen", f"127.0.0.1:{port_auth}", "--db", os.path.join(tmp, "auth.sqlite3"),
               "--trust", "https://ehr.example=http://127.0.0.1:9/jwks.json"]
        a = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(a)
        for _ in range(100):
            if get(port_auth, "/livez", 1)[0] == 200:
                break
            time.sleep(0.1)
        s = socket.create_connection(("127.0.0.1", port_auth))
        s.sendall(b"POST /v1/assess HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{\"format\":")
        s.settimeout(5)
        t0 = time.time()
        try:
            head = s.recv(200)
        except socket.timeout:
            head = b""
        check("no token: 401 at once, before the 2 MiB body is sent", head.startswith(b"HTTP/1.1 401") and time.time() - t0 < 2, head[:80])
        s.close()

        # 2. More slow connections than the limit, under a small descriptor limit.
        b, bport = start(tmp, ["--max-connections", "100", "--header-timeout-secs", "2"], nofile=256)
        procs.append(b)
        slow = []
        for _ in range(300):
            try:
                slow.append(half_request(bport))
            except OSError:
                break
        time.sleep(0.5)
        fds = open_fds(b.pid)
        status, _ = get(bport, "/livez", timeout=10)
        check(f"300 slow connections against a limit of 100 (256 descriptors): /livez still answers", status == 200, status)
        check(f"the service's descriptors stay below its limit ({fds} of 256)", 0 < fds < 256, fds)
        for s in slow:
            s.close()

        # 3. SIGTERM with a slow connection open and a request in flight.
        c, cport = start(tmp, ["--header-timeout-secs", "30", "--shutdown-grace-secs", "3"])
        procs.append(c)
        lingering = half_request(cport)
        inflight = socket.create_connection(("127.0.0.1", cport))
        body = json.dumps({"format": "cobalt.case/1"}).encode()
        inflight.sendall(b"POST /v1/assess HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
        time.sleep(0.3)
        t0 = time.time()
        c.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        inflight.sendall(body[5:])
        inflight.settimeout(5)
        try:
            answer = inflight.recv(100)
        except OSError:
            answer = b""
        try:
            c.wait(timeout=10)
            took = time.time() - t0
        except subprocess.TimeoutExpired:
            took = None
        check("SIGTERM with a slow connection open: the process ends within the 3 s grace", took is not None and took < 5, took)
        check("the request in flight at SIGTERM is answered", answer.startswith(b"HTTP/1.1 200"), answer[:60])
        lingering.close()

        # 6. A full disk under the audit database.
        full_disk(tmp, procs)

        # 5. Prometheus scrapes /metrics.
        prom = shutil.which("prometheus")
        if not check("Debian's prometheus is installed", prom is not None):
            return
        for _ in range(5):
            get(port, "/livez")
            get(port, "/cds-services")
        pport = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cobalt
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{port}"]
""")
        prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
        pr = subprocess.Popen([prom, f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(tmp, 'tsdb')}",
                               f"--web.listen-address=127.0.0.1:{pport}"], stdout=prom_log, stderr=prom_log)
        procs.append(pr)

        def query(q):
            url = f"http://127.0.0.1:{pport}/api/v1/query?query=" + urllib.parse.quote(q)
            status, body = get(pport, url[len(f"http://127.0.0.1:{pport}"):])
            return json.loads(body)["data"]["result"] if status == 200 else []

        up = []
        for _ in range(60):
            up = query('up{job="cobalt"}')
            if up and up[0]["value"][1] == "1":
                break
            time.sleep(0.5)
        check("Prometheus scrapes cobalt's /metrics (up == 1)", up and up[0]["value"][1] == "1", up or open(os.path.join(tmp, "prometheus.log")).read()[-1500:])
        reqs = query('cobalt_http_requests_total{route="/livez"}')
        check("Prometheus sees cobalt_http_requests_total by route", reqs and float(reqs[0]["value"][1]) >= 5, reqs)
        lat = query("cobalt_http_request_duration_seconds_bucket")
        check("Prometheus sees the latency histogram", len(lat) > 0, lat[:2])
        conns = query("cobalt_open_connections")
        check("Prometheus sees the open connections gauge", len(conns) == 1, conns)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"limits: {passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
    sys.exit(1 if failed else 0)
