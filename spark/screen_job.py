#!/usr/bin/env python3
"""Population screening of a FHIR Bulk Data export with Apache Spark and the `cobalt` binary.

    spark-submit spark/screen_job.py EXPORT_DIR --out OUT --as-of 2026-01-01 \
        [--format ndjson|csv] [--cobalt target/release/cobalt] [--master local[2]] \
        [--partitions N] [--profile nice-ng239]

or simply `python3 spark/screen_job.py ...` with pyspark installed (local mode).

What it does, and what runs where:

1. The driver finds the export's files exactly as `cobalt screen` does (the manifest's order when
   there is a manifest.json, else the `<Type>*.ndjson[.gz]` files in name order).
2. Spark reads every file as text (`.ndjson.gz` is decompressed by Spark) and numbers its lines.
   The patient id of each line is found in the JVM, never by parsing JSON in Python:
   `get_json_object` reads `resourceType`, `id`, `subject.reference` and `patient.reference`,
   and a regular expression takes the id after the last `Patient/`, as `cobalt screen` does.
   Observation lines whose `code.coding` holds no code cobalt reads (`cobalt kb filter-codes`)
   are dropped before the shuffle, as `cobalt screen` drops them before parsing.
3. Spark range-partitions the lines by patient id and sorts each partition (`repartitionByRange`,
   `sortWithinPartitions`), so that every patient's lines are in one partition, in id order.
   Medication lines belong to no patient: they are sent to every partition.
4. For each partition, an executor writes the partition's lines as a mini export (one file per
   input file, lines in their original order, a manifest.json keeping the original file order),
   runs `cobalt screen MINI --out MINIOUT --threads 1 --format FORMAT` once, and writes its
   results as a part file of the output dataset (`OUT/results/part-NNNNN.parquet`, or `.ndjson`,
   `.csv`) and its error records, mapped back to the original file and line, as
   `OUT/errors/part-NNNNN.ndjson`. Only the partition's summary (counts) goes to the driver.
5. Lines Spark cannot file under a patient (not JSON, not an object, no patient) go through one
   more `cobalt screen` run, so that cobalt itself classifies them (`not_json`, `not_fhir`,
   `no_patient`, or silently skipped, as an Observation whose code cobalt does not read).
6. The driver adds up the summaries into OUT/summary.json, with the same counters as
   `cobalt screen` (lines read, bad lines by kind, patients, flags...). Parts are written under
   OUT/_attempt-* and moved into place only when the job succeeds, so a failed run leaves no
   partial or stale results. The results read back as one table: `spark.read.parquet(OUT/results)`,
   DuckDB's `read_parquet('OUT/results/*.parquet')`, `pyarrow.dataset.dataset(OUT/results)`.

The `cobalt` binary: `--cobalt PATH` (default: `cobalt` on PATH, else target/release/cobalt).
In local mode the path is used as is. On a cluster, ship the binary with the job:

    spark-submit --master yarn --files /opt/cobalt/bin/cobalt spark/screen_job.py \
        hdfs:///exports/2026-01-01 --out /data/results --as-of 2026-01-01 --cobalt cobalt

The driver also calls `SparkContext.addFile(PATH)`, so an executor that does not see PATH uses
the copy Spark shipped (`SparkFiles.get(basename)`). The binary must be built for the
executors' platform (e.g. `x86_64-unknown-linux-gnu`, or musl for a static binary). EXPORT_DIR
may be any path Spark's text reader reads (file://, hdfs://, s3a://) but the driver lists it with
the local file system, so it must be a local or mounted directory here. OUT is written by the
executors and must be storage they all see (a shared or mounted directory; a local path on one
machine).
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


# --- keys, in the JVM ---------------------------------------------------------------------------


def keyed_file(spark, fi, kind, path, filter_codes):
    """The lines of one file as a DataFrame (pid, fi, line, text), with the patient id found by
    Spark SQL expressions (no Python per line; each line's JSON parsed once, by `from_json`).
    Observation lines that cannot matter are left out. Returns (frame, lines in the file)."""
    from pyspark.sql import functions as F

    # Lines end at "\n" only, as cobalt reads them.
    df = spark.read.option("lineSep", "\n").text(path)
    df = df.withColumn("_part", F.spark_partition_id()).withColumn("_mid", F.monotonically_increasing_id())
    counts = sorted((r["_part"], r["count"]) for r in df.groupBy("_part").count().collect())
    offsets, total = {}, 0
    for part, n in counts:
        offsets[part] = total
        total += n
    if not offsets:
        return None, 0
    off = F.create_map(*[F.lit(x) for kv in offsets.items() for x in kv])
    # monotonically_increasing_id is (partition << 33) + row within the partition.
    line = F.col("_mid") - F.shiftleft(F.col("_part").cast("long"), 33) + off[F.col("_part")] + 1
    v = F.col("value")
    r = F.from_json(
        v,
        "struct<resourceType:string,id:string,subject:struct<reference:string>,"
        "patient:struct<reference:string>,code:struct<coding:array<struct<code:string>>>>",
    )
    if kind == "Patient":
        raw = r["id"]
    else:
        ref = F.coalesce(r["subject"]["reference"], r["patient"]["reference"])
        base = F.trim(F.split(ref, "/_history/").getItem(0))
        rid = F.regexp_extract(base, r"(?:^|/)Patient/([^/]+)$", 1)
        raw = F.when(base.startswith("urn:") | base.startswith("#") | (rid == ""), F.lit(None)).otherwise(rid)
    pid = F.when(r["resourceType"] == F.lit(kind), raw)
    out = df.select(pid.alias("pid"), F.lit(fi).alias("fi"), line.alias("line"), v.alias("text"))
    if kind == "Observation":
        # Dropped before the shuffle, as cobalt screen skips them unparsed. Lines JSON cannot
        # read (no codes) and lines with an escape are kept for cobalt to judge.
        codes = r["code"]["coding"]["code"]
        known = F.array(*[F.lit(c) for c in filter_codes])

        def matters(c):
            u = F.upper(F.trim(c))
            return (F.length(u) > 64) | F.array_contains(known, u) | (
                (F.length(u) > 3) & F.array_contains(known, F.substring(u, 1, 3))
            )

        out = out.filter(codes.isNull() | v.contains("\\u") | F.exists(codes, matters))
    return out, total


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


def run_cobalt_screen(files, rows, cobalt, as_of, fmt, profile, meds, part_name, attempt, med_errors):
    """Writes `rows` [(file index, line number, text)] as a mini export, screens it, and writes
    its results and error records (mapped back to the original file names and line numbers) as
    part files under `attempt`. Returns the run's summary. `files` is [(type, name)] in the
    original order; `med_errors` says whether this run reports bad Medication lines (one run
    does, so that each is reported once)."""
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
        summary_path = os.path.join(dst, "summary.json")
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
        # The results go straight to the dataset (a task retried writes the same name again).
        if summary.get("patients_assessed", 0) > 0:
            shutil.copyfile(os.path.join(dst, f"results.{fmt}"), os.path.join(attempt, "results", f"{part_name}.{fmt}"))
        med_files = {i for i, (k, _n) in enumerate(files) if k == "Medication"}
        errors = []
        with open(os.path.join(dst, "errors.ndjson"), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                e = json.loads(line)
                if e.get("file") in back:
                    fi, lines = back[e["file"]]
                    if fi in med_files and not med_errors:
                        continue
                    e["file"] = files[fi][1]
                    if e.get("line", 0) > 0:
                        e["line"] = lines[e["line"] - 1]
                errors.append(e)
        if errors:
            with open(os.path.join(attempt, "errors", f"{part_name}.ndjson"), "w", encoding="utf-8") as f:
                for e in errors:
                    f.write(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n")
        # Bad lines of this run by kind, after Medication duplicates were left out.
        summary["bad_lines_by_kind_here"] = {}
        for e in errors:
            if e["line"] > 0 and e["kind"] != "unreadable":
                k = summary["bad_lines_by_kind_here"]
                k[e["kind"]] = k.get(e["kind"], 0) + 1
        return summary
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def screen_partition(files, cobalt_path, as_of, fmt, profile, meds, attempt, prefix):
    """mapPartitionsWithIndex: one `cobalt screen` per partition, writing its part files; yields
    only the run's summary. `meds` is a broadcast list of the export's Medication lines; the
    first partition reports their bad lines (and runs even with no patient for that)."""

    def f(index, it):
        rows = [(r["fi"], r["line"], r["text"]) for r in it]
        med = meds.value
        received = {}
        for fi, _l, _t in rows:
            received[fi] = received.get(fi, 0) + 1
        first = index == 0 and prefix == "part"
        if not rows and not (first and med):
            return
        cobalt = find_cobalt(cobalt_path)
        summary = run_cobalt_screen(
            files, rows, cobalt, as_of, fmt, profile, med, f"{prefix}-{index:05d}", attempt, first
        )
        summary["lines_received"] = {str(k): n for k, n in received.items()}
        yield json.dumps(summary)

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
    ap.add_argument("--format", choices=["parquet", "ndjson", "csv"], default="parquet",
                    help="the results dataset's part files (default parquet)")
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
    elif "PYSPARK_GATEWAY_PORT" not in os.environ and not conf.contains("spark.master"):
        # Run as a plain script: local mode. Under spark-submit (which starts the gateway and
        # passes its port) the master is spark-submit's.
        conf.setMaster("local[2]")
    conf.setIfMissing("spark.ui.enabled", "false")
    conf.setIfMissing("spark.ui.showConsoleProgress", "false")
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    if os.path.exists(cobalt):
        sc.addFile(cobalt)

    names = [(k, n) for k, _, n in files]
    # The codes that can make an Observation matter, from cobalt itself.
    p = subprocess.run([cobalt, "kb", "filter-codes"], stdout=subprocess.PIPE, check=True)
    filter_codes = [c for c in p.stdout.decode().split("\n") if c]

    # No result of an earlier run survives this one; parts go to an attempt directory first.
    os.makedirs(a.out, exist_ok=True)
    for old in ("results", "errors", "summary.json"):
        path = os.path.join(a.out, old)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    attempt = os.path.abspath(os.path.join(a.out, f"_attempt-{os.getpid()}-{int(time.time())}"))
    os.makedirs(os.path.join(attempt, "results"))
    os.makedirs(os.path.join(attempt, "errors"))

    frames = []
    file_lines = [0] * len(files)
    med_lines = []
    for fi, (kind, path, _) in enumerate(files):
        df, total = keyed_file(spark, fi, kind, path, filter_codes)
        file_lines[fi] = total
        if df is None:
            continue
        if kind == "Medication":
            # Shared by every patient's requests: sent to each partition, not shuffled.
            med_lines += [(r["fi"], r["line"], r["text"]) for r in df.collect()]
            continue
        frames.append(df)
    meds = sc.broadcast(med_lines)
    lines = frames[0]
    for df in frames[1:]:
        lines = lines.unionByName(df)
    read_seconds = time.time() - started

    total_bytes = sum(os.path.getsize(p) for _, p, _ in files)
    nparts = a.partitions or max(2 * sc.defaultParallelism, total_bytes // (64 << 20) + 1)
    # The shuffle, in the JVM: a range partition by patient id, sorted within each partition,
    # so that each patient is in one partition and the partitions are in id order.
    filed = (
        lines.filter(lines.pid.isNotNull())
        .repartitionByRange(nparts, "pid")
        .sortWithinPartitions("pid", "fi", "line")
    )
    orphans = lines.filter(lines.pid.isNull()).coalesce(1)
    run = lambda prefix: screen_partition(names, cobalt, a.as_of, a.format, a.profile, meds, attempt, prefix)
    summaries = [json.loads(x) for x in filed.rdd.mapPartitionsWithIndex(run("part")).collect()]
    orphan_summaries = [json.loads(x) for x in orphans.rdd.mapPartitionsWithIndex(run("orphans")).collect()]

    def merge(field, of=None):
        m = {}
        for s in of if of is not None else every:
            for k, v in s.get(field, {}).items():
                m[k] = m.get(k, 0) + v
        return dict(sorted(m.items()))

    # Lines Spark could not file under a patient are assessed by their own run: a patient cobalt
    # finds there is counted and written like any other.
    every = summaries + orphan_summaries
    bad_by_kind = merge("bad_lines_by_kind_here")
    # Observation lines dropped before the shuffle: every line of a file reaches some partition
    # (blank and unreadable lines as orphans) unless the filter dropped it.
    received = merge("lines_received")
    dropped = sum(
        file_lines[fi] - received.get(str(fi), 0) for fi, (k, _p, _n) in enumerate(files) if k == "Observation"
    )
    summary = {
        "as_of": a.as_of,
        "as_of_source": "--as-of",
        "knowledge_version": every[0]["knowledge_version"] if every else None,
        "files": [
            {"type": k, "path": n, "lines": file_lines[fi], "bytes": os.path.getsize(p)}
            for fi, (k, p, n) in enumerate(files)
        ],
        "lines_read": sum(file_lines),
        "lines_skipped": dropped + sum(s.get("lines_skipped", 0) for s in every),
        "bad_lines": sum(bad_by_kind.values()),
        "bad_lines_by_kind": bad_by_kind,
        "files_in_error": sum(s.get("files_in_error", 0) for s in every),
        "patients_read": sum(s["patients_read"] for s in every),
        "patients_assessed": sum(s["patients_assessed"] for s in every),
        "patients_in_error": sum(s["patients_in_error"] for s in every),
        "by_b12_status": merge("by_b12_status"),
        "by_picture": merge("by_picture"),
        "by_cause": merge("by_cause"),
        "by_flag": merge("by_flag"),
        "patients_flagged": sum(s["patients_flagged"] for s in every),
        "by_mcdonald_2017": merge("by_mcdonald_2017"),
        "by_mcdonald_2024": merge("by_mcdonald_2024"),
        "skipped_resources_by_kind": merge("skipped_resources_by_kind"),
        "seconds": round(time.time() - started, 3),
        "read_seconds": round(read_seconds, 3),
        "results": {"path": "results", "format": a.format},
        "spark": {
            "master": sc.master,
            "partitions": nparts,
            "cobalt_runs": len(every),
            "observation_lines_dropped_before_the_shuffle": dropped,
            "orphan_lines_assessed": sum(s["patients_assessed"] for s in orphan_summaries),
        },
    }
    assessed = summary["patients_assessed"]
    os.rename(os.path.join(attempt, "results"), os.path.join(a.out, "results"))
    os.rename(os.path.join(attempt, "errors"), os.path.join(a.out, "errors"))
    os.rmdir(attempt)
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
