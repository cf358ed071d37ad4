#!/usr/bin/env python3
"""A second test FHIR Bulk Data server on 127.0.0.1: SEKMET (PyPI `sekmet-fhir` 0.1.1, Apache-2.0).

SEKMET is one Python process with a FHIR R4 server, its own SMART Backend Services token endpoint
(client_credentials with a private_key_jwt assertion, RS384/ES384/RS256/ES256) and `$export`
(system, Patient and Group level). It is independent of the other test EHR (stack.mjs: Helios
FHIR Server and oidc-provider), so a Bulk Data client can be tested against both.

Usage:
  python3 scripts/ehr/sekmet.py --client ID=JWKS_FILE[=SCOPES] [--client ...]
      [--load BUNDLE.json ...] [--load-ndjson DIR ...] [--group ID[=PATIENT,PATIENT...] ...]
      [--token-ttl SECONDS] [--exit-on-stdin-close]

  --client       a SMART Backend Services client: its id and its public JWKS ({"keys": [...]},
                 what `cobalt keys jwks` prints; all keys of one type, EC or RSA). SCOPES (comma
                 or space separated) are the scopes it may be granted; default
                 "system/*.read system/*.rs system/*.d": read for kick-off (by GET), polling and
                 downloads, delete for DELETE of the status URL (SEKMET cannot limit the delete
                 scope to status URLs: it lets the client delete resources too). SEKMET grants the
                 requested scopes that these cover, all of them when the request names none.
  --load         a FHIR Bundle (e.g. a collection): every entry's resource is stored.
  --load-ndjson  a Bulk Data export directory: every *.ndjson.gz and *.ndjson file in it.
  --group        a Group (type person, actual) of the given loaded patients, or of every loaded
                 patient, for Group/ID/$export. Stored after the data.
  --token-ttl    the access-token lifetime SEKMET gives (default 3600 s).
  --exit-on-stdin-close  also stop when stdin closes (a test holding our stdin cannot leave us
                 running when it dies).

Resources are stored through SEKMET's own FHIR service, with the structural validation it
applies to every PUT (pydantic models of fhir.resources, R4B): what it rejects is left out, counted on stderr and
listed in the ready line. SEKMET sets meta.lastUpdated (and versionId) of every resource it stores
to the time it stored it, so `_since` filters by load time, not by the data's own dates.

When SEKMET listens and the data is loaded, exactly one line of JSON goes to stdout, and nothing
else ever does (logs go to stderr):
  {"fhir_base", "token_endpoint", "smart_configuration",
   "loaded": {"Patient": n, ...}, "rejected": [{"type", "id", "reason"}],
   "patients": [ids], "groups": {"ID": [patient ids]}}
SIGTERM or SIGINT (or stdin closing, with --exit-on-stdin-close) stops SEKMET and removes its
temp dir; the exit status is 0. A start that fails exits 1 (2 for bad arguments).
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# This file is named like SEKMET's package: drop its directory from the import path, or
# `import sekmet` would import this script.
HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

HOST = "127.0.0.1"
DEFAULT_SCOPES = "system/*.read system/*.rs system/*.d"
TEMP_PREFIX = "cobalt-sekmet-"  # + pid + "-": lets a later start sweep what a SIGKILL left

# stdout carries the ready line only: keep the real stdout for it and send every stray print (of
# SEKMET, uvicorn or a library) to stderr.
READY_OUT = os.fdopen(os.dup(sys.stdout.fileno()), "w")
sys.stdout = sys.stderr
log = logging.getLogger("sekmet-stack")


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        clients = [client_from_spec(spec) for spec in args.client]
    except (OSError, ValueError) as e:
        log.error("%s", e)
        return 2

    # Signals and stdin only set `stop`; the main thread does the stopping.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_close:
        threading.Thread(target=wait_for_stdin_close, args=(stop,), daemon=True).start()

    started = time.monotonic()
    sweep_stale_temp_dirs()
    tmp = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    server = thread = None
    try:
        # Bind the port first (port 0: the kernel picks a free one), so SEKMET's base URL is known
        # before it starts and no other process can take the port in between.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        fhir_base = f"http://{HOST}:{port}/fhir"

        app = make_app(tmp, fhir_base, clients, args.token_ttl)
        ctx = app.state.ctx
        log.info("SEKMET created after %.1f s", time.monotonic() - started)

        loading = time.monotonic()
        loaded, rejected, patients = load_data(ctx, args.load, args.load_ndjson)
        groups = make_groups(ctx, args.group, patients)
        log.info("loaded %d resources (%s), rejected %d, in %.1f s",
                 sum(loaded.values()), ", ".join(f"{t} {n}" for t, n in sorted(loaded.items())),
                 len(rejected), time.monotonic() - loading)
        for reason, n in Counter(r["reason"] for r in rejected).most_common():
            log.warning("rejected %d: %s", n, reason)

        server, thread = serve(app, sock)
        root = fhir_base[: -len("/fhir")]
        log.info("SEKMET listening at %s; ready after %.1f s", fhir_base, time.monotonic() - started)
        READY_OUT.write(json.dumps({
            "fhir_base": fhir_base,
            "token_endpoint": f"{root}/auth/token",
            "smart_configuration": f"{fhir_base}/.well-known/smart-configuration",
            "loaded": dict(sorted(loaded.items())),
            "rejected": rejected,
            "patients": patients,
            "groups": groups,
        }) + "\n")
        READY_OUT.flush()

        # Up until told to stop, or until uvicorn stops by itself (which it should not).
        while not stop.wait(0.5):
            if not thread.is_alive():
                log.error("SEKMET's server stopped by itself")
                return 1
        log.info("stopping")
        return 0
    except Exception:
        log.exception("start failed")
        return 1
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(10)
        shutil.rmtree(tmp, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SEKMET, a FHIR Bulk Data server for tests, on 127.0.0.1")
    p.add_argument("--client", action="append", default=[], metavar="ID=JWKS_FILE[=SCOPES]")
    p.add_argument("--load", action="append", default=[], metavar="BUNDLE.json")
    p.add_argument("--load-ndjson", action="append", default=[], metavar="DIR")
    p.add_argument("--group", action="append", default=[], metavar="ID[=PATIENT,...]")
    p.add_argument("--token-ttl", type=int, default=3600, metavar="SECONDS")
    p.add_argument("--exit-on-stdin-close", action="store_true")
    args = p.parse_args()
    if args.token_ttl < 1:
        p.error("--token-ttl must be a positive number of seconds")
    return args


def client_from_spec(spec: str) -> dict:
    """ID=JWKS_FILE[=SCOPES] -> SEKMET's smart_clients entry."""
    client_id, _, rest = spec.partition("=")
    jwks_file, _, scopes = rest.partition("=")
    if not client_id or not jwks_file:
        raise ValueError(f"bad --client {spec!r} (want ID=JWKS_FILE[=SCOPES])")
    jwks = json.loads(Path(jwks_file).read_text())
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not keys:
        raise ValueError(f"{jwks_file}: not a JWKS with keys")
    # SEKMET tries each key of the client on the assertion: an RS384 assertion checked with an EC
    # key ends in an error it does not catch (HTTP 500). So one key type per client.
    if len({k.get("kty") for k in keys}) > 1:
        raise ValueError(f"{jwks_file}: keys of several types; register one client per key type")
    scopes = " ".join(scopes.replace(",", " ").split()) or DEFAULT_SCOPES
    return {"client_id": client_id, "jwks": {"keys": keys}, "scopes": scopes}


def make_app(tmp: str, fhir_base: str, clients: list[dict], token_ttl: int):
    """SEKMET's FastAPI app, with its SQLite store and export files in `tmp`."""
    from sekmet.config import Settings
    from sekmet.main import create_app

    settings = Settings.model_validate({
        "base_url": fhir_base,
        "host": HOST,  # SEKMET's default is 0.0.0.0 (we bind the socket ourselves anyway)
        "port": int(fhir_base.rsplit(":", 1)[1].split("/")[0]),
        "data_dir": os.path.join(tmp, "data"),  # sekmet.db, and bulk/<job>/<Type>.ndjson
        "own_private_key_path": os.path.join(tmp, "keys", "sekmet_private.pem"),  # never created
        "log_inbound": False,  # its traffic log (every request and response body) is on by default
        # SMART Backend Services only: no anonymous access, scopes enforced.
        "server_auth": {"types": ["smart"], "smart_clients": clients, "token_lifetime": token_ttl,
                        "enforce_scopes": True},
        # Strict structural validation of what is PUT (the default), which load_data relies on.
        "validation": {"inbound": "strict"},
        # Its lab/pharmacy/payer simulator answers stored MedicationRequests, ServiceRequests...
        # with new resources (dispenses, tasks...), which would then be exported: off.
        "simulator": {"enabled": False},
    })
    return create_app(settings)


def load_data(ctx, bundles: list[str], ndjson_dirs: list[str]):
    """Stores the data through SEKMET's FHIR service. Returns (counts by type, rejects, patient ids)."""
    from sekmet.fhir.common import FhirError

    stored: dict[tuple[str, str], bool] = {}  # (type, id) -> True; an id loaded twice counts once
    rejected: list[dict] = []
    patients: list[str] = []

    def put_all(resources, source: str) -> None:
        # One SQLite transaction per file: a commit per resource makes clinosim's load 6x slower.
        with ctx.store.transaction():
            for r in resources:
                rtype, rid = r.get("resourceType"), r.get("id")
                try:
                    if rid:  # a PUT, as a client would update-or-create with its own id
                        res = ctx.service.update(rtype, rid, r, origin="external").body
                    else:
                        res = ctx.service.create(rtype, r, origin="external").body
                except FhirError as e:
                    rejected.append({"type": rtype, "id": rid, "reason": reject_reason(e)})
                    continue
                stored[(res["resourceType"], res["id"])] = True
                if rtype == "Patient" and res["id"] not in patients:
                    patients.append(res["id"])
        log.info("stored %s", source)

    for file in bundles:
        bundle = json.loads(Path(file).read_text())
        if bundle.get("resourceType") != "Bundle":
            raise ValueError(f"{file}: not a Bundle")
        put_all([e["resource"] for e in bundle.get("entry", []) if e.get("resource")], file)
    for directory in ndjson_dirs:
        # Patients first, then the other files in name order.
        files = sorted((f for f in Path(directory).iterdir() if f.name.endswith((".ndjson", ".ndjson.gz"))),
                       key=lambda f: (not f.name.startswith("Patient."), f.name))
        if not files:
            raise ValueError(f"{directory}: no *.ndjson or *.ndjson.gz files")
        for f in files:
            opener = gzip.open if f.name.endswith(".gz") else open
            with opener(f, "rt", encoding="utf-8") as lines:
                put_all((json.loads(line) for line in lines if line.strip()), str(f))

    # Rejected resources are not in the store, unless another copy with the same id was stored.
    rejected = [r for r in rejected if (r["type"], r["id"]) not in stored]
    loaded = Counter(rtype for rtype, _ in stored)
    return loaded, rejected, patients


def reject_reason(e) -> str:
    """SEKMET's own words: its message and the first error issues, kept short."""
    details = [i.get("diagnostics", "") for i in e.issues if i.get("severity") in ("error", "fatal")]
    text = "; ".join([e.message, *details[:3]])
    return text if len(text) <= 400 else text[:397] + "..."


def make_groups(ctx, specs: list[str], patients: list[str]) -> dict[str, list[str]]:
    """--group ID[=PATIENT,...]: a Group of those patients (default all loaded ones)."""
    groups = {}
    for spec in specs:
        gid, _, members = spec.partition("=")
        ids = [m for m in members.split(",") if m] or list(patients)
        unknown = [m for m in ids if m not in patients]
        if not gid or unknown:
            raise ValueError(f"bad --group {spec!r}: " + (f"not loaded: {unknown}" if unknown else "no id"))
        group = {"resourceType": "Group", "id": gid, "type": "person", "actual": True,
                 "name": f"cobalt test group {gid}", "quantity": len(ids),
                 "member": [{"entity": {"reference": f"Patient/{m}"}} for m in ids]}
        ctx.service.update("Group", gid, group, origin="external")
        groups[gid] = ids
    return groups


def serve(app, sock: socket.socket):
    """Runs uvicorn on our socket in a thread (so signals stay with us); returns when it listens."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread


def wait_for_stdin_close(stop: threading.Event) -> None:
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read aborts the interpreter's
    # shutdown ("could not acquire lock for <stdin>").
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    stop.set()


def sweep_stale_temp_dirs() -> None:
    """Removes the temp dirs of earlier runs whose process is gone (killed with SIGKILL)."""
    root = Path(tempfile.gettempdir())
    for d in root.glob(f"{TEMP_PREFIX}*-*"):
        pid = d.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


if __name__ == "__main__":
    sys.exit(main())
