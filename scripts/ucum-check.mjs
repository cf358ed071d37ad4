// Checks tests/data/ucum-equivalence.tsv against an independent UCUM implementation
// (@lhncbc/ucum-lhc): each spelling that cobalt reads as one of its units converts to that unit
// with a factor of exactly 1, and each spelling cobalt refuses ("-") equals none of cobalt's
// units. crates/cobalt-core/tests/ucum.rs checks cobalt's parser against the same table.
import { readFileSync } from 'node:fs';
import ucum from '@lhncbc/ucum-lhc';

const utils = ucum.UcumLhcUtils.getInstance();
const cobaltUnits = ['pg/mL', 'ng/L', 'ng/mL', 'ug/L', 'mg/L', 'mg/dL', 'g/L', 'g/dL', 'pmol/L', 'nmol/L', 'umol/L', 'mmol/L', 'fL'];
const table = readFileSync(new URL('../tests/data/ucum-equivalence.tsv', import.meta.url), 'utf8');
const rows = table.split('\n').filter((l) => l && !l.startsWith('#')).slice(1).map((l) => l.split('\t'));
const ucumOf = (s) => s.replace(/[µμ]/g, 'u');
const factor = (from, to) => {
  const r = utils.convertUnitTo(ucumOf(from), 1, to);
  return r.status === 'succeeded' ? r.toVal : null;
};
const equal = (a, b) => a !== null && Math.abs(a - 1) <= 1e-9;
let failed = 0;
for (const [spelling, want] of rows) {
  if (want === '-') {
    const same = cobaltUnits.filter((u) => equal(factor(spelling, u)));
    if (same.length) {
      console.log(`FAIL ${spelling}: UCUM says it equals ${same.join(', ')}, but cobalt refuses it`);
      failed++;
    }
  } else {
    const f = factor(spelling, want);
    if (!equal(f)) {
      console.log(`FAIL ${spelling}: cobalt reads it as ${want}; UCUM gives a factor of ${f}`);
      failed++;
    }
  }
}
for (const u of cobaltUnits) {
  if (utils.validateUnitString(u).status !== 'valid') {
    console.log(`FAIL cobalt's unit ${u} is not valid UCUM`);
    failed++;
  }
}
console.log(`ucum: ${rows.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
