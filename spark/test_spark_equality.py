#!/usr/bin/env python3
"""The Spark job gives the same results as `cobalt screen`, patient by patient.

    python3 spark/test_spark_equality.py [--cobalt target/release/cobalt] [--patients 300] [--seed 3]

Needs pyspark (spark/requirements.txt) and Java 17. Builds nothing: run
`cargo build --release -p cobalt-cli` first. Two runs, each compared with `cobalt screen` on the
same input:

1. a plain export from `cobalt synth` (300 patients, seed 3) with extra lines appended that
   take the job's other paths (a blank line, a wrong resourceType, an Observation with no
   subject, with a code cobalt reads and with one it does not, a JSON array, a reference to a
   patient with no Patient resource), NDJSON output;
2. the same export gzip-compressed (`--gzip`), CSV output, 3 partitions.

Compared: the same patient ids (the parts hold patients by hash, each part sorted by id); for
every patient, the parsed JSON equal (conclusions, screening and every other field), then the
bytes; the error records; the summary's counters. Exits 1 on any failure; the last line is `spark: N passed, N failed`.
"""

import argparse
import csv
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
AS_OF = "2026-01-01"

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}")


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p


EXTRA = {
    # Appended to the synthetic export: each takes a path of the job other than the common one.
    "Observation.ndjson": [
        "",
        "   ",
        # No subject, a code cobalt reads (total B12): cobalt reports no_patient.
        '{"resourceType":"Observation","id":"x-nosubj-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2132-9"}]},"valueQuantity":{"value":150,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}}',
        # No subject, a code cobalt does not read (heart rate): cobalt skips it silently.
        '{"resourceType":"Observation","id":"x-nosubj-2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}}',
        # A Condition in the Observation file, with no code cobalt reads: skipped unparsed.
        '{"resourceType":"Condition","id":"x-wrongtype","subject":{"reference":"Patient/p000000001"}}',
        # JSON, not an object, no code: skipped unparsed.
        '[1,2,3]',
        # JSON, not an object, with a code cobalt reads: not_fhir.
        '["2132-9"]',
        # A patient known only by reference (no Patient resource), full URL reference.
        '{"resourceType":"Observation","id":"x-ghost-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2132-9"}]},"subject":{"reference":"https://ehr.example/fhir/Patient/zz-ghost"},"effectiveDateTime":"2025-06-01","valueQuantity":{"value":120,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}}',
        # A value the case format refuses (a negative B12): invalid_value, patient assessed without it.
        '{"resourceType":"Observation","id":"x-neg","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2132-9"}]},"subject":{"reference":"Patient/p000000002"},"effectiveDateTime":"2025-06-01","valueQuantity":{"value":-5,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}}',
    ],
    # Medication resources in their own file (added to the manifest), named by requests of
    # patients in different partitions, and a bad line reported once.
    "Medication.ndjson": [
        '{"resourceType":"Medication","id":"x-med-1","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"861007","display":"metformin hydrochloride 500 MG Oral Tablet"}]}}',
        '{"resourceType":"Medication","id":"x-med-2","code":{"text":"Pantoprazole 40 mg tablets"}}',
        '{"resourceType":"Medication"',
    ],
    "MedicationRequest.ndjson": [
        '{"resourceType":"MedicationRequest","id":"x-mr-1","status":"active","intent":"order","subject":{"reference":"Patient/p000000004"},"authoredOn":"2019-01-01","medicationReference":{"reference":"Medication/x-med-1"}}',
        '{"resourceType":"MedicationRequest","id":"x-mr-2","status":"active","intent":"order","subject":{"reference":"Patient/p000000150"},"authoredOn":"2019-01-01","medicationReference":{"reference":"Medication/x-med-2"}}',
        '{"resourceType":"MedicationRequest","id":"x-mr-3","status":"active","intent":"order","subject":{"reference":"Patient/p000000290"},"authoredOn":"2019-01-01","medicationReference":{"reference":"Medication/x-med-1"}}',
    ],
    "Patient.ndjson": [
        '{"resourceType":"Patient","gender":"female"}',
        # Patient lines are always read: malformed JSON is not_json, another type not_fhir.
        '{"resourceType":"Patient","id":"x-broken"',
        '{"resourceType":"Observation","id":"x-in-patient-file"}',
        '{"resourceType":"Patient","id":"zz-ghost","gender":"female","birthDate":"1960-02-03"}',
    ],
}


BYTES = {
    # Bad bytes: a line that is not UTF-8 (with a code cobalt reads, so it is not skipped), and
    # a Condition with a carriage return inside it and a CRLF line end.
    "Observation.ndjson": b'{"resourceType":"Observation","id":"x-bad-bytes","status":"final","code":{"coding":'
    b'[{"system":"http://loinc.org","code":"2132-9"}]},"subject":{"reference":"Patient/p000000003"},'
    b'"note":[{"text":"caf\xe9"}]}\n',
    "Condition.ndjson": b'{"resourceType":"Condition",\r"id":"x-cr","clinicalStatus":{"coding":[{"code":"active"}]},'
    b'"subject":{"reference":"Patient/p000000005"},"code":{"coding":[{"system":"http://snomed.info/sct",'
    b'"code":"396331005"}]}}\r\n',
}


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def dataset_parts(spark_dir, fmt):
    """The part files of the results dataset, each as its lines (a CSV part without its header)."""
    parts = []
    for p in sorted(glob.glob(os.path.join(spark_dir, "results", f"*.{fmt}"))):
        lines = read_lines(p)
        parts.append(lines[1:] if fmt == "csv" else lines)
    return parts


def record_id(fmt, line):
    if fmt == "ndjson":
        return json.loads(line)["id"]
    return next(csv.reader([line]))[0]


def dataset_lines(spark_dir, fmt):
    """The rows of every part, as one file's lines in patient-id order: the parts hold patients
    by hash, each part sorted by id."""
    return sorted((x for p in dataset_parts(spark_dir, fmt) for x in p), key=lambda x: record_id(fmt, x).encode())


def dataset_errors(spark_dir):
    es = []
    for p in glob.glob(os.path.join(spark_dir, "errors", "*.ndjson")):
        es += [json.loads(x) for x in read_lines(p)]
    es.sort(key=lambda e: (e["file"].encode(), e["line"], e.get("patient") is not None,
                           (e.get("patient") or "").encode(), e["kind"].encode(), e["message"].encode()))
    return es


def compare(label, ref_dir, spark_dir, fmt):
    ref = read_lines(os.path.join(ref_dir, f"results.{fmt}"))
    got = dataset_lines(spark_dir, fmt)
    if fmt == "ndjson":
        r = [json.loads(x) for x in ref]
        g = [json.loads(x) for x in got]
        rid = [x["id"] for x in r]
        gid = [x["id"] for x in g]
    else:
        headers = {read_lines(p)[0] for p in glob.glob(os.path.join(spark_dir, "results", "*.csv"))}
        check(f"{label}: every part has cobalt's header", headers == {ref[0]}, str(headers))
        header, ref = ref[0], ref[1:]
        r = list(csv.DictReader(io.StringIO("\n".join([header] + ref) + "\n")))
        g = list(csv.DictReader(io.StringIO("\n".join([header] + got) + "\n")))
        rid = [x["id"] for x in r]
        gid = [x["id"] for x in g]
    check(f"{label}: {len(rid)} patients", len(rid) > 0)
    check(f"{label}: same patient ids", set(rid) == set(gid),
          f"only cobalt {sorted(set(rid) - set(gid))[:5]}, only spark {sorted(set(gid) - set(rid))[:5]}")
    check(f"{label}: each part sorted by id", all(
        [record_id(fmt, x).encode() for x in p] == sorted(record_id(fmt, x).encode() for x in p)
        for p in dataset_parts(spark_dir, fmt)))
    check(f"{label}: cobalt's results sorted by id", rid == sorted(rid, key=str.encode))
    gm = {x["id"]: x for x in g}
    diff = {"conclusions": [], "screening": [], "other": []}
    for x in r:
        y = gm.get(x["id"])
        if y is None:
            continue
        if fmt == "ndjson":
            conclusions = [k for k in x if k not in ("flags", "rules", "refused_lines")]
            if any(x[k] != y.get(k) for k in conclusions):
                diff["conclusions"].append(x["id"])
            if x["flags"] != y["flags"]:
                diff["screening"].append(x["id"])
            if x != y:
                diff["other"].append(
                    (x["id"], sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))))
        elif x != y:
            diff["other"].append((x["id"], sorted(k for k in x if x[k] != y.get(k))))
    if fmt == "ndjson":
        check(f"{label}: conclusions equal for every patient", not diff["conclusions"], str(diff["conclusions"][:5]))
        check(f"{label}: screening flags equal for every patient", not diff["screening"], str(diff["screening"][:5]))
    check(f"{label}: whole records equal (parsed)", not diff["other"], str(diff["other"][:5]))
    check(f"{label}: every row byte-identical", ref == got)
    flagged = sum(1 for x in r if x["flags"])
    check(f"{label}: some patients flagged ({flagged})", flagged > 0)

    re_ = [json.loads(x) for x in read_lines(os.path.join(ref_dir, "errors.ndjson"))]
    ge = dataset_errors(spark_dir)
    check(f"{label}: same error records ({len(re_)})", re_ == ge,
          f"only cobalt {[e for e in re_ if e not in ge][:3]}, only spark {[e for e in ge if e not in re_][:3]}")
    rs = json.load(open(os.path.join(ref_dir, "summary.json")))
    gs = json.load(open(os.path.join(spark_dir, "summary.json")))
    keys = ["as_of", "knowledge_version", "files", "lines_read", "lines_skipped", "bad_lines", "bad_lines_by_kind",
            "patients_read", "patients_assessed", "patients_in_error", "by_b12_status",
            "by_picture", "by_cause", "by_flag", "patients_flagged", "by_mcdonald_2017", "by_mcdonald_2024",
            "skipped_resources_by_kind"]
    bad = [k for k in keys if rs.get(k) != gs.get(k)]
    check(f"{label}: summary counters equal", not bad, ", ".join(f"{k}: {rs.get(k)} != {gs.get(k)}" for k in bad))
    return rs


def compare_parquet(label, ref_file, dataset_dir):
    """The part files read back as one table by an independent reader (DuckDB) equal cobalt's
    own Parquet file: the same columns and types, the same rows."""
    import duckdb

    con = duckdb.connect()
    ref = con.execute(f"select * from read_parquet('{ref_file}')")
    ref_cols = [(d[0], str(d[1])) for d in ref.description]
    ref_rows = sorted(json.dumps(r, default=str) for r in ref.fetchall())
    got = con.execute(f"select * from read_parquet('{dataset_dir}/*.parquet')")
    got_cols = [(d[0], str(d[1])) for d in got.description]
    got_rows = sorted(json.dumps(r, default=str) for r in got.fetchall())
    check(f"{label}: same columns and types", ref_cols == got_cols, f"{ref_cols} != {got_cols}")
    check(f"{label}: same rows ({len(ref_rows)}), read as one table", ref_rows == got_rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cobalt", default=os.path.join(ROOT, "target", "release", "cobalt"))
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    cobalt = os.path.abspath(a.cobalt)
    if not os.access(cobalt, os.X_OK):
        raise SystemExit(f"{cobalt}: not found; run `cargo build --release -p cobalt-cli`")
    tmp = tempfile.mkdtemp(prefix="cobalt-spark-test-")
    started = time.time()
    try:
        job = os.path.join(HERE, "screen_job.py")
        # 1. plain export, extra lines, NDJSON.
        plain = os.path.join(tmp, "plain")
        run([cobalt, "synth", "--patients", str(a.patients), "--seed", str(a.seed), "--out", plain, "--as-of", AS_OF])
        for name, extra in EXTRA.items():
            with open(os.path.join(plain, name), "a", encoding="utf-8") as f:
                f.write("\n".join(extra) + "\n")
        for name, raw in BYTES.items():
            with open(os.path.join(plain, name), "ab") as f:
                f.write(raw)
        manifest_path = os.path.join(plain, "manifest.json")
        manifest = json.load(open(manifest_path, encoding="utf-8"))
        if not any(o.get("type") == "Medication" for o in manifest["output"]):
            manifest["output"].append({"type": "Medication", "url": "Medication.ndjson"})
            json.dump(manifest, open(manifest_path, "w", encoding="utf-8"))
        run([cobalt, "screen", plain, "--out", os.path.join(tmp, "ref1"), "--format", "ndjson", "--as-of", AS_OF])
        t = time.time()
        run([sys.executable, job, plain, "--out", os.path.join(tmp, "spark1"), "--as-of", AS_OF,
             "--cobalt", cobalt, "--master", "local[2]", "--format", "ndjson"])
        print(f"     (spark job, ndjson: {time.time() - t:.1f} s)")
        rs = compare("plain+extra/ndjson", os.path.join(tmp, "ref1"), os.path.join(tmp, "spark1"), "ndjson")
        kinds = rs.get("bad_lines_by_kind", {})
        check("extra lines reach every error kind (not_json, not_fhir, no_patient, invalid_value, not_utf8)",
              all(kinds.get(k, 0) > 0 for k in ["not_json", "not_fhir", "no_patient", "invalid_value", "not_utf8"]), str(kinds))
        ids = [json.loads(x)["id"] for x in read_lines(os.path.join(tmp, "ref1", "results.ndjson"))]
        check("the patient known by a full-URL reference is assessed", "zz-ghost" in ids)
        rows = {json.loads(x)["id"]: json.loads(x) for x in read_lines(os.path.join(tmp, "ref1", "results.ndjson"))}
        check("the results are part files written by the executors (one per partition)",
              len(glob.glob(os.path.join(tmp, "spark1", "results", "part-*.ndjson"))) >= 2)
        check("no attempt directory is left", not glob.glob(os.path.join(tmp, "spark1", "_attempt-*")))
        check("Medication resources in their own file are resolved for patients in any partition",
              "metformin" in rows["p000000004"]["causes"] and "metformin" in rows["p000000290"]["causes"]
              and "proton_pump_inhibitor" in rows["p000000150"]["causes"],
              str({k: rows[k]["causes"] for k in ("p000000004", "p000000150", "p000000290")}))

        # 2. gzip export, CSV, 3 partitions.
        gz = os.path.join(tmp, "gz")
        run([cobalt, "synth", "--patients", str(a.patients), "--seed", str(a.seed), "--out", gz, "--as-of", AS_OF, "--gzip"])
        run([cobalt, "screen", gz, "--out", os.path.join(tmp, "ref2"), "--format", "csv", "--as-of", AS_OF])
        t = time.time()
        run([sys.executable, job, gz, "--out", os.path.join(tmp, "spark2"), "--as-of", AS_OF,
             "--cobalt", cobalt, "--master", "local[2]", "--format", "csv", "--partitions", "3"])
        print(f"     (spark job, gzip/csv: {time.time() - t:.1f} s)")
        compare("gzip/csv", os.path.join(tmp, "ref2"), os.path.join(tmp, "spark2"), "csv")

        # 3. Parquet (the default): the dataset reads back as one table equal to cobalt's.
        run([cobalt, "screen", plain, "--out", os.path.join(tmp, "ref3"), "--format", "parquet", "--as-of", AS_OF])
        t = time.time()
        run([sys.executable, job, plain, "--out", os.path.join(tmp, "spark3"), "--as-of", AS_OF,
             "--cobalt", cobalt, "--master", "local[2]"])
        print(f"     (spark job, parquet: {time.time() - t:.1f} s)")
        compare_parquet("parquet", os.path.join(tmp, "ref3", "results.parquet"), os.path.join(tmp, "spark3", "results"))

        # 4. The same job submitted to a standalone cluster: a master and two one-core workers.
        sys.path.insert(0, HERE)
        import standalone

        t = time.time()
        with standalone.cluster(2, os.path.join(tmp, "cluster")) as (master, env):
            code = standalone.submit(master, env, [plain, "--out", os.path.join(tmp, "spark4"), "--as-of", AS_OF,
                                                   "--cobalt", cobalt])
        print(f"     (standalone cluster, parquet: {time.time() - t:.1f} s with start-up)")
        check("standalone cluster: the job succeeds", code == 0)
        if code == 0:
            compare_parquet("standalone cluster", os.path.join(tmp, "ref3", "results.parquet"),
                            os.path.join(tmp, "spark4", "results"))
            gs = json.load(open(os.path.join(tmp, "spark4", "summary.json")))
            check("standalone cluster: the driver's summary reconciles",
                  gs["patients_read"] == gs["patients_assessed"] + gs["patients_in_error"]
                  and gs["spark"]["master"].startswith("spark://"), str(gs["spark"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"     ({time.time() - started:.1f} s in all)")
    print(f"spark: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
