#!/usr/bin/env python3
"""Smoke test of the SEKMET test Bulk Data server (sekmet.py), by HTTP alone, as a Bulk Data client:
SMART Backend Services tokens (client_credentials with an ES384 private_key_jwt assertion), then
Patient/$export, Group/{id}/$export, $export with _since, each with kick-off, polling, the
manifest, the downloads and DELETE of the status URL; and the token endpoint's refusals (wrong
key, expired assertion, reused jti, ...).

Usage: python3 scripts/ehr/sekmet_smoke.py
  (needs `pip install -r scripts/ehr/requirements.txt`: sekmet-fhir, which brings PyJWT and
  cryptography). Loads tests/data/clinosim and the three dev bundles of cobalt-fhir's fixtures.
Prints what it finds on stderr and "sekmet-smoke: N passed, M failed" on stdout; exits non-zero
on a failure.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

try:
    import jwt  # PyJWT
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError as missing:
    print(f"sekmet-smoke: {missing}: run python3 -m pip install -r scripts/ehr/requirements.txt", file=sys.stderr)
    print("sekmet-smoke: 0 passed, 1 failed")
    sys.exit(1)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLINOSIM = REPO / "tests/data/clinosim"
FIXTURES = [REPO / "crates/cobalt-fhir/tests/fixtures" / f"{n}.json"
            for n in ("dev-B12-11", "dev-B12-14", "dev-COEX-02")]
GROUP, GROUP_PATIENTS = "smoke-group", ["pat-b12-11", "pat-coex-02"]
TYPES = ["Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "Medication",
         "Procedure"]
BULK, WRITER = "smoke-bulk", "smoke-writer"  # the Bulk Data client, and a client that may write
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

passed = failed = 0


def check(name: str, ok: bool, detail: object = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}{f': {detail}' if detail != '' and not ok else ''}", file=sys.stderr)
    return ok


def note(text: str) -> None:
    print(f"smoke: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Keys and client assertions

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    """An ES384 (P-384) key pair; kid = the RFC 7638 thumbprint of the public JWK."""

    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP384R1())
        numbers = self.private.public_key().public_numbers()
        members = {"crv": "P-384", "kty": "EC",  # the required members, in lexical order
                   "x": b64url(numbers.x.to_bytes(48, "big")), "y": b64url(numbers.y.to_bytes(48, "big"))}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        self.kid = b64url(hashlib.sha256(canonical).digest())
        self.public_jwk = {**members, "kid": self.kid, "alg": "ES384", "use": "sig"}

    def assertion(self, client_id: str, aud: str, *, jti: str | None = None, iat: int | None = None,
                  exp: int | None = None) -> str:
        """A private_key_jwt client assertion: iss = sub = client id, aud = the token endpoint."""
        now = int(time.time())
        iat = now if iat is None else iat
        claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": jti or str(uuid.uuid4()),
                  "iat": iat, "exp": iat + 300 if exp is None else exp}
        return jwt.encode(claims, self.private, algorithm="ES384", headers={"kid": self.kid, "typ": "JWT"})


# ---------------------------------------------------------------------------------------------
# HTTP (urllib: no automatic decompression, so Content-Encoding is seen as sent)

class Reply:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r}"


def http(method: str, url: str, headers: dict | None = None, data: bytes | None = None) -> Reply:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return Reply(res.status, res.headers, res.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def token_request(token_endpoint: str, assertion: str, scope: str | None) -> Reply:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}
    if scope is not None:
        form["scope"] = scope
    return http("POST", token_endpoint, {"Content-Type": "application/x-www-form-urlencoded"},
                urllib.parse.urlencode(form).encode())


def get_token(env: dict, key: Key, client_id: str, scope: str) -> str:
    res = token_request(env["token_endpoint"], key.assertion(client_id, env["token_endpoint"]), scope)
    if not check(f"token for {client_id} with {scope!r}: 200", res.status == 200, res):
        raise RuntimeError("no token")
    return res.json()["access_token"]


def instant(dt: datetime | None = None) -> str:
    """A FHIR instant in UTC with milliseconds and Z, the form SEKMET writes meta.lastUpdated in."""
    dt = (dt or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------------
# What was loaded, read from the files themselves

def local_resources() -> list[dict]:
    out = []
    for f in FIXTURES:
        out += [e["resource"] for e in json.loads(f.read_text())["entry"]]
    for f in sorted(CLINOSIM.glob("*.ndjson.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as lines:
            out += [json.loads(line) for line in lines if line.strip()]
    return out


def subject_of(r: dict) -> str | None:
    ref = (r.get("subject") or r.get("patient") or r.get("beneficiary") or {}).get("reference", "")
    return ref.rsplit("/", 1)[-1] if ref else (r["id"] if r["resourceType"] == "Patient" else None)


# ---------------------------------------------------------------------------------------------
# One export: kick-off, polling, manifest, downloads

def export(env: dict, token: str, path: str, params: dict, label: str) -> dict | None:
    """Runs one export; returns {"status_url", "manifest", "files": {type: [resources]}} or None."""
    auth = {"Authorization": f"Bearer {token}"}
    query = urllib.parse.urlencode(params, safe=",")
    url = f"{env['fhir_base']}/{path}" + (f"?{query}" if query else "")
    t0 = time.monotonic()
    kick = http("GET", url, {**auth, "Accept": "application/fhir+json", "Prefer": "respond-async"})
    status_url = kick.headers.get("Content-Location")
    if not check(f"{label}: kick-off answers 202 with Content-Location", kick.status == 202 and bool(status_url), kick):
        return None
    note(f"{label}: kick-off 202, body {kick.body!r}, Content-Location {status_url}")

    # Poll, honouring Retry-After (capped at 10 s; SEKMET says 1) and reporting X-Progress.
    progress, retry_afters, statuses = [], [], []
    while True:
        res = http("GET", status_url, {**auth, "Accept": "application/json"})
        statuses.append(res.status)
        if res.status != 202:
            break
        progress.append(res.headers.get("X-Progress"))
        retry_after = res.headers.get("Retry-After")
        retry_afters.append(retry_after)
        if time.monotonic() - t0 > 120:
            break
        time.sleep(min(float(retry_after) if retry_after and retry_after.isdigit() else 1.0, 10.0))
    note(f"{label}: polled {len(statuses)} times: statuses {statuses}, X-Progress {progress}, "
         f"Retry-After {retry_afters}")
    done = res.status == 200 and set(statuses[:-1]) <= {202}
    if not check(f"{label}: the status URL answers 202 then 200", done, res):
        return None
    check(f"{label}: 202 while running carries X-Progress", all(progress), progress)
    manifest = res.json()
    note(f"{label}: manifest after {time.monotonic() - t0:.1f} s, Content-Type {res.headers.get('Content-Type')}, "
         f"Expires {res.headers.get('Expires')}: {json.dumps(manifest)[:1500]}")

    # The manifest's shape.
    check(f"{label}: manifest has exactly transactionTime, request, requiresAccessToken, output, error",
          sorted(manifest) == ["error", "output", "request", "requiresAccessToken", "transactionTime"],
          sorted(manifest))
    check(f"{label}: manifest request is the kick-off URL", manifest.get("request") == url, manifest.get("request"))
    check(f"{label}: manifest requiresAccessToken is true", manifest.get("requiresAccessToken") is True)
    check(f"{label}: transactionTime is an instant with Z",
          isinstance(manifest.get("transactionTime"), str) and manifest["transactionTime"].endswith("Z"))
    outputs = manifest.get("output", [])
    check(f"{label}: every output has type, url and count", all(
        sorted(o) == ["count", "type", "url"] and isinstance(o["count"], int) for o in outputs), outputs)
    types = [o["type"] for o in outputs]
    check(f"{label}: one file per type", len(types) == len(set(types)), types)

    # The files: without the token 401; with it, NDJSON of the stated type and count. Sent with
    # Accept-Encoding: gzip, to see whether the server compresses.
    files: dict[str, list[dict]] = {}
    for i, o in enumerate(outputs):
        if i == 0:
            bare = http("GET", o["url"])
            check(f"{label}: a file without the token: 401", bare.status == 401, bare)
        res = http("GET", o["url"], {**auth, "Accept": "application/fhir+ndjson", "Accept-Encoding": "gzip"})
        if not check(f"{label}: download {o['type']}: 200", res.status == 200, res):
            continue
        body = gzip.decompress(res.body) if res.headers.get("Content-Encoding") == "gzip" else res.body
        if i == 0:
            note(f"{label}: file headers: Content-Type {res.headers.get('Content-Type')}, "
                 f"Content-Encoding {res.headers.get('Content-Encoding')}, "
                 f"Content-Length {res.headers.get('Content-Length')}")
        lines = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        check(f"{label}: {o['type']}: {o['count']} lines, as the manifest says", len(lines) == o["count"],
              f"{len(lines)} lines")
        check(f"{label}: {o['type']}: every line is a {o['type']}", all(r["resourceType"] == o["type"] for r in lines))
        files[o["type"]] = lines
    return {"status_url": status_url, "manifest": manifest, "files": files}


def ids_by_type(resources) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in resources:
        out.setdefault(r["resourceType"], set()).add(r["id"])
    return out


# ---------------------------------------------------------------------------------------------

def run(env: dict, keys: dict[str, Key], started: float) -> None:
    note(f"ready after {time.monotonic() - started:.1f} s: loaded {env['loaded']}, "
         f"{len(env['rejected'])} rejected, groups {env['groups']}")
    local = local_resources()
    rejected = {(r["type"], r["id"]) for r in env["rejected"]}
    kept = [r for r in local if (r["resourceType"], r["id"]) not in rejected]

    # The ready line.
    check("ready line: loaded = the files' resources less the rejected ones",
          env["loaded"] == {t: len(ids) for t, ids in ids_by_type(kept).items()}, env["loaded"])
    check("ready line: rejects have type, id and reason", bool(env["rejected"]) and all(
        sorted(r) == ["id", "reason", "type"] and r["reason"] for r in env["rejected"]), env["rejected"][:2])
    note(f"rejected by type: {dict(Counter(t for t, _ in rejected))}")
    check("ready line: the 60 patients, the dev ones among them", len(env["patients"]) == 60
          and {"pat-b12-11", "pat-b12-14", "pat-coex-02"} <= set(env["patients"]), len(env["patients"]))
    check("ready line: the group", env["groups"] == {GROUP: GROUP_PATIENTS}, env["groups"])

    # Discovery.
    config = http("GET", env["smart_configuration"]).json()
    note(f"smart-configuration: {json.dumps(config)}")
    check("smart-configuration: token_endpoint is the ready line's",
          config.get("token_endpoint") == env["token_endpoint"])
    check("smart-configuration: ES384 assertions and client_credentials",
          "ES384" in config.get("token_endpoint_auth_signing_alg_values_supported", [])
          and "client_credentials" in config.get("grant_types_supported", []))
    meta = http("GET", f"{env['fhir_base']}/metadata", {"Accept": "application/fhir+json"})
    check("metadata is public (200 without a token)", meta.status == 200, meta)

    # The token endpoint: good and bad assertions.
    te, bulk = env["token_endpoint"], keys[BULK]
    res = token_request(te, bulk.assertion(BULK, te), "system/*.rs")
    body = res.json()
    note(f"token response: { {k: v for k, v in body.items() if k != 'access_token'} }, headers "
         f"Cache-Control {res.headers.get('Cache-Control')}; access token header "
         f"{jwt.get_unverified_header(body.get('access_token', 'e30.e30.'))}")
    check("token: 200, bearer, expires_in 3600, scope system/*.rs", res.status == 200
          and body.get("token_type", "").lower() == "bearer" and body.get("expires_in") == 3600
          and body.get("scope") == "system/*.rs", body)
    read_token = body["access_token"]

    res = token_request(te, keys["rogue"].assertion(BULK, te), "system/*.rs")
    check("token: an assertion signed by another key: 401 invalid_client",
          res.status == 401 and res.json().get("error") == "invalid_client", res)
    now = int(time.time())
    res = token_request(te, bulk.assertion(BULK, te, iat=now - 600, exp=now - 300), "system/*.rs")
    check("token: an expired assertion: 401 invalid_client",
          res.status == 401 and res.json().get("error") == "invalid_client", res)
    used = bulk.assertion(BULK, te)
    first, again = token_request(te, used, "system/*.rs"), token_request(te, used, "system/*.rs")
    check("token: a reused jti: 200 then 401 invalid_client", first.status == 200 and again.status == 401
          and again.json().get("error") == "invalid_client", f"{first.status} then {again}")
    res = token_request(te, bulk.assertion(BULK, te, exp=now + 600), "system/*.rs")
    check("token: an assertion with exp more than 5 minutes ahead: 401 invalid_client", res.status == 401, res)
    res = token_request(te, bulk.assertion(BULK, f"{env['fhir_base']}/token"), "system/*.rs")
    check("token: an assertion for another aud: 401 invalid_client", res.status == 401, res)
    res = token_request(te, bulk.assertion("nobody", te), "system/*.rs")
    check("token: an unknown client: 401 invalid_client", res.status == 401, res)
    res = token_request(te, bulk.assertion(BULK, te), "system/*.cruds")
    check("token: a scope the client may not have: 400 invalid_scope", res.status == 400
          and res.json().get("error") == "invalid_scope", res)
    res = token_request(te, bulk.assertion(BULK, te), "system/*.rs system/*.cruds")
    check("token: of several scopes, the allowed ones are granted", res.status == 200
          and res.json().get("scope") == "system/*.rs", res)
    res = token_request(te, bulk.assertion(BULK, te), None)
    note(f"token without a scope parameter: {res.status} scope {res.json().get('scope')!r}")

    # Kick-off refusals.
    fhir = env["fhir_base"]
    params = urllib.parse.urlencode({"_type": ",".join(TYPES)}, safe=",")
    res = http("GET", f"{fhir}/Patient/$export?{params}", {"Prefer": "respond-async"})
    check("kick-off without a token: 401 with WWW-Authenticate", res.status == 401
          and "Bearer" in (res.headers.get("WWW-Authenticate") or ""), res)
    res = http("GET", f"{fhir}/Patient/$export?{params}", {"Authorization": f"Bearer {read_token}"})
    check("kick-off without Prefer: respond-async: 400", res.status == 400, res)
    parameters = json.dumps({"resourceType": "Parameters",
                             "parameter": [{"name": "_type", "valueString": "Patient"}]}).encode()
    res = http("POST", f"{fhir}/Patient/$export", {"Authorization": f"Bearer {read_token}", "Prefer": "respond-async",
                                                   "Content-Type": "application/fhir+json"}, parameters)
    check("kick-off by POST with a read token: 403", res.status == 403, res)
    res = http("GET", f"{fhir}/Group/no-such-group/$export", {"Authorization": f"Bearer {read_token}",
                                                              "Prefer": "respond-async"})
    check("Group kick-off of an unknown group: 404", res.status == 404, res)
    per_type = get_token(env, bulk, BULK, "system/Patient.rs system/Observation.rs")
    res = http("GET", f"{fhir}/Patient/$export?_type=Patient,Observation",
               {"Authorization": f"Bearer {per_type}", "Prefer": "respond-async"})
    status = res.headers.get("Content-Location")
    polled = http("GET", status, {"Authorization": f"Bearer {per_type}"}) if status else None
    check("per-type scopes: kick-off 202, but polling 403 (the status URL needs system/*)",
          res.status == 202 and polled is not None and polled.status == 403, f"{res} / {polled}")

    # Patient/$export with a v1 read scope (system/*.read): everything of the listed types.
    v1_token = get_token(env, bulk, BULK, "system/*.read")
    job = export(env, v1_token, "Patient/$export", {"_type": ",".join(TYPES)}, "Patient/$export")
    if job:
        want = {t: ids for t, ids in ids_by_type(r for r in kept if subject_of(r)).items() if t in TYPES}
        got = {t: {r["id"] for r in rs} for t, rs in job["files"].items()}
        check("Patient/$export: exactly the loaded resources of the listed types", got == want,
              {t: (len(got.get(t, ())), len(want.get(t, ()))) for t in set(got) | set(want)})
        note(f"Patient/$export: counts {[(o['type'], o['count']) for o in job['manifest']['output']]}")
        check("Patient/$export: types with no resource get no file (Medication, MedicationStatement)",
              not {"Medication", "MedicationStatement"} & set(got))
        # The status URL survives reading the manifest, and being read again.
        again = http("GET", job["status_url"], {"Authorization": f"Bearer {v1_token}"})
        check("the status URL still answers 200 after the manifest was read", again.status == 200, again)
        delete_status(env, bulk, job, v1_token)

    # Group/{id}/$export: the group's patients only.
    job = export(env, read_token, f"Group/{GROUP}/$export", {"_type": ",".join(TYPES)}, f"Group/{GROUP}/$export")
    if job:
        want = ids_by_type(r for r in kept if subject_of(r) in GROUP_PATIENTS and r["resourceType"] in TYPES)
        got = {t: {r["id"] for r in rs} for t, rs in job["files"].items()}
        check(f"Group/{GROUP}/$export: exactly its patients' resources", got == want, got)
        # What is exported is what was loaded, with meta.versionId and meta.lastUpdated added.
        originals = {(r["resourceType"], r["id"]): r for r in kept}
        same = all({k: v for k, v in r.items() if k != "meta"} == originals[(r["resourceType"], r["id"])]
                   and sorted(r["meta"]) == ["lastUpdated", "versionId"]
                   for rs in job["files"].values() for r in rs)
        check(f"Group/{GROUP}/$export: resources as loaded, plus meta.versionId and meta.lastUpdated", same)
        delete_status(env, bulk, job, read_token)

    # Without _type: the infrastructure types are left out, but the Group itself is in the
    # patients' compartment as SEKMET sees it (its member references them).
    job = export(env, read_token, f"Group/{GROUP}/$export", {}, f"Group/{GROUP}/$export without _type")
    if job:
        note(f"Group export without _type: types {sorted(job['files'])}")
        check("Group export without _type: the Group resource itself is exported too", "Group" in job["files"])

    # _since: SEKMET stamps meta.lastUpdated when it stores a resource, and exports those with
    # lastUpdated >= _since. After the load, nothing; after one PUT, that resource only.
    time.sleep(0.01)
    since = instant()
    since_params = {"_type": ",".join(TYPES), "_since": since}
    job = export(env, read_token, "$export", since_params, "$export _since=after the load")
    if job:
        check("_since after the load: no output", job["manifest"]["output"] == [], job["manifest"]["output"])
    writer = get_token(env, keys[WRITER], WRITER, "system/*.cruds")
    obs = next(r for r in kept if r["id"] == "b1211-b12")
    put = {"Content-Type": "application/fhir+json"}
    res = http("PUT", f"{fhir}/Observation/b1211-b12", {**put, "Authorization": f"Bearer {read_token}"},
               json.dumps(obs).encode())
    check("PUT with the bulk client's read token: 403", res.status == 403, res)
    res = http("PUT", f"{fhir}/Observation/b1211-b12", {**put, "Authorization": f"Bearer {writer}"},
               json.dumps(obs).encode())
    check("PUT of Observation/b1211-b12 (unchanged) by the writer: 200, a new lastUpdated",
          res.status == 200 and res.json()["meta"]["lastUpdated"] >= since, res)
    job = export(env, read_token, "$export", since_params, "$export _since=before the PUT")
    if job:
        got = {t: [r["id"] for r in rs] for t, rs in job["files"].items()}
        check("_since before the PUT: the PUT resource only", got == {"Observation": ["b1211-b12"]}, got)
        delete_status(env, bulk, job, read_token)

    # Kick-off by POST (a Parameters body) needs a create scope: the writer's token works.
    res = http("POST", f"{fhir}/Patient/$export", {"Authorization": f"Bearer {writer}", "Prefer": "respond-async",
                                                   "Accept": "application/fhir+json",
                                                   "Content-Type": "application/fhir+json"}, parameters)
    check("kick-off by POST with a create scope (system/*.cruds): 202", res.status == 202, res)
    if res.status == 202:
        http("DELETE", res.headers["Content-Location"], {"Authorization": f"Bearer {writer}"})


def delete_status(env: dict, key: Key, job: dict, read_token: str) -> None:
    """DELETE of the status URL: a read token is refused; one with system/*.d works; then it is gone."""
    def auth(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    res = http("DELETE", job["status_url"], auth(read_token))
    check("DELETE of the status URL with a read-only token: 403", res.status == 403, res)
    delete_token = get_token(env, key, BULK, "system/*.rs system/*.d")
    res = http("DELETE", job["status_url"], auth(delete_token))
    check("DELETE of the status URL with system/*.d: 202", res.status == 202, res)
    res = http("GET", job["status_url"], auth(read_token))
    check("after DELETE, the status URL: 404", res.status == 404, res)
    outputs = job["manifest"]["output"]
    if outputs:
        res = http("GET", outputs[0]["url"], auth(read_token))
        check("after DELETE, its files: 404", res.status == 404, res)
    res = http("DELETE", job["status_url"], auth(delete_token))
    check("a second DELETE: 404", res.status == 404, res)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sekmet-smoke-"))
    keys = {BULK: Key(), WRITER: Key(), "rogue": Key()}  # rogue: registered nowhere
    for name in (BULK, WRITER):
        (tmp / f"{name}.jwks").write_text(json.dumps({"keys": [keys[name].public_jwk]}))

    started = time.monotonic()
    cmd = [sys.executable, str(HERE / "sekmet.py"),
           "--client", f"{BULK}={tmp / f'{BULK}.jwks'}",
           "--client", f"{WRITER}={tmp / f'{WRITER}.jwks'}=system/*.cruds",
           *[a for f in FIXTURES for a in ("--load", str(f))],
           "--load-ndjson", str(CLINOSIM),
           "--group", f"{GROUP}={','.join(GROUP_PATIENTS)}",
           "--exit-on-stdin-close"]
    # stdin a pipe we hold: if this script dies, SEKMET stops too.
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(300)
    try:
        line = ready[0] if ready else ""
        if check("sekmet.py prints its ready line within 300 s", line.startswith("{"), repr(line) or "timeout"):
            run(json.loads(line), keys, started)
    except Exception as e:  # noqa: BLE001 - any surprise is a failure, with its traceback
        import traceback
        check("no exception", False, "".join(traceback.format_exception(e)))
    finally:
        t = time.monotonic()
        proc.terminate()
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        rest = proc.stdout.read()
        check("sekmet.py stops on SIGTERM with status 0", code == 0, code)
        note(f"stopped in {time.monotonic() - t:.1f} s")
        check("nothing more on stdout after the ready line", rest == "", rest[:300])
        leftovers = [d for d in Path(tempfile.gettempdir()).glob(f"cobalt-sekmet-{proc.pid}-*")]
        check("its temp dir is removed", not leftovers, leftovers)
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    print(f"sekmet-smoke: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
