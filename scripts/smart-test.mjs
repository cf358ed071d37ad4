// cobalt launched from a real EHR: the Helios FHIR Server with SMART authorisation on, the
// oidc-provider authorisation server with the launch glue of scripts/ehr/stack.mjs, and Debian's
// Chromium (playwright-core). All on 127.0.0.1.
//
//   node scripts/smart-test.mjs target/release/cobalt [--hfs BIN] [--data DIR]
//
// Loads three published cases into the FHIR server as FHIR, then in the browser: an EHR launch
// of each patient (the page shows what `cobalt assess` concludes from the same resources, read
// back from the server), a standalone launch, a clinician's own value marked as theirs and
// reassessed, a refused `iss` (no redirect), a wrong, replayed or foreign `state`, an expired
// session, and a patient-view card whose SMART link opens the same page. No token may appear in
// the page, in browser storage, in the URL after the callback, in cobalt's log or in the audit
// rows, and none in clear in the audit database. Prints `smart: N passed, M failed`.

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { tmpdir, homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as readline from 'node:readline';
import * as http from 'node:http';
import { clientAssertion, newKeyPair, signJwt } from './ehr/jwt.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const cache = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'cobalt-ehr');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    hfs: { type: 'string', default: join(cache, 'helios-hfs-0.2.7/bin/hfs') },
    data: { type: 'string', default: join(cache, 'hfs-data') },
  },
});
const cobalt = resolve(positionals[0] || join(repo, 'target/release/cobalt'));
const PATIENTS = { 'pat-b12-11': 'dev-B12-11', 'pat-b12-14': 'dev-B12-14', 'pat-coex-02': 'dev-COEX-02' };
const FIXTURES = Object.values(PATIENTS).map((n) => join(repo, 'crates/cobalt-fhir/tests/fixtures', `${n}.json`));
const artefacts = join(repo, 'target/browser-artifacts');
mkdirSync(artefacts, { recursive: true });
// A JWT anywhere: three base64url parts, the first two JSON objects.
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/;

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `\n     ${String(detail).slice(0, 600)}` : ''}`);
  return ok;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const timings = {};
const t = (name, since) => { timings[name] = `${((Date.now() - since) / 1000).toFixed(1)} s`; };
const work = mkdtempSync(join(tmpdir(), 'cobalt-smart-'));
const children = [];

function start(cmd, args, env = {}, stdoutToo = false) {
  const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  p.log = '';
  p.stderr.on('data', (d) => { p.log += d; });
  if (stdoutToo) p.stdout.on('data', (d) => { p.log += d; });
  children.push(p);
  return p;
}

async function firstLine(p, ms, what) {
  const lines = readline.createInterface({ input: p.stdout });
  return Promise.race([
    new Promise((r) => lines.once('line', r)),
    new Promise((_, j) => p.on('exit', (c) => j(new Error(`${what} exited (${c}):\n${p.log.slice(-3000)}`)))),
    sleep(ms).then(() => { throw new Error(`${what} not ready within ${ms / 1000} s:\n${p.log.slice(-3000)}`); }),
  ]);
}

async function main() {
  // cobalt's key, as a hospital would make it, and the JWK Set the EHR registers.
  execFileSync(cobalt, ['keys', 'new', '--out', join(work, 'cobalt-key.pem')], { stdio: 'ignore' });
  const jwks = execFileSync(cobalt, ['keys', 'jwks', join(work, 'cobalt-key.pem')]).toString();
  writeFileSync(join(work, 'cobalt.jwks'), jwks);
  check('cobalt keys jwks: one public EC P-384 key', (() => {
    const k = JSON.parse(jwks).keys;
    return k.length === 1 && k[0].crv === 'P-384' && k[0].alg === 'ES384' && !k[0].d && k[0].kid;
  })(), jwks);
  // The test's own Backend Services client, to read back what the server holds.
  const reader = newKeyPair('ES384');
  writeFileSync(join(work, 'reader.jwks'), JSON.stringify({ keys: [reader.publicJwk] }));
  // The key the EHR signs its CDS Hooks calls with, served on a JWKS URL cobalt trusts.
  const hookKey = newKeyPair('ES384');
  const jwksServer = http.createServer((_, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [hookKey.publicJwk] }));
  });
  await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
  const hookJwks = `http://127.0.0.1:${jwksServer.address().port}/jwks.json`;

  const port = 20000 + (process.pid % 5000);
  const base = `http://127.0.0.1:${port}`;
  let since = Date.now();
  const stack = start(process.execPath, [
    join(here, 'ehr/stack.mjs'), '--hfs', opt.hfs, '--data', opt.data,
    '--client', `cobalt=${join(work, 'cobalt.jwks')}=${base}/smart/callback`,
    '--backend-client', `reader=${join(work, 'reader.jwks')}`,
    ...FIXTURES.flatMap((f) => ['--load', f]),
    '--exit-on-stdin-close',
  ]);
  const env = JSON.parse(await firstLine(stack, 180_000, 'the test EHR'));
  t('the test EHR (FHIR server, authorisation server, three cases loaded)', since);

  since = Date.now();
  const server = start(cobalt, [
    'serve', '--listen', `127.0.0.1:${port}`, '--db', join(work, 'audit.sqlite3'),
    '--public-url', base,
    '--trust', `https://ehr.test=${hookJwks}`,
    '--smart-client-id', 'cobalt', '--smart-key', join(work, 'cobalt-key.pem'),
    '--smart-fhir-server', env.fhir_base,
  ], { RUST_LOG: 'debug', COBALT_SMART_SESSION_KEY: 'a'.repeat(64) }, true);
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not yet */ }
    if (i > 100) throw new Error('cobalt serve did not start:\n' + server.log);
    await sleep(100);
  }
  t('cobalt serve', since);

  const readerToken = await backendToken(env, reader);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
  try {
    await run({ env, base, browser, readerToken, hookKey, server });
  } finally {
    await browser.close();
    jwksServer.close();
  }
}

/** A SMART Backend Services token for the test's own reading client. */
async function backendToken(env, key) {
  const config = await (await fetch(env.smart_configuration)).json();
  const r = await fetch(config.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'system/*.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion('reader', config.token_endpoint, key),
    }),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(`backend token: ${r.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** The patient's resources as the FHIR server holds them, as one collection Bundle. */
async function readBack(env, token, patient) {
  const get = async (path) => {
    const r = await fetch(`${env.fhir_base}/${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  };
  const entry = [{ resource: await get(`Patient/${patient}`) }];
  for (const type of ['Observation', 'Condition', 'MedicationRequest', 'MedicationStatement', 'Procedure']) {
    let page = await get(`${type}?patient=${patient}&_count=200`);
    for (;;) {
      for (const e of page.entry || []) if (e.resource) entry.push({ resource: e.resource });
      const next = (page.link || []).find((l) => l.relation === 'next');
      if (!next) break;
      page = await get(next.url.slice(env.fhir_base.length + 1));
    }
  }
  for (const e of [...entry]) {
    const ref = e.resource.medicationReference && e.resource.medicationReference.reference;
    if (ref && ref.startsWith('Medication/')) entry.push({ resource: await get(ref) });
  }
  return { resourceType: 'Bundle', type: 'collection', entry };
}

/** The CDS Hooks prefetch of cobalt's templates, from a patient's resources. */
function prefetchOf(bundle) {
  const of = (...types) => ({ resourceType: 'Bundle', type: 'searchset', entry: bundle.entry.filter((e) => types.includes(e.resource.resourceType)) });
  return {
    patient: bundle.entry[0].resource,
    observations: of('Observation'),
    conditions: of('Condition'),
    medicationStatements: of('MedicationStatement'),
    medicationRequests: of('MedicationRequest', 'Medication'),
    procedures: of('Procedure'),
  };
}

/** What `cobalt assess` concludes from the same resources, today. */
function assessed(bundle, name) {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(bundle));
  const today = new Date().toISOString().slice(0, 10);
  return JSON.parse(execFileSync(cobalt, ['assess', file, '--format', 'json', '--as-of', today]).toString()).conclusions;
}

/** Opens cobalt from the EHR's chart for `patient`; resolves with the record the page read. */
async function launchFromChart(page, env, app, patient) {
  const record = page.waitForResponse((r) => r.url().endsWith('/smart/record'), { timeout: 60_000 });
  await page.goto(`${env.ehr_launch}?patient=${patient}&app=${encodeURIComponent(app)}`);
  const r = await record;
  await page.waitForSelector('body[data-ready="true"]');
  return { status: r.status(), body: await r.json() };
}

async function noTokenIn(page, what) {
  const html = await page.content();
  const storage = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }));
  check(`${what}: no token in the page, browser storage or script-visible cookies`, !JWT.test(html) && !JWT.test(storage), JWT.exec(html + storage));
  check(`${what}: no code or token in the URL`, !/[?&](code|access_token|state)=/.test(page.url()) && !JWT.test(page.url()), page.url());
}

async function run({ env, base, browser, readerToken, hookKey, server }) {
  const app = `${base}/smart/launch`;

  // 1. An EHR launch of each patient: the page shows what cobalt assess concludes.
  const context = await browser.newContext();
  const page = await context.newPage();
  let since = Date.now();
  for (const [patient, name] of Object.entries(PATIENTS)) {
    const launched = await launchFromChart(page, env, app, patient);
    if (!check(`${name}: EHR launch reads the record (200)`, launched.status === 200, JSON.stringify(launched.body))) continue;
    check(`${name}: the record is the launched patient's`, launched.body.patient === patient, launched.body.patient);
    const expected = assessed(await readBack(env, readerToken, patient), name);
    check(`${name}: the page's conclusions equal cobalt assess on the same resources`,
      JSON.stringify(launched.body.assessment.conclusions) === JSON.stringify(expected),
      `page ${JSON.stringify(launched.body.assessment.conclusions)}\ncli  ${JSON.stringify(expected)}`);
    const shown = await page.getAttribute('[data-conclusion="b12_status"]', 'data-value');
    check(`${name}: the glance shows B12 status ${expected.b12_status}`, shown === expected.b12_status, shown);
    check(`${name}: the clinician report is shown`, await page.isVisible('#view-clinician article'));
    const rows = await page.locator('#record-table tbody tr').count();
    check(`${name}: "what cobalt read" lists every resource read`, rows === launched.body.read.length && rows > 1, `${rows} rows, ${launched.body.read.length} read`);
    const age = await page.inputValue('[data-path="patient.age_years"]');
    check(`${name}: the form holds what was read (age ${expected ? age : ''})`, age !== '' && Number(age) > 0, age);
    await noTokenIn(page, name);
    await page.screenshot({ path: join(artefacts, `smart-${name}.png`), fullPage: true });
    await page.screenshot({ path: join(artefacts, `smart-${name}-top.png`) });
    await page.locator("#record").screenshot({ path: join(artefacts, `smart-${name}-record.png`) });
  }
  t('three EHR launches in the browser, with read-back and cobalt assess', since);

  // The session cookie: HttpOnly, SameSite=Lax (not Secure: loopback over http).
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'cobalt-session');
  check('session cookie: HttpOnly, SameSite=Lax', session && session.httpOnly && session.sameSite === 'Lax', JSON.stringify(cookies));

  // 2. The clinician adds what the record lacks, and reassesses.
  {
    await page.click('[data-add="findings"]');
    const row = page.locator('.row[data-list="findings"]').last();
    await row.locator('[data-key="concept"]').selectOption('reduced_vibration_sense');
    check('a value the clinician adds is marked as theirs', await row.locator('.yours').count() > 0);
    const answer = page.waitForResponse((r) => r.url().endsWith('/ui/assess'));
    await page.click('#assess');
    const r = await answer;
    check('reassessing with the session cookie: 200', r.status() === 200, r.status());
    await page.waitForSelector('#source:not([hidden])');
    const source = await page.textContent('#source');
    check('the page says which values are the clinician\'s', /you entered: .*Symptom or sign/.test(source), source);
  }

  // 3. A standalone launch (cobalt is registered with one EHR: no iss needed).
  {
    await fetch(`${env.admin}/standalone-patient`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ patient: 'pat-coex-02' }) });
    const p = await (await browser.newContext()).newPage();
    const record = p.waitForResponse((r) => r.url().endsWith('/smart/record'));
    await p.goto(app);
    const r = await record;
    const body = await r.json();
    check('standalone launch: the chosen patient\'s assessment', r.status() === 200 && body.patient === 'pat-coex-02', JSON.stringify(body).slice(0, 300));
    const log = await (await fetch(`${env.admin}/log`)).json();
    const auths = JSON.stringify(log);
    check('the authorisation server saw PKCE S256 and launch/patient', auths.includes('S256') && auths.includes('launch/patient'));
    await p.context().close();
  }

  // 4. An iss cobalt is not registered with: refused before any redirect.
  {
    const r = await fetch(`${app}?iss=${encodeURIComponent('http://127.0.0.1:9/fhir')}&launch=abc`, { redirect: 'manual' });
    check('an iss not configured: 400, no redirect', r.status === 400 && !r.headers.get('location'), `${r.status} ${r.headers.get('location')}`);
  }

  // 5. Wrong, replayed and foreign state.
  {
    const r = await fetch(`${base}/smart/callback?code=x&state=not-a-state`, { redirect: 'manual' });
    check('a wrong state: 400, no session', r.status === 400 && !r.headers.get('set-cookie'), r.status);
    // A launch in one "browser" (plain HTTP with its own cookie jar) whose callback is held
    // back, then tried in another browser, then in its own.
    const jar = new Map();
    const hop = async (url) => {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      return res;
    };
    let next = new URL(`${env.ehr_launch}?patient=pat-b12-14&app=${encodeURIComponent(app)}`);
    let callback = null;
    for (let i = 0; i < 12 && !callback; i++) {
      const res = await hop(next);
      const location = res.headers.get('location');
      if (!location) break;
      next = new URL(location, next);
      if (next.href.startsWith(`${base}/smart/callback`)) callback = next.href;
    }
    check('the held-back callback carries code, state and iss', callback && /code=/.test(callback) && /state=/.test(callback) && /iss=/.test(callback), callback);
    const b = await browser.newContext();
    const rb = await (await b.newPage()).goto(callback);
    check('the callback in another browser: 400', rb.status() === 400, rb.status());
    await b.close();
    const ra = await hop(callback);
    check('the same state again, in its own browser: 400 (used once)', ra.status === 400 && !ra.headers.get('location'), ra.status);
    // A state used once, then replayed after a completed launch.
    const c = await browser.newContext();
    const pc = await c.newPage();
    let used = null;
    pc.on('request', (req) => { if (req.url().includes('/smart/callback')) used = req.url(); });
    await launchFromChart(pc, env, app, 'pat-b12-11');
    const again = await pc.goto(used);
    check('a replayed callback after a launch: 400', again.status() === 400, again.status());
    await c.close();
  }

  // 6. An expired session asks to launch again.
  {
    await fetch(`${env.admin}/token-ttl`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seconds: 2 }) });
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    const first = await launchFromChart(p, env, app, 'pat-b12-11');
    check('a short-lived session opens', first.status === 200, first.status);
    await sleep(3000);
    const record = p.waitForResponse((r) => r.url().endsWith('/smart/record'));
    await p.reload();
    const r = await record;
    await p.waitForSelector('#error:not([hidden])');
    const msg = await p.textContent('#error');
    check('after the token expires: 401 and "open cobalt again"', r.status() === 401 && /Open cobalt again/.test(msg), `${r.status()} ${msg}`);
    await fetch(`${env.admin}/token-ttl`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seconds: 3600 }) });
    await ctx.close();
  }

  // 7. A patient-view card links to the app; the link opens the same page.
  {
    const patient = 'pat-b12-14';
    const bundle = await readBack(env, readerToken, patient);
    const now = Math.floor(Date.now() / 1000);
    const path = '/cds-services/cobalt-b12-patient-view';
    const token = signJwt({ iss: 'https://ehr.test', sub: 'ehr-cds', aud: base + path, exp: now + 300, iat: now, jti: `${now}-${Math.random()}` }, hookKey);
    const r = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ hook: 'patient-view', hookInstance: 'h-1', fhirServer: env.fhir_base, context: { userId: 'Practitioner/test-clinician', patientId: patient }, prefetch: prefetchOf(bundle) }),
    });
    const cards = (await r.json()).cards || [];
    const links = cards.flatMap((c) => c.links || []).filter((l) => l.type === 'smart');
    check('patient-view cards carry a SMART app link to /smart/launch', r.status === 200 && cards.length > 0 && links.length === cards.length && links.every((l) => l.url === app), `${r.status} ${JSON.stringify(cards).slice(0, 400)}`);
    if (links.length) {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      const launched = await launchFromChart(p, env, links[0].url, patient);
      const expected = assessed(bundle, 'card');
      check('the card\'s link opens the page with the same conclusions', launched.status === 200 && JSON.stringify(launched.body.assessment.conclusions) === JSON.stringify(expected));
      await ctx.close();
    }
  }

  // 8. No token in cobalt's log, its audit rows, or in clear in its database.
  {
    const audit = execFileSync(cobalt, ['audit', 'export', '--db', join(work, 'audit.sqlite3')]).toString();
    const rows = audit.trim().split('\n').map((l) => JSON.parse(l));
    check('audit: every launch and read, with who, which patient and which FHIR server',
      rows.some((r) => r.kind === 'smart-launch' && r.patient === 'pat-b12-11' && r.fhir_server === env.fhir_base && /Practitioner\/test-clinician/.test(r.actor))
      && rows.some((r) => r.kind === 'smart-read' && r.patient === 'pat-coex-02')
      && rows.some((r) => r.kind === 'assess' && r.service === 'ui/assess' && r.patient !== ''),
      audit.slice(0, 600));
    check('no token in the audit rows', !JWT.test(audit));
    const db = readFileSync(join(work, 'audit.sqlite3')).toString('latin1') + readFileSync(join(work, 'audit.sqlite3-wal'), { flag: 'a+' }).toString('latin1');
    check('no token in clear in the audit database (sessions are sealed)', !JWT.test(db));
    const leak = JWT.exec(server.log);
    check('no token in cobalt\'s log (RUST_LOG=debug)', !leak && server.log.length > 0, leak && server.log.slice(Math.max(0, leak.index - 300), leak.index + 40));
  }
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  check('no exception', false, e && e.stack || e);
} finally {
  for (const c of children) {
    c.kill('SIGTERM');
  }
  await sleep(500);
  rmSync(work, { recursive: true, force: true });
  for (const [k, v] of Object.entries(timings)) console.log(`time: ${k}: ${v}`);
  console.log(`smart: ${passed} passed, ${failed} failed`);
  exitCode = failed ? 1 : 0;
}
process.exit(exitCode);
