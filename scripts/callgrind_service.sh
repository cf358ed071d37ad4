#!/usr/bin/env bash
# Instructions per request of one endpoint of `cobalt serve`, counted by callgrind: steadier than
# wall-clock figures on a shared machine. Starts the service under valgrind (audit database in a
# temporary directory, authentication off, echo endpoints on), warms it with 5 requests, zeroes
# the counters, sends N requests one after another with the benchmark's prefetch body, and dumps
# the counts: PROGRAM TOTALS of OUT.1 divided by N is the cost of one request.
#
#   scripts/callgrind_service.sh BINARY [N] [PATH] [OUT]
#
# PATH: default /cds-services/cobalt-b12-patient-view (also /v1/echo, /v1/echo-audited).
# OUT: default /tmp/callgrind-service.out. Env: VITALS (vital signs in the prefetch; 14).
# Needs valgrind (callgrind_control) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?the cobalt binary}
n=${2:-200}
path=${3:-/cds-services/cobalt-b12-patient-view}
out=${4:-/tmp/callgrind-service.out}
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
python3 scripts/bench_body.py --vitals "${VITALS:-14}" > "$tmp/body.json"
rm -f "$out" "$out".*
valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve --listen "127.0.0.1:$port" \
  --db "$tmp/audit.sqlite3" --insecure-no-auth --enable-echo >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
post() { curl -fs -XPOST -H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "http://127.0.0.1:$port$path" >/dev/null; }
for _ in $(seq 5); do post; done
callgrind_control -z "$pid" >/dev/null
for _ in $(seq "$n"); do post; done
callgrind_control -d "$pid" >/dev/null
total=$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "$path: $total instructions for $n requests: $((total / n)) per request"
