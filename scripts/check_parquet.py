"""Reads `cobalt screen --format parquet` back with an independent reader (DuckDB) and checks
it against the NDJSON and CSV outputs of the same export: the same rows, the same values, and
the column types the README documents.

    python3 scripts/check_parquet.py target/release/cobalt

Prints `parquet: N passed, M failed` and exits 1 on any failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import duckdb

AS_OF = "2026-01-01"
TYPES = {
    "id": "VARCHAR", "as_of": "DATE", "knowledge_version": "VARCHAR", "profile": "VARCHAR",
    "b12_status": "VARCHAR", "picture": "VARCHAR", "test_indicated": "BOOLEAN",
    "next_tests": "VARCHAR[]", "causes": "VARCHAR[]", "route": "VARCHAR", "urgent": "BOOLEAN",
    "referrals": "VARCHAR[]", "mcdonald_2017_dis": "BOOLEAN", "mcdonald_2017_dit": "BOOLEAN",
    "mcdonald_2017_met": "BOOLEAN", "flags": "VARCHAR[]", "rules": "VARCHAR[]",
    "b12_test": "VARCHAR", "b12_value": "DOUBLE", "b12_comparator": "VARCHAR",
    "b12_unit": "VARCHAR", "b12_date": "DATE", "refused_lines": "UINTEGER",
    "mcdonald_2024_regions": "UTINYINT", "mcdonald_2024_dis": "BOOLEAN", "mcdonald_2024_dit": "BOOLEAN",
    "mcdonald_2024_csf_positive": "BOOLEAN", "mcdonald_2024_cvs_select6": "BOOLEAN",
    "mcdonald_2024_met": "BOOLEAN", "skipped_resources": "UINTEGER",
}

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok   {name}")
    else:
        failed += 1
        print(f"  FAIL {name}: {detail}")


def main():
    cobalt = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/cobalt")
    tmp = tempfile.mkdtemp(prefix="cobalt-parquet-")
    try:
        export = os.path.join(tmp, "export")
        subprocess.run([cobalt, "synth", "--patients", "3000", "--seed", "5", "--out", export,
                        "--as-of", AS_OF], check=True, capture_output=True)
        outs = {}
        for fmt in ["ndjson", "csv", "parquet"]:
            out = os.path.join(tmp, fmt)
            subprocess.run([cobalt, "screen", export, "--out", out, "--format", fmt, "--as-of", AS_OF],
                           check=True, capture_output=True)
            outs[fmt] = os.path.join(out, f"results.{fmt}")
        con = duckdb.connect()
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{outs['parquet']}')").fetchall()
        got = {r[0]: r[1] for r in desc}
        check("the columns are those of the README, in order", list(got) == list(TYPES), list(got))
        wrong = {k: v for k, v in got.items() if TYPES.get(k) != v}
        check("each column has its documented type", not wrong, wrong)
        rows = con.execute(f"SELECT * FROM read_parquet('{outs['parquet']}')").fetchall()
        names = [r[0] for r in desc]
        with open(outs["ndjson"], encoding="utf-8") as f:
            ref = [json.loads(line) for line in f if line.strip()]
        check("as many rows as NDJSON lines", len(rows) == len(ref), f"{len(rows)} != {len(ref)}")
        check("rows in patient-id order", [r[0] for r in rows] == [r["id"] for r in ref])
        mismatches = []
        for row, want in zip(rows, ref):
            have = dict(zip(names, row))
            for k, v in want.items():
                h = have[k]
                if hasattr(h, "isoformat"):
                    h = h.isoformat()
                if h != v:
                    mismatches.append((want["id"], k, h, v))
        check("every value equals the NDJSON row's", not mismatches, mismatches[:5])
        nulls = con.execute(f"SELECT count(*) FROM read_parquet('{outs['parquet']}') WHERE mcdonald_2017_dis IS NOT NULL").fetchone()[0]
        want_nulls = sum(1 for r in ref if r["mcdonald_2017_dis"] is not None)
        check("McDonald values are read as booleans, not as NULL", nulls == want_nulls, f"{nulls} != {want_nulls}")
        csv = con.execute(f"SELECT count(*) FROM read_csv('{outs['csv']}', header=true)").fetchone()[0]
        check("the CSV has the same rows", csv == len(ref), f"{csv} != {len(ref)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"parquet: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
