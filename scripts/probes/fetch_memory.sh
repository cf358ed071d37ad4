#!/bin/bash
# Peak memory and time of the service against a FHIR server and a JWK Set that never end.
# usage: scripts/probes/fetch_memory.sh BIN [fhir|jwks] [extra serve args]
# Prints the status, the seconds of one call and the peak RSS of the service.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BIN=$1; WHAT=$2; shift 2
tmp=$(mktemp -d)
trap 'kill $PID $SP 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
b64() { python3 -c "import base64,sys;print(base64.urlsafe_b64encode(sys.argv[1].encode()).decode().rstrip('='))" "$1"; }
if [ "$WHAT" = fhir ]; then
  python3 "$here/endless_fhir.py" 9911 & SP=$!
  "$BIN" serve --listen 127.0.0.1:9912 --insecure-no-auth --db "$tmp/a.sqlite3" "$@" >"$tmp/log" 2>&1 & PID=$!
  AUTH=()
  BODY='{"hook":"patient-view","hookInstance":"d1b1c4a0-0000-4000-8000-000000000001","fhirServer":"http://127.0.0.1:9911","context":{"userId":"Practitioner/1","patientId":"p1"}}'
else
  python3 "$here/endless_jwks.py" 9911 & SP=$!
  "$BIN" serve --listen 127.0.0.1:9912 --db "$tmp/a.sqlite3" --trust "http://ehr.example=http://127.0.0.1:9911/jwks" "$@" >"$tmp/log" 2>&1 & PID=$!
  H=$(b64 '{"alg":"RS384","typ":"JWT","kid":"x"}')
  P=$(b64 "{\"iss\":\"http://ehr.example\",\"sub\":\"c\",\"aud\":\"http://127.0.0.1:9912/cds-services/cobalt-b12-patient-view\",\"exp\":$(( $(date +%s) + 200 )),\"jti\":\"j$RANDOM\"}")
  AUTH=(-H "authorization: Bearer $H.$P.AAAA")
  BODY='{"hook":"patient-view","hookInstance":"d1b1c4a0-0000-4000-8000-000000000001","context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{"patient":{"resourceType":"Patient","id":"p1"}}}'
fi
sleep 1
S=$(date +%s.%N)
CODE=$(curl -s -o "$tmp/out" -w '%{http_code}' -m 120 "${AUTH[@]}" -H 'content-type: application/json' -d "$BODY" http://127.0.0.1:9912/cds-services/cobalt-b12-patient-view)
E=$(date +%s.%N)
echo "$WHAT status=$CODE seconds=$(echo "$E - $S" | bc) peak_rss_kb=$(awk '/VmHWM/{print $2}' /proc/$PID/status)"
