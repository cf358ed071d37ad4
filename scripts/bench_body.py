#!/usr/bin/env python3
"""Prints a realistic CDS Hooks patient-view request: a patient with a year of results
(B12 twice, MMA, homocysteine, folate, blood counts), conditions, medicines and a procedure,
as an EHR would prefetch them, with the vital signs an EHR's Observation search also returns
(`--vitals N`, default 14: about 12 KB in all).

    python3 scripts/bench_body.py [--vitals N]
"""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("--vitals", type=int, default=14)
args = ap.parse_args()

def obs(i, loinc, value, unit, date):
    return {"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        "referenceRange": [{"low": {"value": 0, "unit": unit}, "high": {"value": 1000, "unit": unit}}] if loinc == "13964-2" else []}}

labs = [("2132-9", 240, "pg/mL", "2025-02-10"), ("2132-9", 162, "pg/mL", "2025-11-20"), ("13964-2", 480, "nmol/L", "2025-11-20"),
        ("13965-9", 18, "umol/L", "2025-11-20"), ("2284-8", 6.1, "ng/mL", "2025-11-20"), ("718-7", 12.4, "g/dL", "2025-11-20"),
        ("787-2", 103, "fL", "2025-11-20"), ("718-7", 13.1, "g/dL", "2025-02-10"), ("787-2", 98, "fL", "2025-02-10")]
observations = [obs(i, *l) for i, l in enumerate(labs)]
for o in observations:
    if not o["resource"]["referenceRange"]:
        del o["resource"]["referenceRange"]
VITALS = [("8867-4", "Heart rate", 72, "/min"), ("8480-6", "Systolic blood pressure", 128, "mm[Hg]"),
          ("8462-4", "Diastolic blood pressure", 81, "mm[Hg]"), ("29463-7", "Body weight", 81.5, "kg"),
          ("8310-5", "Body temperature", 36.8, "Cel")]
for k in range(args.vitals):
    code, display, value, unit = VITALS[k % len(VITALS)]
    observations.append({"resource": {"resourceType": "Observation", "id": f"v{k}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": f"2025-{1 + k % 12:02d}-15",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}})
body = {
    "hook": "patient-view",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/example", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1957-03-02"},
        "observations": {"resourceType": "Bundle", "type": "searchset", "total": len(observations), "entry": observations},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Condition", "id": "c1", "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes mellitus type 2"}]}, "subject": {"reference": "Patient/p1"}}},
            {"resource": {"resourceType": "Condition", "id": "c2", "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91019004", "display": "Paresthesia"}]}, "subject": {"reference": "Patient/p1"}}}]},
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "MedicationStatement", "id": "m1", "status": "active",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10BA02", "display": "metformin"}]},
             "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2019-06-01"}}},
            {"resource": {"resourceType": "MedicationStatement", "id": "m2", "status": "active",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A02BC01", "display": "omeprazole"}]},
             "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2023-01-01"}}}]},
        "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "procedures": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}
print(json.dumps(body))
