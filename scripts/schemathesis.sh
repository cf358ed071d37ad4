#!/usr/bin/env bash
# Fuzzes the service's OpenAPI surface with schemathesis: starts `cobalt serve` on loopback with
# authentication off, runs every generated request against /openapi.json, stops the service.
set -euo pipefail
cobalt="${1:-target/release/cobalt}"
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$cobalt" serve --listen "127.0.0.1:$port" --db "$tmp/audit.sqlite3" --insecure-no-auth >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz')" 2>/dev/null && break
  sleep 0.1
done
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples 40 --no-color "${@:2}"
