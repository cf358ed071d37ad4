#!/usr/bin/env python3
"""Prints a realistic CDS Hooks patient-view request: a patient with a year of results
(B12 twice, MMA, homocysteine, folate, blood counts), conditions, medicines and a procedure,
as an EHR would prefetch them."""
import json

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
