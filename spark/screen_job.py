#!/usr/bin/env python3
"""Population screening of a FHIR Bulk Data export with Apache Spark and the `cobalt` binary.

    spark-submit spark/screen_job.py EXPORT_DIR --out OUT --as-of 2026-01-01 \
        [--format ndjson|csv] [--cobalt target/release/cobalt] [--master local[2]] \
        [--partitions N] [--profile nice-ng239]

or simply `python3 spark/screen_job.py ...` with pyspark installed (local mode).

What it does, and what runs where:

1. The driver finds the export's files exactly as `cobalt screen` does (the manifest's order when
   there is a manifest.json, else the `<Type>*.ndjson[.gz]` files in name order).
2. Spark reads every file as text (`.ndjson.gz` is decompressed by Spark), numbers its lines,
   parses each line and extracts its patient id (`Patient.id`, or the part after the last
   `Patient/` in `subject.reference`, else `patient.reference`), as `cobalt screen` does.
3. Spark shuffles the lines by patient id with a range partitioner (`sortByKey`), so that every
   patient's lines are in one partition and the partitions are in id order.
4. For each partition, an executor writes the partition's lines as a mini export (one file per
   input file, lines in their original order, a manifest.json keeping the original file order)
   and runs `cobalt screen MINI --out MINIOUT --threads 1` once; it yields the result lines and the
   error records, with their line numbers mapped back to the original file and line.
   Keeping the original file and line order matters: cobalt reads a patient's resources in
   (file, line) order, and the order of findings follows it.
5. Lines Spark cannot file under a patient (not JSON, not an object, no patient) go through one
   more `cobalt screen` run, so that cobalt itself classifies them (`not_json`, `not_fhir`,
   `no_patient`, or silently skipped, as an Observation whose code cobalt does not read).
6. The driver streams the partitions in order into OUT/results.ndjson (or results.csv, one
   header), sorts the error records into OUT/errors.ndjson and writes OUT/summary.json with the
   same counters as `cobalt screen` (lines read, bad lines by kind, patients, flags...).

The `cobalt` binary: `--cobalt PATH` (default: `cobalt` on PATH, else target/release/cobalt).
In local mode the path is used as is. On a cluster, ship the binary with the job:

    spark-submit --master yarn --files /opt/cobalt/bin/cobalt spark/screen_job.py \
        hdfs:///exports/2026-01-01 --out /data/results --as-of 2026-01-01 --cobalt cobalt

The driver also calls `SparkContext.addFile(PATH)`, so an executor that does not see PATH uses
the copy Spark shipped (`SparkFiles.get(basename)`). The binary must be built for the
executors' platform (e.g. `x86_64-unknown-linux-gnu`, or musl for a static binary). EXPORT_DIR
may be any path Spark's `textFile` reads (file://, hdfs://, s3a://) but the driver lists it with
the local file system, so it must be a local or mounted directory here; OUT is written by the
driver to its local file system.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TYPES = [
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
    "Medication",
]

CSV_HEADER = ("id,as_of,knowledge_version,profile,b12_status,picture,test_indicated,next_tests,causes,route,"
              "urgent,referrals,mcdonald_2017_dis,mcdonald_2017_dit,mcdonald_2017_met,flags,rules,b12_test,"
              "b12_value,b12_comparator,b12_unit,b12_date,refused_lines,mcdonald_2024_regions,mcdonald_2024_dis,"
              "mcdonald_2024_dit,mcdonald_2024_csf_positive,mcdonald_2024_cvs_select6,mcdonald_2024_met,skipped_resources")


# --- file discovery (as crates/cobalt-screen `discover`) ---------------------------------------


def discover(export_dir):
    """[(resource type, absolute path, name relative to the export)] in cobalt's order."""
    manifest = os.path.join(export_dir, "manifest.json")
    out = []
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            v = json.load(f)
        outputs = v.get("output")
        if not isinstance(outputs, list):
            raise SystemExit("manifest.json has no `output` list")
        for o in outputs:
            kind = o.get("type") if isinstance(o.get("type"), str) else ""
            url = o.get("url") if isinstance(o.get("url"), str) else ""
            if kind not in TYPES or not url:
                continue
            name = url.rsplit("/", 1)[-1]
            out.append((kind, os.path.abspath(os.path.join(export_dir, name)), name))
    else:
        for name in sorted(os.listdir(export_dir)):
            if not (name.endswith(".ndjson") or name.endswith(".ndjson.gz")):
                continue
            kind = ""
            for c in name:
                if c.isascii() and c.isalpha():
                    kind += c
                else:
                    break
            if kind in TYPES:
                out.append((kind, os.path.abspath(os.path.join(export_dir, name)), name))
    return out


# --- per line, on the executors ------------------------------------------------------------------


def patient_of(kind, r):
    """The patient id of a parsed resource, as cobalt-screen `patient_of`, or None."""
    if kind == "Patient":
        i = r.get("id")
        return i if isinstance(i, str) else None
    ref = None
    subject = r.get("subject")
    if isinstance(subject, dict) and "reference" in subject:
        ref = subject["reference"]
    else:
        patient = r.get("patient")
        if isinstance(patient, dict) and "reference" in patient:
            ref = patient["reference"]
    if not isinstance(ref, str):
        return None
    return reference_patient_id(ref)


def reference_patient_id(ref):
    """The Patient id a FHIR reference names, as cobalt-fhir `reference::patient_id`: relative
    or absolute, with or without /_history/{version}; urn: and #contained references name none."""
    base = ref.strip().split("/_history/", 1)[0]
    if base.startswith("urn:") or base.startswith("#"):
        return None
    parts = base.rsplit("/", 2)
    if len(parts) < 2:
        return None
    kind, rid = parts[-2], parts[-1]
    if kind != "Patient" or not rid:
        return None
    return rid


def key_line(kinds):
    """(line, index) -> (patient id or None, (file, line number, text)); blank lines dropped."""

    def f(fi, pair):
        text, idx = pair
        if not text.strip():
            return []
        pid = None
        try:
            r = json.loads(text)
        except ValueError:
            r = None
        if isinstance(r, dict) and r.get("resourceType") == kinds[fi]:
            pid = patient_of(kinds[fi], r)
        return [(pid, (fi, idx + 1, text))]

    return f


def find_cobalt(path):
    """The cobalt binary on this executor: PATH if present, else the copy shipped by Spark."""
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    from pyspark import SparkFiles

    p = SparkFiles.get(os.path.basename(path))
    if os.path.isfile(p):
        if not os.access(p, os.X_OK):
            os.chmod(p, 0o755)
        return p
    raise RuntimeError(f"cobalt binary not found: {path} (ship it with --files)")


def run_cobalt_screen(files, rows, cobalt, as_of, fmt, profile, meds=()):
    """Writes `rows` [(file index, line number, text)] as a mini export and screens it.

    Returns (result lines, error records, summary) with error records mapped back to the
    original file names and line numbers. `files` is [(type, name)] in the original order.
    """
    tmp = tempfile.mkdtemp(prefix="cobalt-spark-")
    try:
        src = os.path.join(tmp, "export")
        dst = os.path.join(tmp, "out")
        os.makedirs(src)
        # Medication resources belong to no patient: every partition gets them all, and cobalt
        # files each with the requests that name it.
        rows = list(rows) + list(meds)
        rows.sort(key=lambda r: (r[0], r[1]))
        back = {}  # mini file name -> (original file index, [original line numbers])
        handles = {}
        manifest = []
        for fi, (kind, _name) in enumerate(files):
            mini = f"{kind}.{fi:04d}.ndjson"
            back[mini] = (fi, [])
            manifest.append({"type": kind, "url": mini})
            handles[fi] = open(os.path.join(src, mini), "w", encoding="utf-8")
        for fi, line, text in rows:
            handles[fi].write(text)
            handles[fi].write("\n")
            back[f"{files[fi][0]}.{fi:04d}.ndjson"][1].append(line)
        for h in handles.values():
            h.close()
        with open(os.path.join(src, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump({"output": manifest}, f)
        cmd = [cobalt, "screen", src, "--out", dst, "--format", fmt, "--as-of", as_of, "--threads", "1"]
        if profile:
            cmd += ["--profile", profile]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
        with open(os.path.join(dst, f"results.{fmt}"), encoding="utf-8") as f:
            results = f.read().splitlines()
        if fmt == "csv" and results and results[0] == CSV_HEADER:
            results = results[1:]
        errors = []
        with open(os.path.join(dst, "errors.ndjson"), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                e = json.loads(line)
                if e.get("file") in back:
                    fi, lines = back[e["file"]]
                    e["file"] = files[fi][1]
                    if e.get("line", 0) > 0:
                        e["line"] = lines[e["line"] - 1]
                errors.append(e)
        with open(os.path.join(dst, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
        return results, errors, summary
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def screen_partition(files, cobalt_path, as_of, fmt, profile, meds=None):
    """mapPartitions: one `cobalt screen` per partition; yields tagged records in id order.
    `meds` is a broadcast list of the export's Medication lines."""

    def f(it):
        rows = [v for _pid, v in it]
        if not rows:
            return
        cobalt = find_cobalt(cobalt_path)
        results, errors, summary = run_cobalt_screen(
            files, rows, cobalt, as_of, fmt, profile, meds.value if meds is not None else ()
        )
        for r in results:
            yield ("r", r)
        for e in errors:
            yield ("e", json.dumps(e, separators=(",", ":")))
        yield ("s", json.dumps(summary))

    return f


# --- the driver ----------------------------------------------------------------------------------


def sort_key(e):
    # cobalt sorts error records by (file, line, patient, kind, message); None sorts first.
    p = e.get("patient")
    return (e["file"].encode(), e["line"], p is not None, (p or "").encode(), e["kind"].encode(), e["message"].encode())


def main(argv=None):
    ap = argparse.ArgumentParser(description="Screen a FHIR Bulk Data export with Spark and cobalt.")
    ap.add_argument("export", help="the export directory")
    ap.add_argument("--out", required=True, help="results directory (results.ndjson|csv, errors.ndjson, summary.json)")
    ap.add_argument("--as-of", required=True, help="assessment date, YYYY-MM-DD")
    ap.add_argument("--format", choices=["ndjson", "csv"], default="ndjson")
    ap.add_argument("--cobalt", default=None, help="path to the cobalt binary (default: cobalt on PATH, else target/release/cobalt)")
    ap.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[2])")
    ap.add_argument("--partitions", type=int, default=0, help="patient partitions (default: from the input size, at least 2 per core)")
    ap.add_argument("--profile", default=None, help="threshold profile, passed to cobalt")
    a = ap.parse_args(argv)

    started = time.time()
    cobalt = a.cobalt or shutil.which("cobalt")
    if cobalt is None:
        here = os.path.dirname(os.path.abspath(__file__))
        cobalt = os.path.join(here, "..", "target", "release", "cobalt")
    if os.path.exists(cobalt):
        cobalt = os.path.abspath(cobalt)
    files = discover(a.export)
    if not files:
        raise SystemExit(f"{a.export}: no FHIR Bulk Data files (Patient.ndjson, Observation.ndjson, ...)")

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    conf = SparkConf().setAppName("cobalt-screen")
    if a.master:
        conf.setMaster(a.master)
    elif not conf.contains("spark.master"):  # spark-submit sets it
        conf.setMaster("local[2]")
    conf.setIfMissing("spark.ui.enabled", "false")
    conf.setIfMissing("spark.ui.showConsoleProgress", "false")
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    if os.path.exists(cobalt):
        sc.addFile(cobalt)

    kinds = [k for k, _, _ in files]
    names = [(k, n) for k, _, n in files]
    keyf = key_line(kinds)
    per_file = []
    file_lines = []
    med_lines = []
    for fi, (kind, path, _) in enumerate(files):
        rdd = sc.textFile(path).zipWithIndex()
        if kind == "Medication":
            # Shared by every patient's requests: sent to each partition, not shuffled.
            med_lines += [(fi, idx + 1, t) for t, idx in rdd.collect() if t.strip()]
            continue
        per_file.append(rdd.flatMap(lambda pair, fi=fi: keyf(fi, pair)))
    meds = sc.broadcast(med_lines)
    lines = sc.union(per_file).cache()

    total_bytes = sum(os.path.getsize(p) for _, p, _ in files)
    nparts = a.partitions or max(2 * sc.defaultParallelism, total_bytes // (64 << 20) + 1)

    filed = lines.filter(lambda kv: kv[0] is not None)
    orphans = lines.filter(lambda kv: kv[0] is None)
    # The shuffle: a range partition by patient id, sorted, so each patient is in one partition
    # and the partitions are in id order.
    by_patient = filed.sortByKey(ascending=True, numPartitions=nparts)
    screened = by_patient.mapPartitions(screen_partition(names, cobalt, a.as_of, a.format, a.profile, meds))
    orphan_out = orphans.coalesce(1).mapPartitions(screen_partition(names, cobalt, a.as_of, a.format, a.profile, meds))

    # Lines per file (blank lines included), as cobalt counts them.
    counts = sc.union(
        [sc.textFile(p).map(lambda _x, fi=fi: (fi, 1)) for fi, (_, p, _) in enumerate(files)]
    ).reduceByKey(lambda x, y: x + y).collectAsMap()
    file_lines = [counts.get(fi, 0) for fi in range(len(files))]
    read_seconds = time.time() - started

    os.makedirs(a.out, exist_ok=True)
    errors = []
    summaries = []
    orphan_results = 0
    orphan_summaries = []
    for tag, payload in orphan_out.collect():
        if tag == "e":
            errors.append(json.loads(payload))
        elif tag == "s":
            orphan_summaries.append(json.loads(payload))
        elif tag == "r":
            orphan_results += 1  # a line Python's json refused and serde_json accepted
    assessed = 0
    with open(os.path.join(a.out, f"results.{a.format}"), "w", encoding="utf-8") as out:
        if a.format == "csv":
            out.write(CSV_HEADER + "\n")
        for tag, payload in screened.toLocalIterator(prefetchPartitions=True):
            if tag == "r":
                out.write(payload)
                out.write("\n")
                assessed += 1
            elif tag == "e":
                errors.append(json.loads(payload))
            else:
                summaries.append(json.loads(payload))
    lines.unpersist()

    # A bad Medication line is reported by every partition that received it: once here.
    seen = set()
    unique = []
    for e in errors:
        k = json.dumps(e, sort_keys=True)
        if k not in seen:
            seen.add(k)
            unique.append(e)
    errors = unique
    errors.sort(key=sort_key)
    with open(os.path.join(a.out, "errors.ndjson"), "w", encoding="utf-8") as f:
        for e in errors:
            f.write(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n")

    def merge(field):
        m = {}
        for s in summaries:
            for k, v in s.get(field, {}).items():
                m[k] = m.get(k, 0) + v
        return dict(sorted(m.items()))

    bad_by_kind = {}
    for e in errors:
        if e["line"] > 0 and e["kind"] != "unreadable":
            bad_by_kind[e["kind"]] = bad_by_kind.get(e["kind"], 0) + 1
    summary = {
        "as_of": a.as_of,
        "as_of_source": "--as-of",
        "knowledge_version": summaries[0]["knowledge_version"] if summaries else None,
        "files": [
            {"type": k, "path": n, "lines": file_lines[fi], "bytes": os.path.getsize(p)}
            for fi, (k, p, n) in enumerate(files)
        ],
        "lines_read": sum(file_lines),
        "lines_skipped": sum(s.get("lines_skipped", 0) for s in summaries + orphan_summaries),
        "bad_lines": sum(bad_by_kind.values()),
        "bad_lines_by_kind": dict(sorted(bad_by_kind.items())),
        "files_in_error": sum(s.get("files_in_error", 0) for s in summaries + orphan_summaries),
        "patients_read": sum(s["patients_read"] for s in summaries),
        "patients_assessed": sum(s["patients_assessed"] for s in summaries),
        "patients_in_error": sum(s["patients_in_error"] for s in summaries),
        "by_b12_status": merge("by_b12_status"),
        "by_picture": merge("by_picture"),
        "by_cause": merge("by_cause"),
        "by_flag": merge("by_flag"),
        "patients_flagged": sum(s["patients_flagged"] for s in summaries),
        "by_mcdonald_2017": merge("by_mcdonald_2017"),
        "by_mcdonald_2024": merge("by_mcdonald_2024"),
        "skipped_resources_by_kind": merge("skipped_resources_by_kind"),
        "seconds": round(time.time() - started, 3),
        "read_seconds": round(read_seconds, 3),
        "spark": {
            "master": sc.master,
            "partitions": nparts,
            "cobalt_runs": len(summaries) + 1,
            "orphan_lines_assessed": orphan_results,
        },
    }
    with open(os.path.join(a.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    spark.stop()
    print(
        f"cobalt-spark: {summary['lines_read']} lines, {summary['patients_read']} patients: "
        f"{assessed} assessed, {summary['patients_in_error']} in error; {summary['bad_lines']} bad lines; "
        f"{summary['patients_flagged']} patients flagged; {summary['seconds']} s. Summary: {os.path.join(a.out, 'summary.json')}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
