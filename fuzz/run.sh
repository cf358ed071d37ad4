#!/usr/bin/env bash
# Runs the fuzz targets (the case parser, the FHIR path from bytes) for a short time each
# (default 60 s in all). Installs cargo-fuzz if
# needed. The stable toolchain is switched to nightly features with RUSTC_BOOTSTRAP, since only
# one toolchain is available on the build machines.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
half=$(( (seconds + 1) / 2 ))
mkdir -p corpus/parse_case corpus/fhir_bytes
cp -n seeds/*.json corpus/parse_case/ 2>/dev/null || true
cp -n ../crates/cobalt-fhir/tests/fixtures/*.json corpus/fhir_bytes/ 2>/dev/null || true
for target in parse_case fhir_bytes; do
  echo "fuzz target $target ($half s)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$half" -max_len=16384 2>&1 | tail -n 3
done
