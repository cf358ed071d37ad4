#!/usr/bin/env node
// Smoke test of the test EHR (stack.mjs), by HTTP alone (no browser, no app):
//   an EHR launch of one patient (launch button, authorize with PKCE S256 and `aud`, the
//   practitioner's automatic login, code for tokens with an ES384 client assertion), reads of
//   that patient from HFS and a refusal of another, a standalone launch, the admin API (log,
//   token lifetime), and SMART Backend Services (client_credentials, Patient/$export).
//
// Usage: node scripts/ehr/smoke.mjs [--hfs BIN] [--data DIR] [--wait-expiry]
//   (defaults: what scripts/ehr/install.sh installs under ${CARGO_HOME:-~/.cargo}/cobalt-ehr;
//   --wait-expiry adds about a minute to see HFS refuse an expired token)
// Prints "ehr-smoke: N passed, M failed"; exits non-zero on a failure.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clientAssertion, decodeJwt, newKeyPair } from './jwt.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const cache = path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), '.cargo'), 'cobalt-ehr');
const { values: opt } = parseArgs({
  options: {
    hfs: { type: 'string', default: path.join(cache, 'helios-hfs-0.2.7/bin/hfs') },
    data: { type: 'string', default: path.join(cache, 'hfs-data') },
    'wait-expiry': { type: 'boolean', default: false },
  },
});

const APP = 'smoke-app';
const BACKEND = 'smoke-backend';
const LAUNCH_URL = 'http://127.0.0.1:9/launch'; // no app listens: the test reads the redirects
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const SCOPE = 'launch openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs '
  + 'patient/MedicationRequest.rs patient/MedicationStatement.rs patient/Medication.rs patient/Procedure.rs';
const FIXTURES = ['dev-B12-11', 'dev-B12-14', 'dev-COEX-02']
  .map((n) => path.join(repo, 'crates/cobalt-fhir/tests/fixtures', `${n}.json`));

const jar = new Map(); // the "browser"'s cookies, kept across authorizations
let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed += 1;
  else failed += 1;
  console.error(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `: ${detail}` : ''}`);
  return ok;
}
const secs = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Keys and JWKS files of the two clients.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ehr-smoke-'));
const appKey = newKeyPair('ES384');
const backendKey = newKeyPair('ES384');
fs.writeFileSync(path.join(tmp, 'app.jwks'), JSON.stringify({ keys: [appKey.publicJwk] }));
fs.writeFileSync(path.join(tmp, 'backend.jwks'), JSON.stringify({ keys: [backendKey.publicJwk] }));

// Start the stack and wait for its one line.
const t0 = Date.now();
const stack = spawn(process.execPath, [
  path.join(here, 'stack.mjs'), '--hfs', opt.hfs, '--data', opt.data,
  '--client', `${APP}=${path.join(tmp, 'app.jwks')}=${REDIRECT_URI}`,
  '--backend-client', `${BACKEND}=${path.join(tmp, 'backend.jwks')}`,
  ...FIXTURES.flatMap((f) => ['--load', f]),
], { stdio: ['ignore', 'pipe', 'inherit'] });
const stackExit = new Promise((r) => stack.on('exit', r));
const lines = readline.createInterface({ input: stack.stdout });
const firstLine = new Promise((resolve) => { lines.once('line', resolve); });
const ready = await Promise.race([
  firstLine,
  stackExit.then((code) => { throw new Error(`stack.mjs exited (${code}) before it was ready`); }),
  sleep(180_000).then(() => { throw new Error('stack.mjs not ready within 180 s'); }),
]).catch((err) => { console.error(err.message); return null; });
let extraStdout = '';
lines.on('line', (l) => { extraStdout += `${l}\n`; });

try {
  if (ready) await run(JSON.parse(ready));
  else check('stack.mjs starts', false);
} catch (err) {
  check('no exception', false, err?.stack ?? err);
} finally {
  stack.kill('SIGTERM');
  check('stack.mjs stops on SIGTERM with status 0', (await stackExit) === 0);
  check('nothing more on stdout after the ready line', extraStdout === '', extraStdout);
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`ehr-smoke: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

async function run(env) {
  console.error(`smoke: stack ready after ${secs(t0)}: ${JSON.stringify(env)}`);
  for (const id of ['pat-b12-11', 'pat-b12-14', 'pat-coex-02']) {
    check(`patients lists ${id}`, env.patients.includes(id), JSON.stringify(env.patients));
  }

  const config = await (await fetch(env.smart_configuration)).json();
  console.error(`smoke: smart-configuration: ${JSON.stringify(config)}`);
  check('smart-configuration names the AS endpoints',
    config.authorization_endpoint?.startsWith(env.issuer) && config.token_endpoint?.startsWith(env.issuer));
  check('smart-configuration offers S256', config.code_challenge_methods_supported?.includes('S256'));

  // The EHR's "open app" button.
  const launchRes = await fetch(`${env.ehr_launch}?patient=pat-b12-11&app=${encodeURIComponent(LAUNCH_URL)}`, { redirect: 'manual' });
  const appUrl = new URL(launchRes.headers.get('location') ?? 'http://invalid/');
  check('/ehr/launch redirects (302) to the app launch URL', launchRes.status === 302
    && appUrl.href.startsWith(LAUNCH_URL), `${launchRes.status} ${appUrl}`);
  check('the launch URL carries iss = the FHIR base', appUrl.searchParams.get('iss') === env.fhir_base);
  const iss = appUrl.searchParams.get('iss');
  const launch = appUrl.searchParams.get('launch');

  // EHR launch, then the tokens.
  const ehr = await authorize(config, { aud: iss, launch, scope: SCOPE });
  const tokens = await exchangeCode(config, ehr);
  check('token response: patient of the launch', tokens.patient === 'pat-b12-11', JSON.stringify(tokens.patient));
  check('token response: need_patient_banner', tokens.need_patient_banner === true);
  check('token response: expires_in 3600', tokens.expires_in === 3600, tokens.expires_in);
  check('token response: scope granted', SCOPE.split(' ').every((s) => tokens.scope?.split(' ').includes(s)), tokens.scope);
  const at = decodeJwt(tokens.access_token).payload;
  check('access token: a JWT for the FHIR base with the patient', at.aud === env.fhir_base && at.patient === 'pat-b12-11', JSON.stringify(at));
  check('id_token: fhirUser', /Practitioner\/test-clinician$/.test(decodeJwt(tokens.id_token ?? 'e30.e30').payload.fhirUser ?? ''));

  // HFS with the patient's token.
  const get = (url, token) => fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  let res = await get(`${env.fhir_base}/Patient/pat-b12-11`, tokens.access_token);
  check('HFS: read the launch patient', res.status === 200 && (await res.json()).id === 'pat-b12-11', res.status);
  res = await get(`${env.fhir_base}/Observation?patient=pat-b12-11`, tokens.access_token);
  const obs = res.status === 200 ? await res.json() : {};
  check('HFS: the launch patient\'s Observations (5)', obs.entry?.length === 5, `${res.status} ${obs.entry?.length}`);
  res = await get(`${env.fhir_base}/Patient/pat-b12-14`, tokens.access_token);
  check('HFS: another patient\'s read is refused (403)', res.status === 403, res.status);
  res = await get(`${env.fhir_base}/Observation?patient=pat-b12-14`, tokens.access_token);
  const other = res.status === 200 ? await res.json() : { entry: [] };
  check('HFS: another patient\'s Observations are not returned', res.status === 403 || !other.entry?.length, `${res.status} ${other.entry?.length}`);
  res = await get(`${env.fhir_base}/Patient/pat-b12-11`, `${tokens.access_token.slice(0, -4)}AAAA`);
  check('HFS: a token with a bad signature gets 401', res.status === 401, res.status);

  // PKCE is required, aud must be the FHIR base, and a code works once.
  const noPkce = await authorize(config, { aud: iss, launch, scope: SCOPE, pkce: false });
  check('authorize without PKCE is refused', noPkce.error === 'invalid_request', JSON.stringify(noPkce));
  const badAud = await authorize(config, { aud: 'http://127.0.0.1:9/fhir', launch, scope: SCOPE });
  check('authorize with another aud is refused', badAud.error === 'invalid_request', JSON.stringify(badAud));
  const again = await tokenRequest(config.token_endpoint, APP, appKey, {
    grant_type: 'authorization_code', code: ehr.code, redirect_uri: REDIRECT_URI, code_verifier: ehr.verifier,
  });
  check('a code is refused the second time', again.status === 400 && again.body.error === 'invalid_grant', JSON.stringify(again));

  // Standalone launch, in the same "browser" (cookies kept): the admin's patient.
  await postJson(`${env.admin}/standalone-patient`, { patient: 'pat-coex-02' });
  const standalone = await exchangeCode(config, await authorize(config, {
    aud: iss, scope: 'launch/patient openid fhirUser patient/*.rs',
  }));
  check('standalone launch: the admin\'s patient', standalone.patient === 'pat-coex-02', standalone.patient);
  res = await get(`${env.fhir_base}/Condition?patient=pat-coex-02`, standalone.access_token);
  const conds = res.status === 200 ? await res.json() : {};
  check('HFS: patient/*.rs reads the standalone patient\'s Conditions (7)', conds.entry?.length === 7, `${res.status} ${conds.entry?.length}`);

  // SMART Backend Services.
  const assertion = clientAssertion(BACKEND, config.token_endpoint, backendKey);
  const cc = await tokenRequest(config.token_endpoint, BACKEND, backendKey, { grant_type: 'client_credentials', scope: 'system/*.rs' }, assertion);
  check('backend: client_credentials token with system/*.rs', cc.status === 200 && cc.body.scope === 'system/*.rs', JSON.stringify(cc.body));
  const replay = await tokenRequest(config.token_endpoint, BACKEND, backendKey, { grant_type: 'client_credentials', scope: 'system/*.rs' }, assertion);
  check('backend: a replayed assertion (same jti) is refused', replay.status === 401 && replay.body.error === 'invalid_client', JSON.stringify(replay));
  await bulkExport(env, cc.body.access_token);

  // The log the AS keeps for tests.
  const events = await (await fetch(`${env.admin}/log`)).json();
  const auth = events.find((e) => e.type === 'authorize' && e.params.launch === launch && !e.error);
  check('log: authorize with code_challenge_method S256', auth?.params.code_challenge_method === 'S256', JSON.stringify(auth));
  const tok = events.find((e) => e.type === 'token' && e.grant_type === 'authorization_code' && e.status === 200);
  check('log: token request by private_key_jwt (ES384, aud = token endpoint)', tok?.client_auth_method === 'private_key_jwt'
    && tok.client_assertion?.alg === 'ES384' && tok.client_assertion.aud === config.token_endpoint && tok.client_id === APP, JSON.stringify(tok));

  // A short token lifetime. HFS accepts a token up to 60 s past its `exp` (the default leeway
  // of the jsonwebtoken crate), so the refusal is checked only with --wait-expiry.
  await postJson(`${env.admin}/token-ttl`, { seconds: 2 });
  const short = await tokenRequest(config.token_endpoint, BACKEND, backendKey, { grant_type: 'client_credentials', scope: 'system/*.rs' });
  const shortClaims = decodeJwt(short.body.access_token).payload;
  check('token-ttl: expires_in 2 and exp = iat + 2', short.body.expires_in === 2 && shortClaims.exp - shortClaims.iat === 2, JSON.stringify(short.body));
  res = await get(`${env.fhir_base}/Patient/pat-b12-11`, short.body.access_token);
  check('token-ttl: the token works at first', res.status === 200, res.status);
  if (opt['wait-expiry']) {
    await sleep((shortClaims.exp + 62) * 1000 - Date.now());
    res = await get(`${env.fhir_base}/Patient/pat-b12-11`, short.body.access_token);
    check('token-ttl: HFS refuses it 62 s after exp (401)', res.status === 401, res.status);
  }
}

// A "browser" that follows redirects itself and keeps cookies, from the authorize URL to the
// app's redirect URI. Returns { code, state, iss, verifier } or { error }.
async function authorize(config, { aud, launch, scope, pkce = true }) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const url = new URL(config.authorization_endpoint);
  const params = { response_type: 'code', client_id: APP, redirect_uri: REDIRECT_URI, scope, state, aud, launch };
  if (pkce) {
    params.code_challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    params.code_challenge_method = 'S256';
  }
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  let next = url;
  for (let hop = 0; hop < 10; hop += 1) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(next, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    const location = res.headers.get('location');
    if (!location) return { error: `no redirect: ${res.status} ${(await res.text()).slice(0, 300)}` };
    next = new URL(location, next);
    if (next.href.startsWith(REDIRECT_URI)) {
      const q = Object.fromEntries(next.searchParams);
      if (q.error) return q;
      check(`authorize${launch ? ' (EHR launch)' : ' (standalone)'}: code, state and iss back at the redirect URI`,
        q.code && q.state === state && q.iss === new URL(config.authorization_endpoint).origin, JSON.stringify(q));
      return { ...q, verifier };
    }
  }
  return { error: 'too many redirects' };
}

async function exchangeCode(config, { code, verifier, error }) {
  if (error) throw new Error(`authorize failed: ${error}`);
  const res = await tokenRequest(config.token_endpoint, APP, appKey, {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
  });
  check('token endpoint answers 200 to the code and the assertion', res.status === 200, JSON.stringify(res.body));
  return res.body;
}

async function tokenRequest(tokenEndpoint, clientId, key, params, assertion = clientAssertion(clientId, tokenEndpoint, key)) {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      ...params,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  return { status: res.status, body: await res.json() };
}

async function postJson(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
}

// Patient/$export: kick-off (202 + Content-Location), then the status URL until the manifest
// (HFS says Retry-After: 120; polled every second instead, for at most 60 s), then one file.
async function bulkExport(env, token) {
  const t = Date.now();
  const auth = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
  const kick = await fetch(`${env.fhir_base}/Patient/$export`, { headers: { ...auth, prefer: 'respond-async' } });
  const status = kick.headers.get('content-location');
  if (!check('backend: Patient/$export kick-off answers 202 with Content-Location', kick.status === 202 && !!status, `${kick.status} ${await kick.text()}`)) return;
  let manifest;
  while (Date.now() - t < 60_000) {
    const res = await fetch(status, { headers: auth });
    if (res.status === 200) {
      manifest = await res.json();
      break;
    }
    if (res.status !== 202) break;
    await sleep(1000);
  }
  const patientFile = manifest?.output?.find((o) => o.type === 'Patient');
  check('backend: the export completes with a Patient file', !!patientFile, JSON.stringify(manifest));
  if (!patientFile) return;
  const ndjson = await (await fetch(patientFile.url, { headers: { authorization: `Bearer ${token}` } })).text();
  const ids = ndjson.split('\n').filter(Boolean).map((l) => JSON.parse(l).id);
  check('backend: the Patient file holds the three patients', ['pat-b12-11', 'pat-b12-14', 'pat-coex-02'].every((id) => ids.includes(id)), JSON.stringify(ids));
  console.error(`smoke: Patient/$export done in ${secs(t)}`);
}
