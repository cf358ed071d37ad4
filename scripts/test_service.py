#!/usr/bin/env python3
"""Calls a running `cobalt serve` over loopback with tokens minted by an independent JWT library
(PyJWT with cryptography), and checks every refusal the CDS Hooks specification asks for, the
accepted algorithms, feedback, the audit export and graceful shutdown.

Usage: python3 scripts/test_service.py [path/to/cobalt]   (default target/release/cobalt)
Prints one line per check and a closing "N passed, N failed"; exits non-zero on any failure.
"""

import base64
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

COBALT = sys.argv[1] if len(sys.argv) > 1 else "target/release/cobalt"
ISS = "https://ehr.pyjwt.test"
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(n, length):
    return base64.urlsafe_b64encode(n.to_bytes(length, "big")).rstrip(b"=").decode()


ec_key = ec.generate_private_key(ec.SECP384R1())
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_pub = ec_key.public_key().public_numbers()
rsa_pub = rsa_key.public_key().public_numbers()
JWKS = {"keys": [
    {"kty": "EC", "crv": "P-384", "x": b64(ec_pub.x, 48), "y": b64(ec_pub.y, 48), "kid": "py-ec", "alg": "ES384", "use": "sig"},
    {"kty": "RSA", "n": b64(rsa_pub.n, 256), "e": b64(rsa_pub.e, 3), "kid": "py-rsa", "alg": "RS384", "use": "sig"},
]}


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


jwks_port = free_port()
jwks_server = http.server.ThreadingHTTPServer(("127.0.0.1", jwks_port), Jwks)
threading.Thread(target=jwks_server.serve_forever, daemon=True).start()
JWKS_URL = f"http://127.0.0.1:{jwks_port}/jwks.json"

port = free_port()
base = f"http://127.0.0.1:{port}"
tmp = tempfile.mkdtemp(prefix="cobalt-service-")
db = os.path.join(tmp, "audit.sqlite3")
proc = subprocess.Popen(
    [COBALT, "serve", "--listen", f"127.0.0.1:{port}", "--db", db, "--trust", f"{ISS}={JWKS_URL}"],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
)


def request(method, path, body=None, token=None, raw_token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token is not None:
        req.add_header("authorization", f"Bearer {token}")
    if raw_token is not None:
        req.add_header("authorization", raw_token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


for _ in range(100):
    try:
        if request("GET", "/healthz")[0] == 200:
            break
    except OSError:
        time.sleep(0.1)
else:
    print("FAIL the service did not start:", proc.stderr.read().decode()[-2000:])
    sys.exit(1)

PATH = "/cds-services/cobalt-b12-patient-view"
AUD = base + PATH


def claims(**over):
    now = int(time.time())
    c = {"iss": ISS, "sub": "py-client", "aud": AUD, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def es384(c, **headers):
    return jwt.encode(c, ec_key, algorithm="ES384", headers={"kid": "py-ec", **headers})


HOOK = {
    "hook": "patient-view",
    "hookInstance": str(uuid.uuid4()),
    "context": {"userId": "Practitioner/1", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1970-01-01"},
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
}

status, body = request("GET", "/cds-services")
check("discovery answers without a token", status == 200 and b"patient-view" in body, status)

refusals = [
    ("no token", dict()),
    ("alg none", dict(token=jwt.encode(claims(), None, algorithm="none", headers={"kid": "py-ec"}))),
    ("HS256", dict(token=jwt.encode(claims(), "secret-shared-with-nobody-32-bytes!", algorithm="HS256", headers={"kid": "py-ec"}))),
    ("wrong audience", dict(token=es384(claims(aud=base + "/cds-services/cobalt-b12-order-sign")))),
    ("expired", dict(token=es384(claims(exp=int(time.time()) - 600, iat=int(time.time()) - 900)))),
    ("issuer not trusted", dict(token=es384(claims(iss="https://ehr.untrusted.test")))),
    ("JWKS URL not trusted (jku)", dict(token=es384(claims(), jku="http://127.0.0.1:9/jwks.json"))),
    ("unknown kid", dict(token=jwt.encode(claims(), ec_key, algorithm="ES384", headers={"kid": "nobody"}))),
    ("no jti", dict(token=es384(claims(jti=None)))),
    ("not a bearer token", dict(raw_token="Basic dXNlcjpwYXNz")),
]
for name, kw in refusals:
    status, body = request("POST", PATH, HOOK, **kw)
    check(f"refused: {name}", status == 401 and body == b"", f"{status} {body[:200]!r}")

token = es384(claims())
status, body = request("POST", PATH, HOOK, token=token)
cards = json.loads(body).get("cards", []) if status == 200 else []
check("accepted: ES384", status == 200 and len(cards) >= 1, f"{status} {body[:300]!r}")
check("card summary under 140 characters", all(len(c["summary"]) < 140 for c in cards))
status, _ = request("POST", PATH, HOOK, token=token)
check("refused: replayed jti", status == 401, status)
status, body = request("POST", PATH, HOOK, token=jwt.encode(claims(), rsa_key, algorithm="RS384", headers={"kid": "py-rsa"}))
check("accepted: RS384", status == 200, f"{status} {body[:200]!r}")

fb_path = PATH + "/feedback"
fb = {"feedback": [{"card": cards[0]["uuid"] if cards else str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2026-01-01T00:00:00Z"}]}
status, _ = request("POST", fb_path, fb, token=es384(claims(aud=base + fb_path)))
check("feedback recorded", status == 200, status)

proc.send_signal(signal.SIGTERM)
try:
    code = proc.wait(timeout=10)
except subprocess.TimeoutExpired:
    proc.kill()
    code = None
check("graceful shutdown on SIGTERM", code == 0, code)
logs = proc.stderr.read().decode() + proc.stdout.read().decode()
check("no token in the logs", token not in logs and "eyJ" not in logs)
check("no patient data in the logs", "1970-01-01" not in logs and "2132-9" not in logs)

out = subprocess.run([COBALT, "audit", "export", "--db", db], capture_output=True, text=True)
rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
kinds = sorted(r["kind"] for r in rows)
check("audit export: every answered call and the feedback", out.returncode == 0 and kinds == ["feedback", "hook", "hook"], kinds)

jwks_server.shutdown()
print(f"service: {results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
