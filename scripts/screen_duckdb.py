#!/usr/bin/env python3
"""The screening question of `cobalt screen` in DuckDB SQL: a baseline and a cross-check.

    python3 scripts/screen_duckdb.py EXPORT_DIR --as-of 2026-01-01 [--threads 2] [--ids-dir DIR]
    python3 scripts/screen_duckdb.py EXPORT_DIR --as-of 2026-01-01 --latest-b12

`--latest-b12` asks DuckDB's simplest screening question instead, the floor a SQL engine sets:
each patient's latest total or active B12 on or before as_of, from the Observation files alone,
with explicit columns (see `LATEST_B12`).

Reads the export's NDJSON (plain or .ndjson.gz) with `read_json(format='newline_delimited',
columns={...}, ignore_errors=true)`, computes the four flags of
crates/cobalt-core/src/eval/screening.rs (rules SCR-001..004 in knowledge/rules/screening.toml),
prints one line per flag with its count and a JSON line with timings, and writes the flagged
patient ids, one per line and sorted, to DIR/<flag>.txt.

What the SQL mirrors (codes from knowledge/concepts.tsv and knowledge/fhir.toml):
- a B12 result: an Observation (status not entered-in-error or cancelled) with LOINC 2132-9 or
  14685-2 (total B12), 72160-5 (active B12) or 13964-2 (MMA), a numeric value and a unit the
  analyte allows (cobalt refuses a line with a string value or an impossible unit, so the line
  does not count); its date is the first of effectiveDateTime, effectivePeriod.start,
  effectiveInstant, issued. "Recent": dated on or before as_of and within 12 months
  (days / 30.4375 <= 12). "Ever": undated, or dated on or before as_of.
- medicines: MedicationRequest (status active, on-hold or completed; current when active or
  on-hold; start authoredOn, else dispenseRequest.validityPeriod.start) and MedicationStatement
  (status active, intended, on-hold or completed; current when active or on-hold and
  effectivePeriod.end absent or on/after as_of; start effectivePeriod.start, else
  effectiveDateTime); months = round(days(start, min(end, as_of)) / 30.4375, 1).
  Metformin (ATC A10BA02, A10BD*) > 4 months, PPI (A02BC01-06) or H2RA (A02BA01-04, 07) > 12.
- replacement: any current B12 product (ATC B03BA01 cyanocobalamin, B03BA03 hydroxocobalamin).
- MS: a Condition (clinicalStatus absent or active/recurrence/relapse; verificationStatus not
  refuted or entered-in-error) coded ICD-10 G35 (or a subcode) or SNOMED 24700007.
- risk (SCR-004): such a Condition with a malabsorption or autoimmune cause code (autoimmune
  gastritis D51.0 / 84027009, atrophic gastritis K29.4, coeliac K90.0 / 396331005, Crohn's K50 /
  34000006), a Procedure (status completed or in-progress) coded bariatric surgery 430715008 or
  gastrectomy 53442002 / 49209004 / Z90.3, or a latest coeliac serology (31017-7) that is positive
  (SNOMED 10828004).
- deficient (SCR-003): the latest total B12 below 180 ng/L (pmol/L x 1.35537), or the latest
  active B12 below 25 pmol/L, or else the latest MMA above 280 nmol/L (nice-ng239 profile) when
  kidney function is not reduced (no chronic kidney disease Condition, ICD-10 N18 or a subcode:
  cobalt then calls a raised MMA indeterminate; eGFR has no code in the vocabulary, so an eGFR
  Observation is never read from FHIR).

Not mirrored (cobalt's FHIR mapping and evaluator do more): medicationReference, MS course codes
and MS suspected from other sources, MRI and CSF, kidney function and the other checks of the
B12 status (censored values, homocysteine after nitrous oxide, a result taken on replacement),
intrinsic factor antibodies, folate, a vegan diet, dates cobalt refuses. The comparison in
scripts/bench_screen.sh shows what these differences amount to on a synthetic export.
"""

import argparse
import glob
import json
import os
import sys
import time

FLAGS = ["long_term_drug_untested", "demyelination_untested", "deficient_untreated", "risk_untested"]

CODING = "STRUCT(system VARCHAR, code VARCHAR)[]"
CC = f"STRUCT(coding {CODING})"
REF = "STRUCT(reference VARCHAR)"
PERIOD = 'STRUCT("start" VARCHAR, "end" VARCHAR)'

COLUMNS = {
    "Patient": {"resourceType": "VARCHAR", "id": "VARCHAR"},
    "Observation": {
        "resourceType": "VARCHAR", "status": "VARCHAR", "code": CC, "subject": REF,
        "effectiveDateTime": "VARCHAR", "effectivePeriod": PERIOD, "effectiveInstant": "VARCHAR",
        "issued": "VARCHAR", "valueQuantity": "JSON", "valueCodeableConcept": CC,
    },
    "Condition": {
        "resourceType": "VARCHAR", "clinicalStatus": CC, "verificationStatus": CC, "code": CC,
        "subject": REF,
    },
    "MedicationRequest": {
        "resourceType": "VARCHAR", "status": "VARCHAR", "medicationCodeableConcept": CC,
        "subject": REF, "authoredOn": "VARCHAR",
        "dispenseRequest": f"STRUCT(validityPeriod {PERIOD})",
    },
    "MedicationStatement": {
        "resourceType": "VARCHAR", "status": "VARCHAR", "medicationCodeableConcept": CC,
        "subject": REF, "effectivePeriod": PERIOD, "effectiveDateTime": "VARCHAR",
    },
    "Procedure": {"resourceType": "VARCHAR", "status": "VARCHAR", "code": CC, "subject": REF},
}


def files_of(export, kind):
    fs = sorted(glob.glob(os.path.join(export, f"{kind}*.ndjson")) + glob.glob(os.path.join(export, f"{kind}*.ndjson.gz")))
    # "Medication*" must not pick up the other Medication type.
    return [f for f in fs if "".join(c for c in os.path.basename(f).split(".")[0] if c.isalpha()) == kind]


def source(export, kind):
    fs = files_of(export, kind)
    cols = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS[kind].items())
    if not fs:
        # An empty relation with the right columns.
        sel = ", ".join(f"NULL::{v} AS \"{k}\"" for k, v in COLUMNS[kind].items())
        return f"(SELECT {sel} WHERE false)"
    lst = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in fs) + "]"
    return (f"(SELECT * FROM read_json({lst}, format='newline_delimited', columns={{{cols}}}, "
            f"ignore_errors=true, maximum_object_size=67108864) WHERE resourceType = '{kind}')")


PID = "regexp_extract(subject.reference, '.*Patient/(.*)$', 1)"


def has(coding_col, pairs):
    """SQL: a coding in the list matches one of (system, code) pairs; code may end with '*'."""
    ors = []
    for sysname, code in pairs:
        system = {"loinc": "http://loinc.org", "snomed": "http://snomed.info/sct",
                  "icd10": "http://hl7.org/fhir/sid/icd-10", "atc": "http://www.whocc.no/atc"}[sysname]
        if sysname == "icd10":
            m = f"(c.code = '{code}' OR starts_with(c.code, '{code}.')" + (f" OR starts_with(c.code, '{code}')" if "." in code else "") + ")"
        elif code.endswith("*"):
            m = f"starts_with(c.code, '{code[:-1]}')"
        else:
            m = f"c.code = '{code}'"
        ors.append(f"(c.system = '{system}' AND {m})")
    return f"len(list_filter(coalesce({coding_col}, []), lambda c: {' OR '.join(ors)})) > 0"


def build_sql(export, as_of):
    d = f"DATE '{as_of}'"
    obs = source(export, "Observation")
    cond = source(export, "Condition")
    mreq = source(export, "MedicationRequest")
    mst = source(export, "MedicationStatement")
    proc = source(export, "Procedure")
    pat = source(export, "Patient")
    unit = ("CASE WHEN json_extract_string(valueQuantity, '$.system') = 'http://unitsofmeasure.org' "
            "AND json_extract_string(valueQuantity, '$.code') IS NOT NULL THEN json_extract_string(valueQuantity, '$.code') "
            "ELSE coalesce(json_extract_string(valueQuantity, '$.unit'), json_extract_string(valueQuantity, '$.code')) END")
    return f"""
CREATE OR REPLACE TEMP TABLE labs AS
WITH o AS (
  SELECT {PID} AS pid,
    CASE WHEN {has('code.coding', [('loinc', '2132-9'), ('loinc', '14685-2')])} THEN 'total_b12'
         WHEN {has('code.coding', [('loinc', '72160-5')])} THEN 'active_b12'
         WHEN {has('code.coding', [('loinc', '13964-2')])} THEN 'mma'
         WHEN {has('code.coding', [('loinc', '31017-7')])} THEN 'coeliac_serology' END AS test,
    TRY_CAST(left(coalesce(effectiveDateTime, effectivePeriod."start", effectiveInstant, issued), 10) AS DATE) AS dt,
    CASE WHEN json_type(valueQuantity, '$.value') IN ('BIGINT', 'UBIGINT', 'DOUBLE')
         THEN json_extract(valueQuantity, '$.value')::DOUBLE END AS v,
    {unit} AS u,
    {has('valueCodeableConcept.coding', [('snomed', '10828004')])} AS positive,
    valueQuantity IS NULL AS no_quantity
  FROM {obs}
  WHERE coalesce(status, '') NOT IN ('entered-in-error', 'cancelled') AND subject.reference LIKE '%Patient/%'
)
SELECT pid, test, dt,
  CASE test WHEN 'total_b12' THEN CASE u WHEN 'pmol/L' THEN v * 1.35537 WHEN 'pg/mL' THEN v WHEN 'ng/L' THEN v END
            WHEN 'active_b12' THEN CASE u WHEN 'pmol/L' THEN v END
            WHEN 'mma' THEN CASE u WHEN 'nmol/L' THEN v WHEN 'umol/L' THEN v * 1000 WHEN 'ug/L' THEN v * 1000 / 118.09 WHEN 'mg/L' THEN v * 1e6 / 118.09 END
  END AS val,
  positive
FROM o
WHERE test IS NOT NULL
  AND (test = 'coeliac_serology' AND no_quantity OR test <> 'coeliac_serology')
  AND (test = 'coeliac_serology' OR (v IS NOT NULL AND (
        (test = 'total_b12' AND u IN ('pg/mL', 'ng/L', 'pmol/L')) OR (test = 'active_b12' AND u = 'pmol/L')
        OR (test = 'mma' AND u IN ('nmol/L', 'umol/L', 'ug/L', 'mg/L')))));

CREATE OR REPLACE TEMP TABLE meds AS
WITH m AS (
  SELECT {PID} AS pid, medicationCodeableConcept AS med, status,
    status IN ('active', 'on-hold') AS current_status,
    TRY_CAST(left(coalesce(authoredOn, dispenseRequest.validityPeriod."start"), 10) AS DATE) AS start_d,
    NULL::DATE AS end_d
  FROM {mreq} WHERE status IN ('active', 'on-hold', 'completed')
  UNION ALL
  SELECT {PID}, medicationCodeableConcept, status,
    status IN ('active', 'on-hold'),
    TRY_CAST(left(coalesce(effectivePeriod."start", effectiveDateTime), 10) AS DATE),
    TRY_CAST(left(effectivePeriod."end", 10) AS DATE)
  FROM {mst} WHERE status IN ('active', 'intended', 'on-hold', 'completed')
)
SELECT pid,
  CASE WHEN {has('med.coding', [('atc', 'A10BA02'), ('atc', 'A10BD02'), ('atc', 'A10BD03'), ('atc', 'A10BD05'), ('atc', 'A10BD07'), ('atc', 'A10BD08'), ('atc', 'A10BD10'), ('atc', 'A10BD11'), ('atc', 'A10BD13')])} THEN 'metformin'
       WHEN {has('med.coding', [('atc', f'A02BC0{i}') for i in range(1, 7)])} THEN 'ppi'
       WHEN {has('med.coding', [('atc', 'A02BA01'), ('atc', 'A02BA02'), ('atc', 'A02BA03'), ('atc', 'A02BA04'), ('atc', 'A02BA07')])} THEN 'h2ra'
       WHEN {has('med.coding', [('atc', 'B03BA01'), ('atc', 'B03BA03')])} THEN 'b12' END AS drug,
  current_status AND (end_d IS NULL OR end_d >= {d}) AS current,
  CASE WHEN start_d <= least(coalesce(end_d, {d}), {d})
       THEN round(datediff('day', start_d, least(coalesce(end_d, {d}), {d})) / 30.4375, 1) END AS months
FROM m;

CREATE OR REPLACE TEMP TABLE conds AS
SELECT {PID} AS pid,
  {has('code.coding', [('icd10', 'G35'), ('snomed', '24700007')])} AS ms,
  {has('code.coding', [('icd10', 'D51.0'), ('snomed', '84027009'), ('icd10', 'K29.4'), ('icd10', 'K90.0'), ('snomed', '396331005'), ('icd10', 'K50'), ('snomed', '34000006')])} AS risk,
  {has('code.coding', [('icd10', 'N18')])} AS ckd
FROM {cond}
WHERE (clinicalStatus IS NULL OR len(coalesce(clinicalStatus.coding, [])) = 0 OR len(list_filter(clinicalStatus.coding, lambda c: c.code IN ('active', 'recurrence', 'relapse'))) > 0)
  AND len(list_filter(coalesce(verificationStatus.coding, []), lambda c: c.code IN ('refuted', 'entered-in-error'))) = 0;

CREATE OR REPLACE TEMP TABLE procs AS
SELECT {PID} AS pid FROM {proc}
WHERE status IN ('completed', 'in-progress')
  AND {has('code.coding', [('snomed', '430715008'), ('snomed', '53442002'), ('snomed', '49209004'), ('icd10', 'Z90.3')])};

CREATE OR REPLACE TEMP TABLE patients AS
SELECT id AS pid FROM {pat} WHERE id IS NOT NULL
UNION SELECT pid FROM labs UNION SELECT pid FROM meds UNION SELECT pid FROM conds UNION SELECT pid FROM procs;

CREATE OR REPLACE TEMP TABLE per_patient AS
WITH b12 AS (
  SELECT pid,
    bool_or(dt IS NULL OR dt <= {d}) AS ever,
    bool_or(dt IS NOT NULL AND dt <= {d} AND datediff('day', dt, {d}) / 30.4375 <= 12) AS recent
  FROM labs WHERE test IN ('total_b12', 'active_b12', 'mma') GROUP BY pid
), latest AS (
  SELECT pid, test, val, positive FROM (
    SELECT *, row_number() OVER (PARTITION BY pid, test ORDER BY dt NULLS FIRST) AS rn,
              count(*) OVER (PARTITION BY pid, test) AS n
    FROM labs WHERE dt IS NULL OR dt <= {d}) WHERE rn = n
), status AS (
  SELECT pid,
    bool_or((test = 'total_b12' AND val < 180) OR (test = 'active_b12' AND val < 25)) AS deficient,
    bool_or(test = 'mma' AND val > 280) AS mma_raised,
    bool_or(test = 'coeliac_serology' AND positive) AS coeliac_positive
  FROM latest GROUP BY pid
), drugs AS (
  SELECT pid,
    bool_or(current AND ((drug = 'metformin' AND months > 4) OR (drug IN ('ppi', 'h2ra') AND months > 12))) AS long_term,
    bool_or(current AND drug = 'b12') AS replacement
  FROM meds GROUP BY pid
), c AS (SELECT pid, bool_or(ms) AS ms, bool_or(risk) AS risk, bool_or(ckd) AS ckd FROM conds GROUP BY pid)
SELECT p.pid,
  coalesce(drugs.replacement, false) AS repl,
  coalesce(b12.ever, false) AS ever,
  coalesce(b12.recent, false) AS recent,
  coalesce(drugs.long_term, false) AS long_term,
  coalesce(c.ms, false) AS ms,
  coalesce(c.risk, false) OR p.pid IN (SELECT pid FROM procs) OR coalesce(status.coeliac_positive, false) AS risk,
  coalesce(status.deficient, false) OR (coalesce(status.mma_raised, false) AND NOT coalesce(c.ckd, false)) AS deficient
FROM patients p
LEFT JOIN b12 USING (pid) LEFT JOIN status USING (pid) LEFT JOIN drugs USING (pid) LEFT JOIN c USING (pid);

CREATE OR REPLACE TEMP TABLE flags AS
SELECT pid, 'long_term_drug_untested' AS flag FROM per_patient WHERE long_term AND NOT recent AND NOT repl
UNION ALL SELECT pid, 'demyelination_untested' FROM per_patient WHERE ms AND NOT ever AND NOT repl
UNION ALL SELECT pid, 'deficient_untreated' FROM per_patient WHERE deficient AND NOT repl
UNION ALL SELECT pid, 'risk_untested' FROM per_patient WHERE risk AND NOT recent AND NOT repl;
"""


LATEST_B12_COLUMNS = {
    "subject": REF, "code": CC, "effectiveDateTime": "VARCHAR",
    "valueQuantity": "STRUCT(value DOUBLE, unit VARCHAR, code VARCHAR)",
}


def latest_b12_sql(export, as_of):
    """Each patient's latest total or active B12 (LOINC 2132-9, 14685-2, 72160-5) dated on or
    before as_of, from the Observation files: one row per patient and test."""
    fs = files_of(export, "Observation")
    lst = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in fs) + "]"
    cols = ", ".join(f"'{k}': '{v}'" for k, v in LATEST_B12_COLUMNS.items())
    test = (f"CASE WHEN {has('code.coding', [('loinc', '2132-9'), ('loinc', '14685-2')])} THEN 'total_b12' "
            f"WHEN {has('code.coding', [('loinc', '72160-5')])} THEN 'active_b12' END")
    return f"""
CREATE OR REPLACE TEMP TABLE latest AS
SELECT pid, test, arg_max(v, dt) AS value, max(dt) AS dt FROM (
  SELECT {PID} AS pid, {test} AS test,
    TRY_CAST(left(effectiveDateTime, 10) AS DATE) AS dt, valueQuantity.value AS v
  FROM read_json({lst}, format='newline_delimited', columns={{{cols}}}, ignore_errors=true,
                 maximum_object_size=67108864)
) WHERE test IS NOT NULL AND v IS NOT NULL AND dt <= DATE '{as_of}'
GROUP BY pid, test;
"""


def run(sql, threads):
    """A DuckDB connection with `threads` threads that has run `sql`."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    con.execute(sql)
    return con


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export")
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ids-dir", default=None, help="write <flag>.txt files of flagged ids here")
    ap.add_argument("--print-sql", action="store_true")
    ap.add_argument("--latest-b12", action="store_true",
                    help="only each patient's latest total or active B12 (the simplest question)")
    a = ap.parse_args()
    import duckdb

    if a.latest_b12:
        sql = latest_b12_sql(a.export, a.as_of)
        if a.print_sql:
            print(sql)
            return 0
        t0 = time.time()
        con = run(sql, a.threads)
        rows, patients = con.execute("SELECT count(*), count(DISTINCT pid) FROM latest").fetchone()
        seconds = time.time() - t0
        print(json.dumps({"duckdb": duckdb.__version__, "threads": a.threads, "query": "latest_b12",
                          "rows": rows, "patients": patients, "seconds": round(seconds, 3)}))
        return 0
    sql = build_sql(a.export, a.as_of)
    if a.print_sql:
        print(sql)
        return 0
    t0 = time.time()
    con = run(sql, a.threads)
    counts = dict(con.execute("SELECT flag, count(*) FROM flags GROUP BY flag").fetchall())
    patients = con.execute("SELECT count(*) FROM patients").fetchone()[0]
    seconds = time.time() - t0
    for f in FLAGS:
        print(f"{f}\t{counts.get(f, 0)}")
    if a.ids_dir:
        os.makedirs(a.ids_dir, exist_ok=True)
        for f in FLAGS:
            ids = [r[0] for r in con.execute("SELECT pid FROM flags WHERE flag = ? ORDER BY pid", [f]).fetchall()]
            with open(os.path.join(a.ids_dir, f"{f}.txt"), "w", encoding="utf-8") as fh:
                fh.write("".join(i + "\n" for i in ids))
        # Patients whose latest total or active B12 is in the deficiency range.
        ids = [r[0] for r in con.execute(
            "SELECT pid FROM (SELECT pid, bool_or((test = 'total_b12' AND val < 180) OR (test = 'active_b12' AND val < 25)) AS d "
            "FROM (SELECT *, row_number() OVER (PARTITION BY pid, test ORDER BY dt NULLS FIRST) AS rn, count(*) OVER (PARTITION BY pid, test) AS n "
            f"FROM labs WHERE dt IS NULL OR dt <= DATE '{a.as_of}') WHERE rn = n GROUP BY pid) WHERE d ORDER BY pid").fetchall()]
        with open(os.path.join(a.ids_dir, "b12_deficient.txt"), "w", encoding="utf-8") as fh:
            fh.write("".join(i + "\n" for i in ids))
    print(json.dumps({"duckdb": duckdb.__version__, "threads": a.threads, "patients": patients,
                      "seconds": round(seconds, 3), "by_flag": {f: counts.get(f, 0) for f in FLAGS}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
