#!/usr/bin/env bash
# Runs the case-parser fuzz target for a short time (default 60 s). Installs cargo-fuzz if
# needed. The stable toolchain is switched to nightly features with RUSTC_BOOTSTRAP, since only
# one toolchain is available on the build machines.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
mkdir -p corpus/parse_case
cp -n seeds/*.json corpus/parse_case/ 2>/dev/null || true
RUSTC_BOOTSTRAP=1 cargo fuzz run parse_case corpus/parse_case -- -max_total_time="$seconds" -max_len=8192 2>&1 | tail -n 5
