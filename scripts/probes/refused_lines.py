# An export with one patient and N Observations that screening must refuse (a B12 in fL).
# usage: python3 scripts/probes/refused_lines.py N DIR; then: cobalt screen DIR --out OUT
import json, os, sys

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "Patient.ndjson"), "w") as f:
    f.write('{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-01-01"}\n')
with open(os.path.join(out, "Observation.ndjson"), "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "resourceType": "Observation", "id": f"o{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-06-01",
            "valueQuantity": {"value": 150, "unit": "fL", "system": "http://unitsofmeasure.org", "code": "fL"},
        }) + "\n")
