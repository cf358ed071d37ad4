#!/usr/bin/env bash
# Load benchmark of the CDS Hooks patient-view service on loopback, side by side in one run with
# POST /v1/echo of the same binary (which only parses and echoes the same body) and POST
# /v1/echo-audited (the echo plus the audit row a hook commits, through the same store).
# echo -> echo-audited is the durable commit's cost; echo-audited -> the hook is cobalt's own
# work. Authentication is off for all three (on loopback) so that the comparison is the work of
# the service itself.
# Needs wrk (Debian package `wrk`). Usage: scripts/bench_service.sh [seconds] [connections]
# Env: COBALT (the binary; default target/release/cobalt, built), VITALS (vital signs in the
# prefetch; default 14, about 12 KB), DB_DIR (where the audit database lives; default a
# temporary directory, so on disk; a tmpfs such as /dev/shm takes the commit's fsync away).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
COBALT=${COBALT:-}
if [ -z "$COBALT" ]; then cargo build --release -q -p cobalt-cli; COBALT=target/release/cobalt; fi
tmp=$(mktemp -d)
db_dir=$(mktemp -d -p "${DB_DIR:-$tmp}")
port=$((20000 + RANDOM % 20000))
"$COBALT" serve --listen "127.0.0.1:$port" --db "$db_dir/audit.sqlite3" --insecure-no-auth --enable-echo >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp" "$db_dir"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
python3 scripts/bench_body.py --vitals "${VITALS:-14}" > "$tmp/body.json"
cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json", "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
echo "body: $(wc -c < "$tmp/body.json") bytes; $secs s per endpoint, $conns connections, 2 threads; audit database in $db_dir ($(df -T "$db_dir" | awk 'NR==2 {print $2}'))"
for round in 1 2; do
  for path in /v1/echo /v1/echo-audited /cds-services/cobalt-b12-patient-view; do
    printf '%-42s round %s: ' "$path" "$round"
    wrk -t2 -c"$conns" -d"${secs}s" -s "$tmp/post.lua" "http://127.0.0.1:$port$path" | grep RESULT
  done
done
