// End-to-end tests of cobalt's page for clinicians in headless Chromium (Debian's chromium,
// driven by playwright-core). Starts `cobalt serve` on loopback, fills the form for published
// dev cases through the page's own controls, checks the conclusions the page shows against each
// case's reported outcome, switches to the patient view with the keyboard, and saves screenshots
// in target/browser-artifacts/.
//
//   node scripts/browser-test.mjs target/release/cobalt [CASE.json ...]
//
// Without case files it runs every published case in tests/published/. Prints `browser: N passed,
// M failed` and exits 1 on any failure.

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, mkdtempSync, existsSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const cobalt = resolve(process.argv[2] || join(repo, 'target/release/cobalt'));
let caseFiles = process.argv.slice(3);
if (caseFiles.length === 0) {
  const dir = resolve(repo, 'tests/published');
  caseFiles = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f));
  // The constructed McDonald 2024 cases: they use the form's 2024 fields (central vein sign, rim
  // lesions, OCT, VEP, kappa FLC index).
  const constructed = resolve(repo, 'tests/cases');
  caseFiles.push(...readdirSync(constructed).filter((f) => /^C-M24-.*\.json$/.test(f)).sort().map((f) => join(constructed, f)));
}
const artefacts = join(repo, 'target/browser-artifacts');
mkdirSync(artefacts, { recursive: true });
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
// axe-core, the accessibility engine, injected into the page under test.
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// Runs axe-core (WCAG 2.1 A and AA rules) on the page; returns the serious and critical violations.
async function accessibility(page) {
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy (rightly) refuses
  // an injected script tag.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

// The service, on a free loopback port, authentication off (allowed only on loopback).
const port = 18000 + (process.pid % 2000);
const base = `http://127.0.0.1:${port}`;
const work = mkdtempSync(join(tmpdir(), 'cobalt-browser-'));
const server = spawn(cobalt, ['serve', '--listen', `127.0.0.1:${port}`, '--insecure-no-auth', '--db', join(work, 'audit.sqlite3')], { stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
async function waitForServer() {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('cobalt serve did not start:\n' + serverLog);
}

// Sorted keys, and sorted regions (a set): two cases compare equal whatever their order.
function canonical(v, key) {
  if (Array.isArray(v)) return key === 'regions' ? [...v].sort() : v.map((x) => canonical(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k], k)]));
  return v;
}

// Fills the page's form from a case, the way a person would: choosing options, typing numbers,
// ticking regions, adding a row per list item. Generic over the case format.
const LISTS = ['findings', 'labs', 'medications', 'conditions', 'procedures', 'exposures', 'mri.lesions'];
async function fill(page, c) {
  async function set(locator, v) {
    const tag = await locator.evaluate((e) => e.tagName);
    if (tag === 'SELECT') await locator.selectOption(String(v));
    else await locator.fill(String(v));
  }
  async function scalars(obj, prefix) {
    for (const [k, v] of Object.entries(obj)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (path === 'format' || LISTS.includes(path)) continue;
      if (v && typeof v === 'object' && !Array.isArray(v)) await scalars(v, path);
      else await set(page.locator(`[data-path="${path}"]`), v);
    }
  }
  await scalars(c, '');
  for (const list of LISTS) {
    const items = list.split('.').reduce((o, p) => (o ? o[p] : undefined), c) || [];
    for (const item of items) {
      await page.click(`[data-add="${list}"]`);
      const row = page.locator(`.row[data-list="${list}"]`).last();
      // The test first: it decides which units the row offers.
      const keys = Object.keys(item).sort((a, b) => (a === 'test' ? -1 : b === 'test' ? 1 : 0));
      for (const k of keys) {
        const v = item[k];
        if (Array.isArray(v)) {
          for (const r of v) await row.locator(`[data-key="${k}"] input[value="${r}"]`).check();
        } else {
          await set(row.locator(`[data-key="${k}"]`), v);
        }
      }
    }
  }
}

// What the page shows, read from the DOM.
async function shown(page) {
  return page.evaluate(() => {
    const glance = {};
    for (const d of document.querySelectorAll('#glance [data-conclusion]')) {
      glance[d.dataset.conclusion] = { value: d.dataset.value, text: d.querySelector('dd').textContent, urgent: d.classList.contains('urgent') };
    }
    const mcdonald = {};
    const mcdonald2024 = {};
    for (const tr of document.querySelectorAll('#view-clinician [data-criterion]')) {
      mcdonald[tr.dataset.criterion] = tr.querySelector('td').textContent;
      mcdonald2024[tr.dataset.criterion] = tr.querySelector('td[data-year="2024"]').textContent;
    }
    const rows = {};
    for (const tr of document.querySelectorAll('#view-clinician table.glance tr')) rows[tr.querySelector('th').textContent] = tr.querySelector('td').textContent;
    return { glance, mcdonald, mcdonald2024, rows };
  });
}

function expectShown(s, e) {
  const list = (k) => (s.glance[k].value || '').split(' ').filter(Boolean);
  if (e.b12_status) assert.equal(s.glance.b12_status.value, e.b12_status, 'B12 status');
  if (e.picture) assert.equal(s.glance.picture.value, e.picture, 'picture');
  if (e.picture_not) assert.notEqual(s.glance.picture.value, e.picture_not, 'picture');
  if (e.route) assert.equal(s.glance.treatment.value, e.route, 'route');
  if (e.route_any_of) assert.ok(e.route_any_of.includes(s.glance.treatment.value), `route ${s.glance.treatment.value}`);
  if (e.urgent !== undefined) assert.equal(s.glance.treatment.urgent, e.urgent, 'urgency');
  if (e.test_indicated !== undefined) assert.equal(s.rows['Test indicated'].startsWith('yes'), e.test_indicated, `test indicated: ${s.rows['Test indicated']}`);
  for (const c of e.causes_include || []) assert.ok(list('causes').includes(c), `cause ${c} in ${list('causes')}`);
  if (e.next_tests_include_any) assert.ok(e.next_tests_include_any.some((t) => list('next_tests').includes(t)), `next tests ${list('next_tests')}`);
  if (e.mcdonald_dis !== undefined) assert.equal(s.mcdonald.dis, e.mcdonald_dis ? 'yes' : 'no', 'McDonald DIS');
  if (e.mcdonald_dit !== undefined) assert.equal(s.mcdonald.dit, e.mcdonald_dit ? 'yes' : 'no', 'McDonald DIT');
  if (e.mcdonald_met_not_true) assert.notEqual(s.mcdonald.met, 'yes', 'McDonald met');
  const tri = (v) => (v === true ? 'yes' : v === false ? 'no' : 'not enough data');
  if (e.mcdonald_met !== undefined) assert.equal(s.mcdonald.met, tri(e.mcdonald_met), 'McDonald 2017 met');
  for (const [key, row] of [['dis', 'dis'], ['dit', 'dit'], ['csf_positive', 'csf'], ['cvs_select6', 'cvs'], ['met', 'met']]) {
    const want = e[`mcdonald_2024_${key}`];
    if (want !== undefined) assert.equal(s.mcdonald2024[row], tri(want), `McDonald 2024 ${key}`);
  }
  if (e.mcdonald_2024_met_not_true) assert.notEqual(s.mcdonald2024.met, 'yes', 'McDonald 2024 met');
  if (typeof e.mcdonald_2024_regions === 'number') assert.ok(s.mcdonald2024.regions.startsWith(`${e.mcdonald_2024_regions} of 5`), `McDonald 2024 regions ${s.mcdonald2024.regions}`);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

try {
  await waitForServer();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  async function open() {
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
  }

  await check('the page loads with no external request and shows the disclaimer', async () => {
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
    await open();
    assert.deepEqual(external, []);
    const d = page.locator('#disclaimer');
    assert.ok(await d.isVisible());
    assert.match(await d.textContent(), /not a diagnosis/);
  });

  await check('every form control has a label a screen reader reads', async () => {
    const unlabelled = await page.evaluate(() => {
      for (const b of document.querySelectorAll('[data-add]')) b.click();
      return Array.from(document.querySelectorAll('input, select, textarea'))
        .filter((e) => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
        .map((e) => e.outerHTML.slice(0, 80));
    });
    assert.deepEqual(unlabelled, []);
  });

  for (const file of caseFiles) {
    const dev = JSON.parse(readFileSync(file, 'utf8'));
    const id = dev.case_id || basename(file, '.json');
    await check(`${id}: the form, filled by hand, sends the case and shows its reported outcome`, async () => {
      await open();
      await fill(page, dev.case);
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.url().endsWith('/ui/assess')),
        page.click('#assess'),
      ]);
      assert.equal(JSON.stringify(canonical(JSON.parse(request.postData()))), JSON.stringify(canonical(dev.case)), 'the form sends exactly the case');
      await page.waitForSelector('#glance:not([hidden])');
      expectShown(await shown(page), dev.expect);
      // Every finding names its rule and cites numbered references; each number lands on an
      // entry of the reference list, whose entries link to the sources and back to the findings.
      const findings = await page.locator('#view-clinician .finding').count();
      assert.ok(findings > 0, 'findings shown');
      assert.equal(await page.locator('#view-clinician .finding .rule').count(), findings);
      const targets = await page.locator('#view-clinician .finding .src a.cite').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      assert.ok(targets.length > 0, 'numbered citations');
      for (const t of new Set(targets)) {
        assert.equal(await page.locator(`#view-clinician .references li${t}`).count(), 1, `${t} is an entry of the list`);
      }
      assert.ok(await page.locator('#view-clinician .references a[href^="http"]').count() > 0, 'linked sources');
      const back = await page.locator('#view-clinician .references .back a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      for (const t of new Set(back)) {
        assert.equal(await page.locator(`#view-clinician .finding${t}`).count(), 1, `${t} is a finding`);
      }
      await page.screenshot({ path: join(artefacts, `${id}-page.png`) });
      await page.locator('#results').screenshot({ path: join(artefacts, `${id}-clinician.png`) });

      // The patient view, reached with the keyboard.
      await page.focus('#tab-clinician');
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-patient');
      assert.ok(await page.locator('#view-patient').isVisible(), 'patient view shown');
      assert.ok(await page.locator('#view-clinician').isHidden(), 'clinician view hidden');
      const text = await page.locator('#view-patient').innerText();
      assert.match(text, /not a diagnosis/i);
      assert.doesNotMatch(text, /[a-z]_[a-z]/, 'no concept ids in the patient view');
      await page.locator('#results').screenshot({ path: join(artefacts, `${id}-patient.png`) });
      if (file === caseFiles[0]) {
        assert.deepEqual(await accessibility(page), [], 'axe-core on the patient view');
        await page.keyboard.press('ArrowLeft');
        assert.deepEqual(await accessibility(page), [], 'axe-core on the clinician view and the form');
      }
    });
  }

  await check('a bad value is refused with its JSON path, and the field is marked and focused', async () => {
    await open();
    await page.fill('[data-path="patient.age_years"]', '200');
    await page.click('#assess');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.locator('#error').textContent(), /patient\.age_years/);
    assert.equal(await page.getAttribute('[data-path="patient.age_years"]', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.path), 'patient.age_years');
  });

  await check('a refused entry removes the previous patient\'s results at once', async () => {
    await open();
    await page.fill('[data-path="id"]', 'first-patient');
    await page.fill('[data-path="patient.age_years"]', '70');
    await page.click('#assess');
    await page.waitForSelector('#glance:not([hidden])');
    await page.click('#clear');
    await page.fill('[data-path="id"]', 'second-patient');
    await page.fill('[data-path="patient.age_years"]', '200');
    await page.click('#assess');
    await page.waitForSelector('#error:not([hidden])');
    assert.ok(await page.locator('#glance').isHidden(), 'tiles hidden');
    assert.ok(await page.locator('#views').isHidden(), 'reports hidden');
    assert.equal(await page.locator('#view-clinician').innerHTML(), '', 'no earlier report in the page');
  });

  await check('editing the form after assessing removes the results that no longer match it', async () => {
    await open();
    await page.fill('[data-path="patient.age_years"]', '70');
    await page.click('#assess');
    await page.waitForSelector('#glance:not([hidden])');
    assert.match(await page.locator('#source').textContent(), /case in the form/);
    await page.fill('[data-path="patient.age_years"]', '71');
    assert.ok(await page.locator('#glance').isHidden(), 'tiles hidden after an edit');
    assert.match(await page.locator('#status').textContent(), /form changed/);
  });

  await check('assessing pasted JSON never leaves another patient in the form', async () => {
    await open();
    await page.fill('[data-path="id"]', 'form-patient');
    await page.fill('[data-path="patient.age_years"]', '44');
    const pasted = { format: 'cobalt.case/1', id: 'pasted-patient', patient: { age_years: 81 } };
    await page.click('#paste summary');
    await page.fill('#paste-text', JSON.stringify(pasted));
    await page.click('#assess-pasted');
    await page.waitForSelector('#glance:not([hidden])');
    assert.equal(await page.inputValue('[data-path="id"]'), 'pasted-patient', 'the form holds the pasted case');
    assert.equal(await page.inputValue('[data-path="patient.age_years"]'), '81');
    assert.match(await page.locator('#source').textContent(), /pasted JSON/);
    const fixtures = join(repo, 'crates/cobalt-fhir/tests/fixtures');
    const bundle = JSON.parse(readFileSync(join(fixtures, 'patient-race.json'), 'utf8'));
    await page.fill('#paste-text', JSON.stringify(bundle));
    await page.click('#assess-pasted');
    await page.waitForSelector('#glance:not([hidden])');
    assert.equal(await page.inputValue('[data-path="id"]'), '', 'the form is cleared for a Bundle');
    assert.equal(await page.inputValue('[data-path="patient.age_years"]'), '');
  });

  await check('several dated total B12 results are drawn as a chart', async () => {
    await open();
    const results = [['2025-06-01', 300], ['2025-12-01', 210], ['2026-03-01', 140]];
    for (const [date, value] of results) {
      await page.click('[data-add="labs"]');
      const row = page.locator('.row[data-list="labs"]').last();
      await row.locator('[data-key="test"]').selectOption('total_b12');
      await row.locator('[data-key="value"]').fill(String(value));
      await row.locator('[data-key="unit"]').selectOption('ng/L');
      await row.locator('[data-key="date"]').fill(date);
    }
    await page.fill('[data-path="as_of"]', '2026-04-01');
    await page.click('#assess');
    await page.waitForSelector('#glance:not([hidden])');
    const chart = page.locator('#view-clinician svg[role="img"]');
    assert.ok(await chart.isVisible(), 'chart shown');
    assert.match(await chart.getAttribute('aria-label'), /B12/);
    assert.equal(await chart.locator('circle').count(), results.length);
    await chart.screenshot({ path: join(artefacts, 'b12-chart.png') });
  });

  await check('a lab row offers only the units of its test, and a qualitative test takes a result', async () => {
    await open();
    await page.click('[data-add="labs"]');
    const row = page.locator('.row[data-list="labs"]').last();
    await row.locator('[data-key="test"]').selectOption('total_b12');
    const units = await row.locator('[data-key="unit"] option').allTextContents();
    assert.ok(units.includes('pg/mL') && units.includes('pmol/L') && !units.includes('fL'), units.join(','));
    assert.ok(await row.locator('[data-key="result"]').isDisabled());
    await row.locator('[data-key="test"]').selectOption('intrinsic_factor_antibody');
    assert.ok(await row.locator('[data-key="value"]').isDisabled());
    assert.ok(await row.locator('[data-key="result"]').isEnabled());
  });

  await check('the keyboard alone adds a row, fills it and assesses', async () => {
    await open();
    await page.focus('[data-add="findings"]');
    await page.keyboard.press('Enter');
    // The new row's first control has the focus.
    assert.equal(await page.evaluate(() => document.activeElement.dataset.key), 'concept');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.key), 'laterality');
    await page.focus('#assess');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#glance:not([hidden])');
  });

  await check('a narrow screen gets one column and no sideways scrolling', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${base}/`);
    await phone.waitForSelector('body[data-ready="true"]');
    await phone.click('[data-add="labs"]');
    await phone.click('#assess');
    await phone.waitForSelector('#glance:not([hidden])');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${overflow}px wider than the screen`);
    await phone.screenshot({ path: join(artefacts, 'narrow.png') });
    await phone.close();
  });

  await check('an uploaded file is read into the paste box and assessed', async () => {
    await open();
    const dev = caseFiles.map((f) => JSON.parse(readFileSync(f, 'utf8'))).find((d) => d.expect && d.expect.b12_status);
    assert.ok(dev, 'a case with an expected B12 status');
    await page.click('#paste summary');
    await page.setInputFiles('#upload', { name: 'case.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(dev.case)) });
    await page.waitForFunction(() => document.querySelector('#paste-text').value.length > 0);
    await page.click('#assess-pasted');
    await page.waitForSelector('#glance:not([hidden])');
    assert.equal(await page.locator('#glance [data-conclusion="b12_status"]').getAttribute('data-value'), dev.expect.b12_status);
  });

  await check('a pasted FHIR Bundle is assessed', async () => {
    await open();
    const fixtures = join(repo, 'crates/cobalt-fhir/tests/fixtures');
    const bundle = readdirSync(fixtures).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(fixtures, f), 'utf8'))).find((b) => b.resourceType === 'Bundle');
    await page.click('#paste summary');
    await page.fill('#paste-text', JSON.stringify(bundle));
    await page.click('#assess-pasted');
    await page.waitForSelector('#glance:not([hidden])');
    assert.ok((await page.locator('#glance [data-conclusion="b12_status"]').getAttribute('data-value')).length > 0);
  });

  await check('a pasted case loads into the form and assesses the same', async () => {
    await open();
    const dev = JSON.parse(readFileSync(caseFiles[0], 'utf8'));
    await page.click('#paste summary');
    await page.fill('#paste-text', JSON.stringify(dev));
    await page.click('#load-pasted');
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/ui/assess')),
      page.click('#assess'),
    ]);
    assert.equal(JSON.stringify(canonical(JSON.parse(request.postData()))), JSON.stringify(canonical(dev.case)));
  });

  await check('printing shows the report without the form', async () => {
    await page.waitForSelector('#glance:not([hidden])');
    await page.emulateMedia({ media: 'print' });
    assert.ok(await page.locator('#input').isHidden(), 'form hidden in print');
    assert.ok(await page.locator('#view-clinician').isVisible(), 'report printed');
    assert.ok(await page.locator('#disclaimer').isVisible(), 'disclaimer printed');
    await page.pdf({ path: join(artefacts, 'print.pdf') });
    await page.emulateMedia({ media: 'screen' });
  });

  await check('loading a case says what the form cannot show', async () => {
    await open();
    const c = { format: 'cobalt.case/1', labs: [{ code: { system: 'http://loinc.org', code: '14685-5' }, value: 40, unit: 'nmol/L' }] };
    await page.click('#paste summary');
    await page.fill('#paste-text', JSON.stringify(c));
    await page.click('#load-pasted');
    assert.match(await page.locator('#status').textContent(), /The case is in the form\. Not in the form: a result given by code \(http:\/\/loinc\.org 14685-5\)/);
  });

  await check('cobalt assess --format html writes the same report as one static file', async () => {
    const file = caseFiles[0];
    const dev = JSON.parse(readFileSync(file, 'utf8'));
    const casePath = join(work, 'case.json');
    writeFileSync(casePath, JSON.stringify(dev.case));
    const html = execFileSync(cobalt, ['assess', casePath, '--format', 'html'], { encoding: 'utf8' });
    assert.doesNotMatch(html, /<script/i);
    const out = join(artefacts, `${dev.case_id}-standalone.html`);
    writeFileSync(out, html);
    const p = await context.newPage();
    await p.goto('file://' + out);
    assert.ok(await p.locator('.report .disclaimer').isVisible());
    assert.ok(await p.locator('#patient-view').isVisible());
    await p.screenshot({ path: join(artefacts, `${dev.case_id}-standalone.png`), fullPage: true });
    await p.close();
  });

  await check('no errors in the browser console (Content-Security-Policy included)', async () => {
    assert.deepEqual(consoleErrors.filter((e) => !/status of 400/.test(e)), []);
  });
} finally {
  await browser.close();
  server.kill('SIGTERM');
}

console.log(`artefacts: ${artefacts}`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
