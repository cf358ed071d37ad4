// Checks the units cobalt reads against an independent UCUM implementation (@lhncbc/ucum-lhc):
// - tests/data/ucum-prefixes.tsv: each prefix is a UCUM prefix of exactly its power of ten;
// - the concentration rule: every prefixed g or mol over every prefixed L or m3 is valid UCUM and
//   converts to g/L or mol/L by exactly the power of ten cobalt uses (prefix of the amount minus
//   the volume's power in litres);
// - tests/data/ucum-equivalence.tsv: each accepted spelling converts to its base unit by exactly
//   10^power and to the unit cobalt prints it as by exactly 1; each refused spelling is not UCUM
//   ("invalid"), has no conversion into a mass or molar concentration ("dimension"), or is exact
//   but written with a numeric factor ("factor", refused on purpose).
// crates/cobalt-core/tests/ucum.rs checks cobalt's parser against the same tables.
import { readFileSync } from 'node:fs';
import ucum from '@lhncbc/ucum-lhc';

const utils = ucum.UcumLhcUtils.getInstance();
const read = (name) =>
  readFileSync(new URL(`../tests/data/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .slice(1)
    .map((l) => l.split('\t'));
const ucumOf = (s) => s.replace(/[µμ]/g, 'u');
const valid = (s) => utils.validateUnitString(ucumOf(s)).status === 'valid';
const factor = (from, to) => {
  const r = utils.convertUnitTo(ucumOf(from), 1, to);
  return r.status === 'succeeded' ? r.toVal : null;
};
// Equal up to floating point: ucum-lhc multiplies inexact decimal factors (1e-6 / 1e-1).
const exactly = (f, want) => f !== null && Math.abs(f - want) <= 1e-9 * Math.abs(want);

let checked = 0;
let failed = 0;
const fail = (msg) => {
  console.log(`FAIL ${msg}`);
  failed++;
};

const prefixes = read('ucum-prefixes.tsv').map(([p, power]) => [p, Number(power)]);
for (const [p, power] of prefixes) {
  checked++;
  if (!exactly(factor(`${p}g`, 'g'), 10 ** power)) fail(`prefix "${p}" is not 10^${power} in UCUM`);
}

for (const [amount, base] of [['g', 'g/L'], ['mol', 'mol/L']]) {
  for (const [p, pa] of prefixes) {
    for (const [volume, litres] of [['L', (e) => e], ['m3', (e) => 3 * e + 3]]) {
      for (const [q, pv] of prefixes) {
        const unit = `${p}${amount}/${q}${volume}`;
        const power = pa - litres(pv);
        checked++;
        if (!valid(unit)) fail(`${unit} is not valid UCUM`);
        else if (!exactly(factor(unit, base), 10 ** power)) {
          fail(`${unit}: cobalt uses 10^${power} ${base}; UCUM gives ${factor(unit, base)}`);
        }
      }
    }
  }
}

const numericFactor = /(^|[./(])\d+([.)/]|$)/;
for (const [spelling, unit, base, power] of read('ucum-equivalence.tsv')) {
  checked++;
  if (unit !== '-') {
    const f = factor(spelling, base);
    if (!valid(spelling)) fail(`${spelling} is not valid UCUM`);
    else if (!exactly(f, 10 ** Number(power))) {
      fail(`${spelling}: cobalt uses 10^${power} ${base}; UCUM gives ${f}`);
    } else if (!valid(unit) || !exactly(factor(spelling, unit), 1)) {
      fail(`${spelling}: cobalt prints it as ${unit}, which UCUM does not find equal`);
    }
    continue;
  }
  const concentration = ['g/L', 'mol/L'].map((b) => factor(spelling, b)).find((f) => f !== null);
  const exact = concentration !== undefined
    && exactly(concentration, 10 ** Math.round(Math.log10(concentration)));
  const why = {
    invalid: () => !valid(spelling),
    dimension: () => valid(spelling) && concentration === undefined,
    factor: () => valid(spelling) && exact && numericFactor.test(spelling),
  }[base];
  if (!why) fail(`${spelling}: unknown reason ${base}`);
  else if (!why()) fail(`${spelling}: cobalt refuses it as ${base}; UCUM: valid ${valid(spelling)}, ${concentration ?? 'no'} g/L or mol/L`);
}

for (const u of ['fL', 'mL/min/{1.73_m2}']) {
  checked++;
  if (!valid(u)) fail(`cobalt's unit ${u} is not valid UCUM`);
}
console.log(`ucum: ${checked - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
