#!/usr/bin/env python3
"""Two `cobalt serve` replicas on one PostgreSQL database, behind this script's own round-robin
client, with tokens from an independent signer (PyJWT):

1. a token used on one replica is refused (401) by the other, and by the first again;
2. under load, one replica is killed with SIGKILL: every answered request (200) has its audit
   row, from either replica;
3. under load, the database is stopped and started again: the replicas answer 503 (and
   /healthz 503) while it is down and 200 once it is back, by themselves; every 200 has its row;
4. `cobalt audit export --db postgres://...` writes every row;
5. a SMART launch begun on one replica is finished on the other and its record read on the
   first (the launch state and the session are in the shared store, sealed under the key the
   replicas share); the same `state` is refused on either replica afterwards; a replica with
   another session key cannot open the session; the token is nowhere in the database in clear.
   The EHR is a small mock here (scripts/smart-test.mjs runs a real one) that checks cobalt's
   client assertion with PyJWT and its PKCE verifier;
6. with the database on TLS, a replica given `?sslmode=require` and the CA (`--db-ca`) connects
   over TLS (pg_stat_ssl says so), and one given another CA is refused (503), never plaintext.

PostgreSQL comes from Debian's packages (`postgresql`; /usr/lib/postgresql/*/bin): `initdb` in a
temporary directory, started on a free loopback port, stopped at the end. Nothing is assumed to
be running. As root, the server runs as the `postgres` user.

Usage: python3 scripts/test_replicas.py [path/to/cobalt]   (default target/release/cobalt)
Prints one line per check and "replicas: N passed, N failed"; exits non-zero on any failure.
"""

import base64
import glob
import hashlib
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

COBALT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/cobalt")
ISS = "https://ehr.replicas.test"
PUBLIC = "https://cobalt.replicas.test"
PATH = "/cds-services/cobalt-b12-patient-view"
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PostgreSQL, from Debian's packages ----------------------------------------------------------


class Postgres:
    def __init__(self, tmp):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise SystemExit("PostgreSQL not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
        self.bin = os.path.dirname(bins[-1])
        self.dir = os.path.join(tmp, "pg")
        self.sock = os.path.join(tmp, "pgsock")
        os.makedirs(self.sock)
        os.chmod(tmp, 0o777)
        os.chmod(self.sock, 0o777)
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.run("initdb", "-D", self.dir, "--auth=trust", "-U", "cobalt", "-E", "UTF8")
        self.url = f"postgres://cobalt@127.0.0.1:{self.port}/postgres"

    def run(self, tool, *args):
        p = subprocess.run(self.as_user + [os.path.join(self.bin, tool), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{tool} failed: {p.stdout[-2000:]}")

    def start(self, extra=""):
        self.run("pg_ctl", "-D", self.dir, "-l", os.path.join(self.sock, "..", "pg.log"), "-w", "-o",
                 f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=60 {extra}", "start")

    def query(self, sql):
        p = subprocess.run([os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "cobalt",
                            "-d", "postgres", "-Atc", sql], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, PGSSLMODE="disable"))
        return p.stdout.strip()

    def tls(self, tmp):
        """Restarts the server with TLS on, its certificate for 127.0.0.1 signed by a CA of the
        test's own. Returns that CA's PEM file and another CA's, which did not sign it."""
        f = lambda n: os.path.join(tmp, n)  # noqa: E731
        ca, other, crt, key = f("ca.crt"), f("other.crt"), f("server.crt"), f("server.key")
        ext = f("server.ext")
        with open(ext, "w") as e:
            e.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        for cmd in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", ca, "-days", "2",
             "-subj", "/CN=cobalt test CA"],
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("other.key"), "-out", other, "-days", "2",
             "-subj", "/CN=another CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", f("server.csr"), "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", f("server.csr"), "-CA", ca, "-CAkey", f("ca.key"), "-CAcreateserial", "-out", crt,
             "-days", "2", "-extfile", ext],
        ):
            subprocess.run(["openssl"] + cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.as_user:
            shutil.chown(key, "postgres")
            shutil.chown(crt, "postgres")
        os.chmod(key, 0o600)
        self.stop()
        self.start(f"-c ssl=on -c ssl_cert_file={crt} -c ssl_key_file={key}")
        return ca, other

    def stop(self):
        self.run("pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")


# --- an independent signer and its JWKS ----------------------------------------------------------

key = ec.generate_private_key(ec.SECP384R1())
pub = key.public_key().public_numbers()


def b64(n):
    return base64.urlsafe_b64encode(n.to_bytes(48, "big")).rstrip(b"=").decode()


JWKS = {"keys": [{"kty": "EC", "crv": "P-384", "x": b64(pub.x), "y": b64(pub.y), "kid": "r1", "alg": "ES384", "use": "sig"}]}


class Jwks(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(JWKS).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def token():
    now = int(time.time())
    c = {"iss": ISS, "sub": "replicas-test", "aud": PUBLIC + PATH, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return jwt.encode(c, key, algorithm="ES384", headers={"kid": "r1"})


HOOK = json.dumps({
    "hook": "patient-view",
    "hookInstance": str(uuid.uuid4()),
    "context": {"userId": "Practitioner/1", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1961-04-02"},
        "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
            "resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-11-01",
            "valueQuantity": {"value": 150, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"}}}]},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "procedures": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}).encode()


def call(port, tok, rid, path=PATH, method="POST"):
    """(status, None) or (None, error) for a request to one replica."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=HOOK if method == "POST" else None, method=method)
    req.add_header("content-type", "application/json")
    req.add_header("x-request-id", rid)
    if tok:
        req.add_header("authorization", f"Bearer {tok}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status, None
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, None
    except OSError as e:
        return None, str(e)


# --- the replicas ---------------------------------------------------------------------------------


class Replica:
    def __init__(self, name, db, jwks_url, tmp, extra=()):
        self.name, self.db, self.jwks_url, self.tmp, self.extra = name, db, jwks_url, tmp, list(extra)
        self.port = free_port()
        self.proc = None

    def start(self, healthy=True):
        log = open(os.path.join(self.tmp, f"{self.name}.log"), "a")
        self.proc = subprocess.Popen(
            [COBALT, "serve", "--listen", f"127.0.0.1:{self.port}", "--db", self.db, "--trust", f"{ISS}={self.jwks_url}",
             "--public-url", PUBLIC, "--db-pool-size", "4", "--db-timeout-ms", "1000"] + self.extra,
            stdout=log, stderr=log)
        for _ in range(100):
            status = call(self.port, None, "start", "/healthz", "GET")[0]
            if status == 200 or (status is not None and not healthy):
                return status
            time.sleep(0.1)
        with open(os.path.join(self.tmp, f"{self.name}.log")) as f:
            tail = f.read()[-1500:]
        raise SystemExit(f"replica {self.name} did not become healthy: {tail}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Load:
    """Threads calling the replicas in turn, each request with a fresh token and request id."""

    def __init__(self, replicas, threads=6):
        self.replicas, self.stop_at = replicas, None
        self.lock = threading.Lock()
        self.answers = []  # (request id, replica, status or None)
        self.running = True
        self.threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(threads)]

    def worker(self, i):
        n = 0
        while self.running:
            r = self.replicas[(i + n) % len(self.replicas)]
            n += 1
            rid = f"load-{uuid.uuid4()}"
            status, _err = call(r.port, token(), rid)
            with self.lock:
                self.answers.append((rid, r.name, status))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for t in self.threads:
            t.join()

    def statuses(self):
        with self.lock:
            return [s for _, _, s in self.answers]


# --- a mock EHR for SMART across replicas ------------------------------------------------------------

class Ehr(http.server.BaseHTTPRequestHandler):
    """Discovery, a token endpoint that checks cobalt's assertion (PyJWT) and PKCE, and FHIR
    reads of patient p1 with the token it issued."""
    origin = ""
    cobalt_jwks = {}
    challenge = {}  # code -> code_challenge
    TOKEN = "mock-access-token-0123456789abcdef"
    seen = []

    def reply(self, status, body, ctype="application/json"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/fhir/.well-known/smart-configuration":
            return self.reply(200, {"issuer": self.origin, "authorization_endpoint": self.origin + "/auth",
                                    "token_endpoint": self.origin + "/token", "capabilities": ["launch-ehr"]})
        if self.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return self.reply(401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]})
        if path == "/fhir/Patient/p1":
            return self.reply(200, {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1961-04-02"})
        entries = []
        if path == "/fhir/Observation":
            entries = [{"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                                     "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
                                     "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-11-01",
                                     "valueQuantity": {"value": 90, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"}}}]
        return self.reply(200, {"resourceType": "Bundle", "type": "searchset", "entry": entries})

    def do_POST(self):
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["content-length"])).decode()))
        Ehr.seen.append(form)
        try:
            header = jwt.get_unverified_header(form["client_assertion"])
            jwk = next(k for k in self.cobalt_jwks["keys"] if k["kid"] == header["kid"])
            pub = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
            claims = jwt.decode(form["client_assertion"], pub, algorithms=["ES384"], audience=self.origin + "/token")
            assert claims["iss"] == claims["sub"] == "cobalt-replicas"
            verifier = form["code_verifier"].encode()
            s256 = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
            assert self.challenge.get(form["code"]) == s256, "PKCE"
        except Exception as e:  # noqa: BLE001 - any failure is the client's
            return self.reply(400, {"error": "invalid_client", "error_description": str(e)})
        idt = "e30." + base64.urlsafe_b64encode(json.dumps({"fhirUser": "Practitioner/dr-who"}).encode()).rstrip(b"=").decode() + ".sig"
        return self.reply(200, {"access_token": self.TOKEN, "token_type": "Bearer", "expires_in": 300,
                                "scope": "launch patient/*.rs", "patient": "p1", "id_token": idt})

    def log_message(self, *args):
        pass


def raw(port, path, cookie=None):
    """A GET without following redirects: (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request("GET", path, headers={"cookie": cookie} if cookie else {})
    r = c.getresponse()
    return r.status, r.getheaders(), r.read()


def cookie_of(headers, name):
    for k, v in headers:
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";")[0]
    return None


def smart_across_replicas(pg, jwks_url, tmp):
    key = os.path.join(tmp, "smart.pem")
    subprocess.run([COBALT, "keys", "new", "--out", key], check=True, capture_output=True)
    Ehr.cobalt_jwks = json.loads(subprocess.run([COBALT, "keys", "jwks", key], check=True, capture_output=True, text=True).stdout)
    ehr_port = free_port()
    Ehr.origin = f"http://127.0.0.1:{ehr_port}"
    ehr = http.server.ThreadingHTTPServer(("127.0.0.1", ehr_port), Ehr)
    threading.Thread(target=ehr.serve_forever, daemon=True).start()
    fhir = Ehr.origin + "/fhir"
    shared = os.path.join(tmp, "session.key")
    with open(shared, "w") as f:
        f.write(os.urandom(32).hex())
    stranger = os.path.join(tmp, "other.key")
    with open(stranger, "w") as f:
        f.write(os.urandom(32).hex())
    smart = ["--smart-client-id", "cobalt-replicas", "--smart-key", key, "--smart-fhir-server", fhir]
    e = Replica("e", pg.url, jwks_url, tmp, smart + ["--smart-session-key", shared])
    f = Replica("f", pg.url, jwks_url, tmp, smart + ["--smart-session-key", shared])
    g = Replica("g", pg.url, jwks_url, tmp, smart + ["--smart-session-key", stranger])
    try:
        e.start(), f.start(), g.start()
        q = urllib.parse.urlencode({"iss": fhir, "launch": "launch-123"})
        status, headers, _ = raw(e.port, f"/smart/launch?{q}")
        location = dict((k.lower(), v) for k, v in headers).get("location", "")
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        launch_cookie = cookie_of(headers, "__Host-cobalt-launch")
        check("SMART: replica e redirects the launch to the EHR (302, PKCE S256, a launch cookie)",
              status == 302 and location.startswith(Ehr.origin + "/auth") and params.get("code_challenge_method") == "S256"
              and launch_cookie is not None, (status, location))
        Ehr.challenge["code-1"] = params.get("code_challenge")
        cb = "/smart/callback?" + urllib.parse.urlencode({"code": "code-1", "state": params.get("state", ""), "iss": Ehr.origin})
        status, headers, body = raw(f.port, cb, launch_cookie)
        session = cookie_of(headers, "__Host-cobalt-session")
        check("SMART: replica f finishes the launch replica e began (303, a session cookie)",
              status == 303 and session is not None, (status, body[:300]))
        status, _, body = raw(e.port, "/smart/record", session)
        rec = json.loads(body) if status == 200 else {}
        check("SMART: replica e reads the record of the session made on f",
              status == 200 and rec.get("patient") == "p1" and rec["assessment"]["conclusions"]["b12_status"] == "deficient", (status, body[:300]))
        check("SMART: the state is used once across replicas (400 on e and on f)",
              raw(e.port, cb, launch_cookie)[0] == 400 and raw(f.port, cb, launch_cookie)[0] == 400)
        check("SMART: a replica with another session key cannot open the session (401)", raw(g.port, "/smart/record", session)[0] == 401)
        dump = pg.query("select string_agg(encode(data, 'escape'), ' ') from sealed")
        check("SMART: the token is not in the database in clear", Ehr.TOKEN not in dump and len(dump) > 0, dump[:100])
        rows = subprocess.run([COBALT, "audit", "export", "--db", pg.url], capture_output=True, text=True).stdout
        kinds = [json.loads(x) for x in rows.splitlines() if x.strip()]
        check("SMART: the launch and the read are in the shared audit log with the user, the patient and the FHIR server",
              any(r["kind"] == "smart-launch" and r["patient"] == "p1" and r["actor"] == "Practitioner/dr-who" for r in kinds)
              and any(r["kind"] == "smart-read" and r["fhir_server"] == fhir for r in kinds) and Ehr.TOKEN not in rows)
    finally:
        e.stop(), f.stop(), g.stop()
        ehr.shutdown()


def audit_ids(db):
    p = subprocess.run([COBALT, "audit", "export", "--db", db.split("?")[0]], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"audit export failed: {p.stderr}")
    return [json.loads(x)["client_request_id"] for x in p.stdout.splitlines() if x.strip()]


def main():
    tmp = tempfile.mkdtemp(prefix="cobalt-replicas-")
    jwks_port = free_port()
    jwks = http.server.ThreadingHTTPServer(("127.0.0.1", jwks_port), Jwks)
    threading.Thread(target=jwks.serve_forever, daemon=True).start()
    jwks_url = f"http://127.0.0.1:{jwks_port}/jwks.json"
    pg = Postgres(tmp)
    pg.start()
    a = Replica("a", pg.url, jwks_url, tmp)
    b = Replica("b", pg.url, jwks_url, tmp)
    try:
        a.start()
        b.start()
        check("both replicas healthy on one database",
              call(a.port, None, "h", "/healthz", "GET")[0] == 200 and call(b.port, None, "h", "/healthz", "GET")[0] == 200)

        # 1. One token, two replicas.
        t = token()
        first = call(a.port, t, "replay-1")[0]
        other = call(b.port, t, "replay-2")[0]
        again = call(a.port, t, "replay-3")[0]
        check("a token is accepted once: 200 on replica a", first == 200, first)
        check("the same token on replica b is refused (401)", other == 401, other)
        check("the same token on replica a again is refused (401)", again == 401, again)

        # 2. SIGKILL under load.
        with Load([a, b]) as load:
            time.sleep(2)
            b.kill()
            time.sleep(2)
        ok = [rid for rid, _, s in load.answers if s == 200]
        by = {name: sum(1 for _, n, s in load.answers if s == 200 and n == name) for name in ("a", "b")}
        ids = set(audit_ids(pg.url))
        missing = [rid for rid in ok if rid not in ids]
        check(f"under load, replica b killed with SIGKILL: both answered ({by})", by["a"] > 0 and by["b"] > 0, by)
        check(f"every 200 has its audit row ({len(ok)} answered)", not missing, f"{len(missing)} missing: {missing[:3]}")
        check("the killed replica's callers got no answer, not an answer without a row",
              all(s in (200, None) for _, n, s in load.answers if n == "b"),
              sorted({s for _, n, s in load.answers if n == "b"}, key=str))
        b.start()

        # 3. The database stopped and started under load.
        health = []
        with Load([a, b]) as load:
            time.sleep(1.5)
            pg.stop()
            time.sleep(1.5)
            health.append(call(a.port, None, "h", "/healthz", "GET")[0])
            live = call(a.port, None, "h", "/livez", "GET")[0]
            ready = call(a.port, None, "h", "/readyz", "GET")[0]
            during = len(load.answers)
            time.sleep(1.5)
            pg.start()
            time.sleep(3)
            health.append(call(a.port, None, "h", "/healthz", "GET")[0])
        statuses = [s for _, _, s in load.answers]
        after = [s for _, _, s in load.answers[during:]][-20:]
        check("while the database is down the replicas answer 503", 503 in statuses, sorted(set(map(str, statuses))))
        check("/healthz is 503 while the database is down, 200 once it is back", health == [503, 200], health)
        check("while it is down /readyz is 503 and /livez 200 (the process is alive: no restart)",
              (ready, live) == (503, 200), (ready, live))
        check("once the database is back the replicas answer 200 by themselves", after and all(s == 200 for s in after), after)
        check("no status but 200 and 503 under the outage",
              all(s in (200, 503) for s in statuses), sorted(set(map(str, statuses))))
        ok = [rid for rid, _, s in load.answers if s == 200]
        ids = set(audit_ids(pg.url))
        missing = [rid for rid in ok if rid not in ids]
        check(f"every 200 around the outage has its audit row ({len(ok)} answered)", not missing, f"{len(missing)} missing")

        # 4. The export reads every row.
        n = len(audit_ids(pg.url))
        check(f"audit export reads PostgreSQL ({n} rows)", n >= len(ok))

        # 5. SMART sessions across replicas.
        smart_across_replicas(pg, jwks_url, tmp)

        # 6. TLS to the database.
        a.stop()
        b.stop()
        ca, other = pg.tls(tmp)
        url = pg.url + "?sslmode=require"
        c = Replica("c", url, jwks_url, tmp, ["--db-ca", ca])
        d = Replica("d", url, jwks_url, tmp, ["--db-ca", other])
        try:
            check("over TLS with the database's CA: healthy", c.start() == 200)
            check("over TLS: an answer and its row", call(c.port, token(), "tls-1")[0] == 200 and "tls-1" in audit_ids(pg.url))
            ssl = pg.query("select count(*) from pg_stat_ssl where ssl")
            check(f"the database sees TLS connections ({ssl})", ssl.isdigit() and int(ssl) > 0, ssl)
            check("with a CA that did not sign the certificate: 503, no plaintext fallback", d.start(healthy=False) == 503)
        finally:
            c.stop()
            d.stop()
    finally:
        a.stop()
        b.stop()
        try:
            pg.stop()
        except SystemExit:
            pass
        jwks.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"replicas: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
