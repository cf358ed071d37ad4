#!/usr/bin/env bash
# The Spark job beside `cobalt screen` on the same export, in one run: `cobalt screen` alone,
# the Spark job on local[2], and on a standalone cluster of two one-core workers
# (spark/standalone.py). For each: wall time, Spark's start-up apart (summary.json
# spark.start_seconds), the ratio to `cobalt screen`, and the peak memory (VmHWM) of every JVM
# (driver, master, workers, executors), sampled twice a second. The results are compared as
# sets of rows with DuckDB.
#
#   scripts/bench_spark.sh [PATIENTS] [EXPORT_DIR]
#
# PATIENTS: default 1,000,000. EXPORT_DIR: default /tmp/cobalt-bench/export-PATIENTS-pad9,
# generated with `cobalt synth --seed 1 --pad-observations 9` unless it holds a manifest.json.
# Env: AS_OF (2026-01-01), COBALT (target/release/cobalt, built if missing), PYTHON (python3),
# WORK (/tmp/cobalt-bench). Needs /usr/bin/time, pyspark and duckdb (spark/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PATIENTS=${1:-1000000}
AS_OF=${AS_OF:-2026-01-01}
PYTHON=${PYTHON:-python3}
WORK=${WORK:-/tmp/cobalt-bench}
COBALT=${COBALT:-$ROOT/target/release/cobalt}
EXPORT=${2:-$WORK/export-$PATIENTS-pad9}
mkdir -p "$WORK"
if [ ! -x "$COBALT" ]; then cargo build --release -q -p cobalt-cli; fi
if [ ! -f "$EXPORT/manifest.json" ]; then
  "$COBALT" synth --patients "$PATIENTS" --seed 1 --pad-observations 9 --out "$EXPORT" --as-of "$AS_OF"
fi

# Peak VmHWM of each JVM while a command runs, by role.
peaks() {
  local out=$1
  shift
  : > "$out.samples"
  (
    while true; do
      for p in $(pgrep java || true); do
        h=$(awk '/VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || true)
        [ -n "$h" ] || continue
        c=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null || true)
        case "$c" in
          *deploy.master.Master*) r=master ;;
          *deploy.worker.Worker*) r=worker ;;
          *CoarseGrainedExecutorBackend*) r=executor ;;
          *) r=driver ;;
        esac
        echo "$r $p $h" >> "$out.samples"
      done
      sleep 0.5
    done
  ) &
  local sampler=$!
  local rc=0
  "$@" || rc=$?
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sort -k2,2n -k3,3n "$out.samples" | awk '{peak[$1" "$2]=$3} END {for (k in peak) print k, peak[k]}' \
    | sort > "$out.peaks"
  return $rc
}

echo "export: $EXPORT ($(du -sh "$EXPORT" | cut -f1))"
/usr/bin/time -f "%e %M" -o "$WORK/time-screen" \
  "$COBALT" screen "$EXPORT" --out "$WORK/screen-out" --format parquet --as-of "$AS_OF" --threads 2 \
  2> "$WORK/stderr-screen"
peaks "$WORK/local" /usr/bin/time -f "%e %M" -o "$WORK/time-local" \
  "$PYTHON" spark/screen_job.py "$EXPORT" --out "$WORK/spark-local" --as-of "$AS_OF" \
  --cobalt "$COBALT" --master 'local[2]' 2> "$WORK/stderr-local"
peaks "$WORK/cluster" /usr/bin/time -f "%e %M" -o "$WORK/time-cluster" \
  "$PYTHON" spark/standalone.py "$EXPORT" --out "$WORK/spark-cluster" --as-of "$AS_OF" \
  --cobalt "$COBALT" 2> "$WORK/stderr-cluster"

"$PYTHON" - "$WORK" <<'EOF'
import json, os, sys
import duckdb

w = sys.argv[1]
def t(name):
    s, kb = open(os.path.join(w, f"time-{name}")).read().split()
    return float(s), int(kb)
screen_s, screen_kb = t("screen")
print(f"cobalt screen --threads 2: {screen_s:.1f} s, peak {screen_kb / 1024:.0f} MB")
con = duckdb.connect()
ref = con.execute(f"select count(*) from read_parquet('{w}/screen-out/results.parquet')").fetchone()[0]
for name, label in (("local", "Spark local[2]"), ("cluster", "Spark standalone, 2 workers x 1 core")):
    wall, _ = t(name)
    out = os.path.join(w, f"spark-{name}")
    s = json.load(open(os.path.join(out, "summary.json")))["spark"]
    start = s["start_seconds"]
    work = s["medications_seconds"] + s["screen_seconds"]
    print(f"{label}: {wall:.1f} s wall; start-up {start:.1f} s; screening {work:.1f} s = "
          f"{work / screen_s:.2f}x cobalt screen ({wall / screen_s:.2f}x with start-up and shutdown)")
    for line in open(os.path.join(w, f"{name}.peaks")):
        role, pid, kb = line.split()
        print(f"    {role} (pid {pid}): peak {int(kb) / 1024:.0f} MB")
    diff = con.execute(
        f"select count(*) from ((select * from read_parquet('{w}/screen-out/results.parquet') "
        f"except all select * from read_parquet('{out}/results/*.parquet')) union all "
        f"(select * from read_parquet('{out}/results/*.parquet') except all "
        f"select * from read_parquet('{w}/screen-out/results.parquet')))").fetchone()[0]
    print(f"    rows: {ref} in cobalt screen's results; {diff} differ")
EOF
