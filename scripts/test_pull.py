#!/usr/bin/env python3
"""`cobalt pull` against real Bulk Data servers, all on 127.0.0.1.

    python3 scripts/test_pull.py target/release/cobalt [--hfs BIN] [--data DIR] [--skip-sekmet] [--spark]

1. The Helios FHIR Server behind the oidc-provider authorisation server (scripts/ehr/stack.mjs),
   checking ES384 client assertions, loaded with the independent export in tests/data/clinosim
   and three published cases:
   - `cobalt pull` then `cobalt screen` gives the same rows as `cobalt screen` on the files the
     test wrote to the server;
   - a pull killed mid-download (SIGKILL) resumes and finishes with the same files;
   - `--since-export` pulls only what changed after the first export;
   - a key the server does not know, an expired assertion (the clock set back with faketime), a
     server that answers 500, one that never completes, and a file cut short each end with a
     clear message, exit 1, and no manifest.json (nothing presented as a complete export);
   - `cobalt screen --pull` pulls and screens in one command;
   - with --spark, the Spark job reads the pulled export as it reads any other.
   The faults come from a small proxy in front of the server (slow, truncated, 500, never done).
2. SEKMET (PyPI sekmet-fhir, scripts/ehr/sekmet.py), a second, independent implementation with
   its own token endpoint: the pull then screen equals screen of what was loaded.

Prints timings and peak memory of each whole pull beside `cobalt screen` on the same files, and
`pull: N passed, M failed` last.
"""

import argparse
import gzip
import http.client
import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "cobalt-ehr")
FIXTURES = [os.path.join(ROOT, "crates/cobalt-fhir/tests/fixtures", f"dev-{n}.json") for n in ("B12-11", "B12-14", "COEX-02")]
CLINOSIM = os.path.join(ROOT, "tests/data/clinosim")
TYPES = ["Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "Medication", "Procedure"]
AS_OF = time.strftime("%Y-%m-%d", time.gmtime())

passed = 0
failed = 0
figures = []


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}\n     {str(detail)[:1500]}", flush=True)
    return ok


def run(cmd, timeout=600, **kw):
    """Runs a command under /usr/bin/time -v when there is one; returns (code, stderr, seconds, peak KB)."""
    timed = os.path.exists("/usr/bin/time")
    full = (["/usr/bin/time", "-v"] if timed else []) + cmd
    t0 = time.time()
    p = subprocess.run(full, capture_output=True, text=True, timeout=timeout, **kw)
    secs = time.time() - t0
    peak = 0
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[1])
    return p.returncode, p.stderr, secs, peak


# ---------------------------------------------------------------------------------------------
# What the test wrote to the server, as an export directory cobalt screen reads.

def read_ndjson_dir(d):
    out = []
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name.endswith(".ndjson.gz"):
            with gzip.open(path, "rt") as f:
                out += [json.loads(l) for l in f if l.strip()]
        elif name.endswith(".ndjson"):
            with open(path) as f:
                out += [json.loads(l) for l in f if l.strip()]
    return out


def written_export(d, resources):
    """Writes resources as Type.ndjson files (no manifest), the screening types only."""
    os.makedirs(d, exist_ok=True)
    by_type = {}
    for r in resources:
        if r.get("resourceType") in TYPES:
            by_type.setdefault(r["resourceType"], []).append(r)
    for t, rs in by_type.items():
        with open(os.path.join(d, f"{t}.ndjson"), "w") as f:
            for r in rs:
                f.write(json.dumps(r) + "\n")


def fixture_resources():
    out = []
    for f in FIXTURES:
        with open(f) as fh:
            out += [e["resource"] for e in json.load(fh)["entry"] if "resource" in e]
    return out


def screen(cobalt, export, out):
    shutil.rmtree(out, ignore_errors=True)
    code, err, secs, peak = run([cobalt, "screen", export, "--out", out, "--as-of", AS_OF])
    rows = []
    if code == 0:
        with open(os.path.join(out, "results.ndjson")) as f:
            rows = f.read().splitlines()
    return code, rows, err, secs, peak


# ---------------------------------------------------------------------------------------------
# A proxy in front of the FHIR server that injects faults. It rewrites the server's own origin
# in the status URL and the manifest, so that the client keeps talking to the proxy.

class Proxy:
    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.mode = "pass"
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.handle(self, "GET")

            def do_DELETE(self):
                proxy.handle(self, "DELETE")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.upstream_origin = f"{self.upstream.scheme}://{self.upstream.netloc}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, h, method):
        kind = "export" if "$export" in h.path else "file" if self.is_file(h.path) else "other"
        if self.mode == "500" and kind == "export":
            body = json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception", "diagnostics": "the export store is offline (injected)"}]}).encode()
            return self.reply(h, 500, {"Content-Type": "application/fhir+json"}, body)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        conn.request(method, h.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        out_headers = {k: v for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        for k in list(out_headers):
            if k.lower() == "content-location":
                out_headers[k] = out_headers[k].replace(self.upstream_origin, self.base)
        if self.mode == "never" and kind == "other" and resp.status == 200 and b'"output"' in body:
            return self.reply(h, 202, {"Retry-After": "1", "X-Progress": "still exporting (injected)"}, b"")
        if kind == "other" and b'"output"' in body:
            body = body.replace(self.upstream_origin.encode(), self.base.encode())
            if self.mode == "errors":
                # The export's own error list: one OperationOutcome file (any file serves).
                m = json.loads(body)
                m["error"] = [{"type": "OperationOutcome", "url": m["output"][0]["url"]}]
                body = json.dumps(m).encode()
        if kind == "file" and self.mode == "truncate":
            # The whole length promised, half of it sent, then the connection closed.
            h.send_response(resp.status)
            for k, v in out_headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        if kind == "file" and self.mode == "slow":
            h.send_response(resp.status)
            for k, v in out_headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            for i in range(0, len(body), 8192):
                h.wfile.write(body[i:i + 8192])
                h.wfile.flush()
                time.sleep(0.15)
            return
        self.reply(h, resp.status, out_headers, body)

    def is_file(self, path):
        return "$export" not in path and ("ndjson" in path or "/files/" in path or "export-file" in path or "/output/" in path)

    @staticmethod
    def reply(h, status, headers, body):
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


# ---------------------------------------------------------------------------------------------

def start_stack(args, work, jwks):
    cmd = ["node", os.path.join(HERE, "ehr/stack.mjs"), "--hfs", args.hfs, "--data", args.data,
           "--backend-client", f"cobalt-bulk={jwks}", "--load-ndjson", CLINOSIM, "--exit-on-stdin-close"]
    for f in FIXTURES:
        cmd += ["--load", f]
    log = open(os.path.join(work, "stack.log"), "w")
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    if not line:
        raise RuntimeError("the test EHR did not start:\n" + open(os.path.join(work, "stack.log")).read()[-3000:])
    return p, json.loads(line)


def pull_cmd(cobalt, base, key, out, *extra):
    return [cobalt, "pull", "--fhir-server", base, "--client-id", "cobalt-bulk", "--key", key, "--out", out, "--poll-cap-secs", "2", *extra]


def files_of(d):
    """The export's data: each file's decompressed lines, sorted, by name (manifest aside)."""
    out = {}
    for name in sorted(os.listdir(d)):
        if name.endswith(".ndjson.gz"):
            with gzip.open(os.path.join(d, name), "rt") as f:
                out[name] = sorted(f.read().splitlines())
        elif name.endswith(".ndjson"):
            with open(os.path.join(d, name)) as f:
                out[name] = sorted(f.read().splitlines())
    return out


def test_hfs(args, work, cobalt):
    key = os.path.join(work, "key.pem")
    subprocess.run([cobalt, "keys", "new", "--out", key], check=True, capture_output=True)
    jwks = os.path.join(work, "jwks.json")
    with open(jwks, "w") as f:
        f.write(subprocess.run([cobalt, "keys", "jwks", key], check=True, capture_output=True, text=True).stdout)
    t0 = time.time()
    stack, env = start_stack(args, work, jwks)
    figures.append(("HFS start and load (clinosim + 3 cases)", f"{time.time() - t0:.1f} s", ""))
    try:
        base = env["fhir_base"]
        written = os.path.join(work, "written")
        loaded = read_ndjson_dir(CLINOSIM) + fixture_resources()
        written_export(written, loaded)

        # 1. A whole pull, then screening, against screening what was written.
        exp1 = os.path.join(work, "exp1")
        code, err, secs, peak = run(pull_cmd(cobalt, base, key, exp1))
        check("HFS: cobalt pull exits 0", code == 0, err)
        manifest = json.load(open(os.path.join(exp1, "manifest.json"))) if code == 0 else {}
        check("HFS: the manifest keeps the server's transactionTime and counts each file",
              bool(manifest.get("transactionTime")) and all("count" in o for o in manifest.get("output", [])), manifest)
        check("HFS: several files per type where the server splits them (Observation-0, -1, ...)",
              sum(1 for o in manifest.get("output", []) if o["type"] == "Observation") > 1, manifest.get("output"))
        check("HFS: a refused DELETE of the export is reported, not fatal", "not deleted" in err or "deleted" not in err, err)
        c1, rows_pulled, e1, s_secs, s_peak = screen(cobalt, exp1, os.path.join(work, "s-pulled"))
        c2, rows_written, e2, _, _ = screen(cobalt, written, os.path.join(work, "s-written"))
        check("HFS: pull then screen gives the same rows as screen of what was written",
              c1 == 0 and c2 == 0 and rows_pulled == rows_written and len(rows_pulled) > 50,
              f"{len(rows_pulled)} vs {len(rows_written)} rows\n{e1}\n{e2}")
        figures.append(("HFS: cobalt pull of clinosim + 3 cases", f"{secs:.1f} s", f"{peak / 1024:.0f} MB"))
        figures.append(("HFS: cobalt screen of the pulled files", f"{s_secs:.2f} s", f"{s_peak / 1024:.0f} MB"))

        # 2. Killed mid-download, resumed: the same files.
        proxy = Proxy(base)
        proxy.mode = "slow"
        exp2 = os.path.join(work, "exp2")
        p = subprocess.Popen(pull_cmd(cobalt, proxy.base, key, exp2), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        whole = []
        while time.time() < deadline:
            whole = [n for n in os.listdir(exp2) if n.endswith(".gz") or n.endswith(".ndjson")] if os.path.isdir(exp2) else []
            if len(whole) >= 2 or p.poll() is not None:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        check("HFS: killed mid-download, the directory is not a complete export (no manifest.json)",
              not os.path.exists(os.path.join(exp2, "manifest.json")) and len(whole) >= 2, os.listdir(exp2) if os.path.isdir(exp2) else "no dir")
        proxy.mode = "pass"
        code, err, _, _ = run(pull_cmd(cobalt, proxy.base, key, exp2))
        check("HFS: the pull run again resumes and finishes", code == 0 and "already whole" in err, err)
        check("HFS: the resumed export holds the same files as the whole one", files_of(exp2) == files_of(exp1),
              f"{sorted(files_of(exp2))} vs {sorted(files_of(exp1))}")

        # 3. Failures: a clear message, exit 1, nothing presented as complete.
        other = os.path.join(work, "other.pem")
        subprocess.run([cobalt, "keys", "new", "--out", other], check=True, capture_output=True)
        def fails(name, cmd, needle, env_extra=None):
            out = cmd[cmd.index("--out") + 1]
            e = dict(os.environ, **(env_extra or {}))
            code, err, _, _ = run(cmd, env=e)
            check(f"HFS: {name}: exit 1 and a clear message", code == 1 and needle in err, f"exit {code}: {err}")
            check(f"HFS: {name}: no manifest.json", not os.path.exists(os.path.join(out, "manifest.json")))
        fails("a key the server does not know", pull_cmd(cobalt, base, other, os.path.join(work, "f-key")), "authentication failed")
        if shutil.which("faketime"):
            fails("an expired assertion (the clock an hour behind)", ["faketime", "-f", "-1h"] + pull_cmd(cobalt, base, key, os.path.join(work, "f-exp")), "authentication failed")
        else:
            check("faketime is installed (for the expired assertion)", False)
        proxy.mode = "500"
        fails("a server that answers 500", pull_cmd(cobalt, proxy.base, key, os.path.join(work, "f-500")), "the export store is offline")
        proxy.mode = "never"
        fails("a server that never completes", pull_cmd(cobalt, proxy.base, key, os.path.join(work, "f-never"), "--max-wait-secs", "4"), "did not complete within 4 s")
        proxy.mode = "truncate"
        cut = os.path.join(work, "f-cut")
        fails("a file cut short", pull_cmd(cobalt, proxy.base, key, cut), "cut short")
        check("HFS: the file cut short left no file under its final name",
              not any(n.endswith(".gz") or n.endswith(".ndjson") for n in os.listdir(cut)), os.listdir(cut))
        proxy.mode = "pass"
        code, err, _, _ = run(pull_cmd(cobalt, proxy.base, key, cut))
        check("HFS: after the cut, the pull run again completes with the same files", code == 0 and files_of(cut) == files_of(exp1), err)
        # The manifest's error files are kept and reported.
        proxy.mode = "errors"
        errs = os.path.join(work, "errs")
        code, err, _, _ = run(pull_cmd(cobalt, proxy.base, key, errs))
        m = json.load(open(os.path.join(errs, "manifest.json"))) if code == 0 else {}
        kept = [e["url"] for e in m.get("error", [])]
        check("HFS: the manifest's error files are downloaded, kept in manifest.json and reported",
              code == 0 and len(kept) == 1 and os.path.exists(os.path.join(errs, kept[0])) and "reported" in err and "problem" in err, f"{kept}\n{err}")
        proxy.mode = "pass"
        proxy.server.shutdown()

        # A token that expires during the pull is fetched again, each with a new assertion.
        with urllib.request.urlopen(urllib.request.Request(env["admin"] + "/log", method="DELETE")) as r:
            r.read()
        set_ttl(env, 2)
        ttl = os.path.join(work, "ttl")
        code, err, _, _ = run(pull_cmd(cobalt, base, key, ttl))
        set_ttl(env, 3600)
        with urllib.request.urlopen(env["admin"] + "/log") as r:
            log = json.load(r)
        grants = [e for e in log if e.get("type") == "token" and e.get("client_id") == "cobalt-bulk" and e.get("status") == 200]
        jtis = {e["client_assertion"]["jti"] for e in grants if e.get("client_assertion")}
        check("HFS: with 2 s tokens the pull fetches new tokens as they expire, each assertion with a new jti, ES384, aud the token endpoint",
              code == 0 and len(grants) >= 2 and len(jtis) == len(grants)
              and all(e["client_assertion"]["alg"] == "ES384" and e["client_assertion"]["aud"].endswith("/token") for e in grants),
              f"{len(grants)} grants, {len(jtis)} jtis\n{err}")

        # 4. Pull and screen in one command.
        out = os.path.join(work, "monthly")
        code, err, _, _ = run([cobalt, "screen", "--pull", "--fhir-server", base, "--client-id", "cobalt-bulk", "--key", key, "--out", out, "--as-of", AS_OF, "--poll-cap-secs", "2"])
        rows = open(os.path.join(out, "results.ndjson")).read().splitlines() if code == 0 else []
        check("HFS: cobalt screen --pull pulls into OUT/export and screens it", code == 0 and rows == rows_pulled, err)

        # 5. Incremental: only what changed after the first export.
        time.sleep(1.5)
        changed = [r for r in loaded if r.get("resourceType") == "Observation"][:3]
        token = admin_token(env, key, jwks)
        for r in changed:
            r = dict(r)
            r["status"] = "amended"
            put(base, token, r)
        exp3 = os.path.join(work, "exp3")
        code, err, _, _ = run(pull_cmd(cobalt, base, key, exp3, "--since-export", exp1))
        got = sum(len(v) for v in files_of(exp3).values()) if code == 0 else -1
        check("HFS: --since-export pulls only the resources changed after the first export", code == 0 and got == len(changed), f"{got} resources\n{err}")
        m3 = json.load(open(os.path.join(exp3, "manifest.json"))) if code == 0 else {}
        check("HFS: the incremental manifest names its _since", (m3.get("extension", {}).get("cobalt-pull", {}).get("since") or "") == manifest.get("transactionTime"), m3)

        # 6. The Spark job reads a pulled export as any other.
        if args.spark:
            sp = os.path.join(work, "spark")
            p = subprocess.run([sys.executable, os.path.join(ROOT, "spark/screen_job.py"), exp1, "--out", sp, "--as-of", AS_OF, "--format", "ndjson", "--cobalt", cobalt], capture_output=True, text=True, timeout=600)
            spark_rows = []
            rd = os.path.join(sp, "results")
            if p.returncode == 0 and os.path.isdir(rd):
                for n in sorted(os.listdir(rd)):
                    if n.endswith(".ndjson"):
                        spark_rows += open(os.path.join(rd, n)).read().splitlines()
            check("Spark: the job on a pulled export gives the same rows as cobalt screen", sorted(spark_rows) == sorted(rows_pulled) and spark_rows, p.stderr[-2000:])
    finally:
        stack.stdin.close()
        stack.terminate()
        stack.wait(timeout=30)


def admin_token(env, key, jwks, client="cobalt-bulk"):
    """A system/*.cruds token for a client with cobalt's key, with an assertion signed by PyJWT
    (an independent signer), to change resources on the server."""
    import jwt  # PyJWT, installed by .ci/run's service step
    with urllib.request.urlopen(env["smart_configuration"]) as r:
        endpoint = json.load(r)["token_endpoint"]
    kid = json.load(open(jwks))["keys"][0]["kid"]
    now = int(time.time())
    assertion = jwt.encode({"iss": client, "sub": client, "aud": endpoint, "jti": f"test-{now}-{os.getpid()}-{time.time()}", "iat": now, "exp": now + 300},
                           open(key).read(), algorithm="ES384", headers={"kid": kid})
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "system/*.cruds",
                                   "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                   "client_assertion": assertion}).encode()
    with urllib.request.urlopen(urllib.request.Request(endpoint, data=body)) as r:
        return json.load(r)["access_token"]


def set_ttl(env, seconds):
    req = urllib.request.Request(env["admin"] + "/token-ttl", data=json.dumps({"seconds": seconds}).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        r.read()


def put(base, token, resource):
    req = urllib.request.Request(f"{base}/{resource['resourceType']}/{resource['id']}", data=json.dumps(resource).encode(), method="PUT",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    with urllib.request.urlopen(req) as r:
        r.read()


def test_sekmet(work, cobalt):
    """SEKMET: a second, independent Bulk Data server with its own token endpoint."""
    key = os.path.join(work, "sk-key.pem")
    subprocess.run([cobalt, "keys", "new", "--out", key], check=True, capture_output=True)
    jwks = os.path.join(work, "sk-jwks.json")
    with open(jwks, "w") as f:
        f.write(subprocess.run([cobalt, "keys", "jwks", key], check=True, capture_output=True, text=True).stdout)
    cmd = [sys.executable, os.path.join(HERE, "ehr/sekmet.py"), "--client", f"cobalt-bulk={jwks}",
           "--client", f"cobalt-writer={jwks}=system/*.cruds", "--load-ndjson", CLINOSIM, "--group", "everyone", "--exit-on-stdin-close"]
    for f in FIXTURES:
        cmd += ["--load", f]
    log = open(os.path.join(work, "sekmet.log"), "w")
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    if not check("SEKMET starts", bool(line), open(os.path.join(work, "sekmet.log")).read()[-3000:]):
        return
    env = json.loads(line)
    figures.append(("SEKMET start and load (clinosim + 3 cases)", f"{time.time() - t0:.1f} s", ""))
    try:
        base = env["fhir_base"]
        rejected = {(r["type"], r["id"]) for r in env.get("rejected", [])}
        loaded = [r for r in read_ndjson_dir(CLINOSIM) + fixture_resources() if (r.get("resourceType"), r.get("id")) not in rejected]
        # A Patient-level export carries no Medication (it references no patient).
        written = os.path.join(work, "sk-written")
        written_export(written, [r for r in loaded if r.get("resourceType") != "Medication"])
        exp = os.path.join(work, "sk-exp")
        code, err, secs, peak = run(pull_cmd(cobalt, base, key, exp))
        check("SEKMET: cobalt pull exits 0", code == 0, err)
        c1, rows_pulled, e1, s_secs, s_peak = screen(cobalt, exp, os.path.join(work, "sk-s1"))
        c2, rows_written, e2, _, _ = screen(cobalt, written, os.path.join(work, "sk-s2"))
        check("SEKMET: pull then screen gives the same rows as screen of what was loaded",
              c1 == 0 and c2 == 0 and rows_pulled == rows_written and len(rows_pulled) > 50,
              f"{len(rows_pulled)} vs {len(rows_written)} rows\n{e1}\n{e2}")
        figures.append(("SEKMET: cobalt pull of clinosim + 3 cases", f"{secs:.1f} s", f"{peak / 1024:.0f} MB"))
        figures.append(("SEKMET: cobalt screen of the pulled files", f"{s_secs:.2f} s", f"{s_peak / 1024:.0f} MB"))
        check("SEKMET: its DELETE of the export needs a delete scope; a refusal is reported, exit 0", code == 0 and ("not deleted" in err or "deleted" not in err), err)
        g = os.path.join(work, "sk-group")
        code, err, _, _ = run(pull_cmd(cobalt, base, key, g, "--group", "everyone"))
        c3, rows_group, e3, _, _ = screen(cobalt, g, os.path.join(work, "sk-s3"))
        check("SEKMET: a Group export (--group) screens to the same rows", code == 0 and rows_group == rows_pulled, f"{err}\n{e3}")
        time.sleep(1.5)
        token = admin_token(env, key, jwks, client="cobalt-writer")
        changed = [dict(r, status="amended") for r in loaded if r.get("resourceType") == "Observation"][:2]
        for r in changed:
            put(base, token, r)
        inc = os.path.join(work, "sk-inc")
        code, err, _, _ = run(pull_cmd(cobalt, base, key, inc, "--since-export", exp))
        got = sum(len(v) for v in files_of(inc).values()) if code == 0 else -1
        check("SEKMET: --since-export pulls only the resources changed after the first export", code == 0 and got == len(changed), f"{got}\n{err}")
        code, err, _, _ = run(pull_cmd(cobalt, base, os.path.join(work, "key.pem"), os.path.join(work, "sk-bad")))
        check("SEKMET: a key it does not know: exit 1, authentication failed, no manifest", code == 1 and "authentication failed" in err
              and not os.path.exists(os.path.join(work, "sk-bad", "manifest.json")), err)
    finally:
        p.stdin.close()
        p.terminate()
        p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cobalt")
    ap.add_argument("--hfs", default=os.path.join(CACHE, "helios-hfs-0.2.7/bin/hfs"))
    ap.add_argument("--data", default=os.path.join(CACHE, "hfs-data"))
    ap.add_argument("--skip-sekmet", action="store_true")
    ap.add_argument("--spark", action="store_true")
    args = ap.parse_args()
    cobalt = os.path.abspath(args.cobalt)
    work = tempfile.mkdtemp(prefix="cobalt-pull-")
    try:
        test_hfs(args, work, cobalt)
    except Exception:  # noqa: BLE001 - a crash of the test is a failure, with its trace
        import traceback
        check("HFS tests ran to the end", False, traceback.format_exc())
    if not args.skip_sekmet:
        try:
            test_sekmet(work, cobalt)
        except Exception:  # noqa: BLE001
            import traceback
            check("SEKMET tests ran to the end", False, traceback.format_exc())
    shutil.rmtree(work, ignore_errors=True)
    for name, t, mem in figures:
        print(f"figure: {name}: {t} {mem}")
    print(f"pull: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
