#!/usr/bin/env bash
# Throughput of `cobalt screen` against a floor (reading the lines) and DuckDB asking the same
# screening question, on one synthetic FHIR Bulk Data export, and a check that DuckDB and cobalt
# flag the same patients.
#
#   scripts/bench_screen.sh [PATIENTS] [EXPORT_DIR]
#
# PATIENTS: default, enough for about 1 GB of NDJSON (bytes per patient measured on a small
# export first). EXPORT_DIR: default /tmp/cobalt-bench/export-PATIENTS; generated with
# `cobalt synth --seed 1` unless it already holds a manifest.json.
# Env: AS_OF (2026-01-01), THREADS (2: cobalt --threads and DuckDB threads), ROUNDS (2),
# PAD (9: unrelated Observations, vital signs, for each one cobalt reads, as real exports are
# padded), COBALT (target/release/cobalt, built if missing), COBALT_BASE (another cobalt binary,
# say the previous commit's, run side by side in the same rounds), PYTHON (python3).
# Needs /usr/bin/time (Debian `time`) and PyPI duckdb (spark/requirements.txt pins it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AS_OF=${AS_OF:-2026-01-01}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
PYTHON=${PYTHON:-python3}
PAD=${PAD:-9}
COBALT_BASE=${COBALT_BASE:-}
COBALT=${COBALT:-$ROOT/target/release/cobalt}
WORK=${WORK:-/tmp/cobalt-bench}
mkdir -p "$WORK"

if [ ! -x "$COBALT" ]; then cargo build --release -q -p cobalt-cli; fi
if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time (apt-get install -y time)" >&2
  apt-get install -y -qq time >/dev/null
fi
"$PYTHON" -c 'import duckdb' 2>/dev/null || "$PYTHON" -m pip install -q -r spark/requirements.txt

PATIENTS=${1:-}
if [ -z "$PATIENTS" ]; then
  probe=$WORK/probe
  rm -rf "$probe"
  "$COBALT" synth --patients 5000 --seed 1 --out "$probe" --as-of "$AS_OF" --pad-observations "$PAD" >/dev/null 2>&1
  per=$(cat "$probe"/*.ndjson | wc -c)
  PATIENTS=$(( 1000000000 * 5000 / per ))
  echo "probe: $((per / 5000)) bytes per patient; $PATIENTS patients for about 1 GB"
  rm -rf "$probe"
fi
DIR=${2:-$WORK/export-$PATIENTS-pad$PAD}
if [ ! -f "$DIR/manifest.json" ]; then
  echo "generating $PATIENTS patients in $DIR"
  t0=$(date +%s.%N)
  "$COBALT" synth --patients "$PATIENTS" --seed 1 --out "$DIR" --as-of "$AS_OF" --pad-observations "$PAD"
  echo "  synth: $(echo "$(date +%s.%N) - $t0" | bc) s"
fi
BYTES=$(cat "$DIR"/*.ndjson* | wc -c)
LINES=$(cat "$DIR"/*.ndjson | wc -l)
MB=$(echo "scale=3; $BYTES / 1000000" | bc)
echo "export: $DIR, $PATIENTS patients, $LINES lines, $MB MB; threads $THREADS; $(nproc) cores"

now() { date +%s.%N; }
declare -A best
record() { # name seconds
  local cur=${best[$1]:-}
  if [ -z "$cur" ] || [ "$(echo "$2 < $cur" | bc)" = 1 ]; then best[$1]=$2; fi
}
rss_of() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
wall_of() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }

declare -A rss
declare -A out_bytes
for round in $(seq 1 "$ROUNDS"); do
  echo "-- round $round"
  t0=$(now); cat "$DIR"/*.ndjson > /dev/null; t=$(echo "$(now) - $t0" | bc)
  record cat "$t"; printf '  %-26s %7.2f s  %8.0f MB/s\n' "floor: cat" "$t" "$(echo "$MB / $t" | bc -l)"
  t0=$(now); wc -l "$DIR"/*.ndjson > /dev/null; t=$(echo "$(now) - $t0" | bc)
  record wc "$t"; printf '  %-26s %7.2f s  %8.0f MB/s\n' "floor: wc -l" "$t" "$(echo "$MB / $t" | bc -l)"

  run_cobalt() { # name binary out [flags...]
    local name=$1 bin=$2 out=$3; shift 3
    rm -rf "$out"
    /usr/bin/time -v -o "$WORK/time-$name" "$bin" screen "$DIR" --out "$out" --as-of "$AS_OF" \
      --threads "$THREADS" "$@" 2>"$WORK/stderr-$name" >/dev/null
    local t; t=$(wall_of "$WORK/time-$name"); rss[$name]=$(rss_of "$WORK/time-$name")
    local size; size=$(cat "$out"/results.* | wc -c)
    record "$name" "$t"; out_bytes[$name]=$size
    printf '  %-26s %7.2f s  %8.0f MB/s  peak RSS %6s MB  output %6d B/patient\n' "$name" "$t" \
      "$(echo "$MB / $t" | bc -l)" "${rss[$name]}" "$((size / PATIENTS))"
  }
  run_cobalt cobalt "$COBALT" "$WORK/cobalt-out"
  run_cobalt cobalt-parquet "$COBALT" "$WORK/cobalt-parquet" --format parquet
  if [ -n "$COBALT_BASE" ]; then
    run_cobalt base "$COBALT_BASE" "$WORK/base-out"
    run_cobalt base-csv "$COBALT_BASE" "$WORK/base-csv" --format csv
  fi

  rm -rf "$WORK/duckdb-ids"
  /usr/bin/time -v -o "$WORK/time-duckdb" "$PYTHON" scripts/screen_duckdb.py "$DIR" --as-of "$AS_OF" \
    --threads "$THREADS" --ids-dir "$WORK/duckdb-ids" > "$WORK/duckdb-stdout"
  t=$(wall_of "$WORK/time-duckdb"); rss[duckdb]=$(rss_of "$WORK/time-duckdb")
  record duckdb "$t"; printf '  %-26s %7.2f s  %8.0f MB/s  peak RSS %6s MB  (query alone %s s)\n' "DuckDB SQL (4 flags)" "$t" "$(echo "$MB / $t" | bc -l)" "${rss[duckdb]}" \
    "$(tail -1 "$WORK/duckdb-stdout" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')"

  # DuckDB's simplest screening question: each patient's latest total or active B12.
  /usr/bin/time -v -o "$WORK/time-duckdb-latest" "$PYTHON" scripts/screen_duckdb.py "$DIR" --as-of "$AS_OF" \
    --threads "$THREADS" --latest-b12 > "$WORK/duckdb-latest-stdout"
  t=$(wall_of "$WORK/time-duckdb-latest"); rss[duckdb_latest]=$(rss_of "$WORK/time-duckdb-latest")
  record duckdb_latest "$t"; printf '  %-26s %7.2f s  %8.0f MB/s  peak RSS %6s MB  (query alone %s s)\n' "DuckDB SQL (latest B12)" "$t" "$(echo "$MB / $t" | bc -l)" "${rss[duckdb_latest]}" \
    "$(tail -1 "$WORK/duckdb-latest-stdout" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')"
done

echo "-- best of $ROUNDS (MB/s over $MB MB)"
names="cat wc cobalt cobalt-parquet duckdb duckdb_latest"; [ -n "$COBALT_BASE" ] && names="$names base base-csv"
for k in $names; do
  printf '  %-8s %7.2f s  %8.0f MB/s\n' "$k" "${best[$k]}" "$(echo "$MB / ${best[$k]}" | bc -l)"
done
printf '  cobalt / DuckDB (4 flags) time: %.2f (target at most 0.5); cobalt / DuckDB (latest B12) time: %.2f (target at most 1); cobalt / wc -l floor: %.1fx\n' \
  "$(echo "${best[cobalt]} / ${best[duckdb]}" | bc -l)" "$(echo "${best[cobalt]} / ${best[duckdb_latest]}" | bc -l)" "$(echo "${best[cobalt]} / ${best[wc]}" | bc -l)"
printf '  cobalt / cat floor: %.1fx slower; cobalt / wc floor: %.1fx; cobalt / DuckDB: %.2fx (DuckDB %.1fx %s)\n' \
  "$(echo "${best[cobalt]} / ${best[cat]}" | bc -l)" "$(echo "${best[cobalt]} / ${best[wc]}" | bc -l)" \
  "$(echo "${best[cobalt]} / ${best[duckdb]}" | bc -l)" \
  "$(echo "if (${best[cobalt]} > ${best[duckdb]}) ${best[cobalt]} / ${best[duckdb]} else ${best[duckdb]} / ${best[cobalt]}" | bc -l)" \
  "$( [ "$(echo "${best[cobalt]} > ${best[duckdb]}" | bc)" = 1 ] && echo faster || echo slower)"
echo "  cobalt summary: $(grep -o '"patients_read": [0-9]*' "$WORK/cobalt-out/summary.json"), read $(grep -o '"read_seconds": [0-9.]*' "$WORK/cobalt-out/summary.json" | cut -d' ' -f2) s of $(grep -o '"seconds": [0-9.]*' "$WORK/cobalt-out/summary.json" | cut -d' ' -f2) s"

echo "-- flagged patients, cobalt vs DuckDB"
"$PYTHON" - "$WORK/cobalt-out/results.ndjson" "$WORK/duckdb-ids" <<'EOF'
import json, os, sys
flags = ["long_term_drug_untested", "demyelination_untested", "deficient_untreated", "risk_untested", "b12_deficient"]
cob = {f: set() for f in flags}
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        row = json.loads(line)
        for f in row["flags"]:
            cob.setdefault(f, set()).add(row["id"])
        if row["b12_status"] == "deficient":
            cob["b12_deficient"].add(row["id"])
bad = 0
for f in flags:
    with open(os.path.join(sys.argv[2], f + ".txt"), encoding="utf-8") as fh:
        dd = set(fh.read().split())
    c = cob[f]
    both = len(c & dd)
    union = len(c | dd) or 1
    print(f"  {f:26s} cobalt {len(c):7d}  duckdb {len(dd):7d}  both {both:7d}  agreement {100 * both / union:6.2f}%"
          f"  only cobalt {len(c - dd)}  only duckdb {len(dd - c)}")
    for label, s in (("only cobalt", sorted(c - dd)[:5]), ("only duckdb", sorted(dd - c)[:5])):
        if s:
            print(f"      {label}: {' '.join(s)}")
    bad += len(c ^ dd)
print(f"  disagreements: {bad}")
EOF
