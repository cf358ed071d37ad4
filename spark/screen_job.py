#!/usr/bin/env python3
"""Population screening of a FHIR Bulk Data export with Apache Spark and the `cobalt` binary.

    spark-submit spark/screen_job.py EXPORT_DIR --out OUT --as-of 2026-01-01 \
        [--format parquet|ndjson|csv] [--cobalt target/release/cobalt] [--master local[2]] \
        [--partitions N] [--profile nice-ng239]

or simply `python3 spark/screen_job.py ...` with pyspark installed (local mode).

No line passes through Python, on the driver or on an executor: Spark reads the text and moves
it in the JVM, and `cobalt screen-stage` (crates/cobalt-screen/src/stage.rs) does cobalt's part
of the work, fed by Spark's own `pipe` (a process per task, lines on its standard input). What
runs where:

1. The driver finds the export's files exactly as `cobalt screen` does (the manifest's order when
   there is a manifest.json, else the `<Type>*.ndjson[.gz]` files in name order) and writes
   OUT/_attempt-*/job.json: the files, the date, the format, the profile.
2. Spark reads every file as text (`.ndjson.gz` decompressed by Spark) and numbers its lines
   by position (input split and row: no pass only to count them; the cobalt runs count each
   split's lines). A line that is not UTF-8 is sent in hexadecimal.
3. The Medication lines go through one `cobalt screen-stage medications` run, which keeps the
   readable ones in the attempt directory for every later run and reports the bad ones.
4. Every other line goes through `cobalt screen-stage file`, one run per input split: as
   `cobalt screen` does, it skips unparsed the Observations that cannot matter, reports bad
   lines, and files each resource under its patient (with the Medication its request names).
   Only what it files crosses the shuffle.
5. Spark hash-partitions the filed records by patient (`repartition`), so that every patient's
   resources are in one partition, and pipes each partition to `cobalt screen-stage assess`,
   which assesses its patients and writes a part file of the results dataset
   (`OUT/results/part-NNNNN.parquet`, or `.ndjson`, `.csv`, sorted by patient id) and of the
   error records (`OUT/errors/part-NNNNN.ndjson`). Only its counts come back to the driver.
6. The driver adds up the counts into OUT/summary.json, with the same counters as
   `cobalt screen`, and checks that every line read was counted by a run. Parts are written
   under OUT/_attempt-* and moved into place only when the job succeeds, so a failed run leaves
   no partial or stale results. The results read back as one table:
   `spark.read.parquet(OUT/results)`, DuckDB's `read_parquet('OUT/results/*.parquet')`,
   `pyarrow.dataset.dataset(OUT/results)`.

The `cobalt` binary: `--cobalt PATH` (default: `cobalt` on PATH, else target/release/cobalt).
Where PATH exists on the executors (local mode, or installed on every machine) it is run from
there. On a cluster, ship the binary with the job; an executor that does not find PATH runs the
shipped copy from its working directory:

    spark-submit --master yarn --files /opt/cobalt/bin/cobalt spark/screen_job.py \
        hdfs:///exports/2026-01-01 --out /data/results --as-of 2026-01-01 --cobalt cobalt

The binary must be built for the executors' platform (e.g. `x86_64-unknown-linux-gnu`, or musl
for a static binary). EXPORT_DIR may be any path Spark's text reader reads (file://, hdfs://,
s3a://) but the driver lists it with the local file system, so it must be a local or mounted
directory here. OUT is written by the executors' cobalt runs and must be storage they all see
(a shared or mounted directory; a local path on one machine).
"""

import argparse
import json
import os
import shutil
import sys
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


# --- lines, numbered in the JVM ------------------------------------------------------------------


def numbered_file(spark, fi, path):
    """The lines of one file as a one-column DataFrame of `cobalt screen-stage` input records
    (`file<TAB>pos<TAB>enc<TAB>text`). The position is `monotonically_increasing_id`: the input
    split's number times 2^33 plus the row in the split; the cobalt runs count the lines of each
    split, so no pass over the input is made only to number its lines."""
    from pyspark.sql import functions as F

    # Lines end at "\n" only, as cobalt reads them.
    v = F.col("value")
    utf8 = F.is_valid_utf8(v)
    record = F.concat_ws(
        "\t",
        F.lit(str(fi)),
        F.monotonically_increasing_id().cast("string"),
        F.when(utf8, F.lit("")).otherwise(F.lit("x")),
        F.when(utf8, v).otherwise(F.hex(v.cast("binary"))),
    )
    return spark.read.option("lineSep", "\n").text(path).select(record.alias("value"))


def split_counts(attempt):
    """{(file index, split): {"lines", "skipped"}} from the counts the cobalt runs wrote."""
    out = {}
    d = os.path.join(attempt, "lines")
    for name in os.listdir(d) if os.path.isdir(d) else []:
        if name.endswith(".json"):
            fi, split = name[: -len(".json")].split("-")
            with open(os.path.join(d, name), encoding="utf-8") as f:
                out[(int(fi), int(split))] = json.load(f)
    return out


def stage_command(cobalt, stage, attempt):
    """The command an executor runs for a stage: the binary at `cobalt` if it is there, else the
    copy shipped with the job (`--files`) in the task's working directory."""
    find = 'p="$0"; [ -x "$p" ] || p="./$(basename "$p")"; exec "$p" "$@"'
    return ["sh", "-c", find, cobalt, "screen-stage", stage, attempt]


def pipe(spark, df, command):
    """Spark's own RDD.pipe, in the JVM, over a one-column string DataFrame: each partition's
    rows go to one run of `command`, a line each; its output lines are the result (a JavaRDD of
    strings). No row enters a Python worker."""
    jvm = spark._jvm
    rows = getattr(df._jdf, "as")(jvm.org.apache.spark.sql.Encoders.STRING())
    return rows.toJavaRDD().pipe(command)


def frame(spark, jrdd):
    """A JavaRDD of strings as a DataFrame with one column, `value`."""
    from pyspark.sql import DataFrame

    jvm = spark._jvm
    ds = spark._jsparkSession.createDataset(jrdd.rdd(), jvm.org.apache.spark.sql.Encoders.STRING())
    return DataFrame(ds.toDF(), spark)


# --- the driver ----------------------------------------------------------------------------------


def run_job(spark, a, files, cobalt, attempt, started):
    """The stages, as the module's docstring sets out; returns the summary."""
    sc = spark.sparkContext
    with open(os.path.join(attempt, "job.json"), "w", encoding="utf-8") as f:
        job = {"files": [{"type": k, "path": n} for k, _, n in files], "as_of": a.as_of, "format": a.format}
        if a.profile:
            job["profile"] = a.profile
        json.dump(job, f)

    med_frames, frames = [], []
    for fi, (kind, path, _) in enumerate(files):
        (med_frames if kind == "Medication" else frames).append(numbered_file(spark, fi, path))

    def union(dfs):
        out = dfs[0]
        for df in dfs[1:]:
            out = out.union(df)
        return out

    up = time.time()
    runs = []
    if med_frames:
        # Shared by every patient's requests: kept once, in the attempt directory, for every
        # later run to read.
        meds = union(med_frames).coalesce(1)
        runs += list(pipe(spark, meds, stage_command(cobalt, "medications", attempt)).collect())
    meds_done = time.time()

    total_bytes = sum(os.path.getsize(p) for _, p, _ in files)
    nparts = a.partitions or max(2 * sc.defaultParallelism, total_bytes // (256 << 20) + 1)
    summaries = [json.loads(x) for x in runs]
    file_runs = 0
    if frames:
        from pyspark.sql import functions as F

        lines = union(frames)
        file_runs = lines._jdf.rdd().getNumPartitions()
        filed = frame(spark, pipe(spark, lines, stage_command(cobalt, "file", attempt)))
        # The shuffle, in the JVM: by the key before the first tab (the patient), so that each
        # patient is in one partition; each record goes on with its partition's number.
        key = F.substring_index(F.col("value"), "\t", 1)
        parts = filed.repartition(nparts, key).select(
            F.concat_ws("\t", F.spark_partition_id().cast("string"), F.col("value")).alias("value")
        )
        out = pipe(spark, parts, stage_command(cobalt, "assess", attempt)).collect()
        summaries += [json.loads(x) for x in out]
    screened = time.time()

    def merge(field):
        m = {}
        for s in summaries:
            for k, v in s.get(field, {}).items():
                m[k] = m.get(k, 0) + v
        return dict(sorted(m.items()))

    counts = split_counts(attempt)
    file_lines = [0] * len(files)
    for (fi, _split), c in counts.items():
        file_lines[fi] += c["lines"]
    lines_read = sum(file_lines)
    skipped = sum(c["skipped"] for c in counts.values())
    knowledge = [s["knowledge_version"] for s in summaries if s.get("knowledge_version")]
    bad_by_kind = merge("bad_lines_by_kind")
    return {
        "as_of": a.as_of,
        "as_of_source": "--as-of",
        "knowledge_version": knowledge[0] if knowledge else None,
        "files": [
            {"type": k, "path": n, "lines": file_lines[fi], "bytes": os.path.getsize(p)}
            for fi, (k, p, n) in enumerate(files)
        ],
        "lines_read": lines_read,
        "lines_skipped": skipped,
        "bad_lines": sum(bad_by_kind.values()),
        "bad_lines_by_kind": bad_by_kind,
        "files_in_error": 0,
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
        "results": {"path": "results", "format": a.format},
        "spark": {
            "master": sc.master,
            "partitions": nparts,
            "cobalt_runs": len(summaries) + file_runs,
            # Where the time went: Spark's start-up (the session), the Medication run, then
            # reading, filing, the shuffle and the assessment (one Spark job).
            "start_seconds": round(up - started, 3),
            "medications_seconds": round(meds_done - up, 3),
            "screen_seconds": round(screened - meds_done, 3),
            "observation_lines_dropped_before_the_shuffle": skipped,
        },
    }


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
    try:
        summary = run_job(spark, a, files, cobalt, attempt, started)
        os.rename(os.path.join(attempt, "results"), os.path.join(a.out, "results"))
        os.rename(os.path.join(attempt, "errors"), os.path.join(a.out, "errors"))
        with open(os.path.join(a.out, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    finally:
        shutil.rmtree(attempt, ignore_errors=True)
        spark.stop()
    assessed = summary["patients_assessed"]
    print(
        f"cobalt-spark: {summary['lines_read']} lines, {summary['patients_read']} patients: "
        f"{assessed} assessed, {summary['patients_in_error']} in error; {summary['bad_lines']} bad lines; "
        f"{summary['patients_flagged']} patients flagged; {summary['seconds']} s. Summary: {os.path.join(a.out, 'summary.json')}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
