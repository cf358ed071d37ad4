#!/usr/bin/env node
// A test EHR on 127.0.0.1, for SMART App Launch and SMART Backend Services tests:
//   - the FHIR server: Helios FHIR Server (HFS, a child process; install it with install.sh), with
//     auth on, so it checks our access tokens against our JWKS and enforces SMART v2 scopes and
//     the launch patient's compartment;
//   - the authorisation server: oidc-provider, in this process, with JWT access tokens for HFS;
//   - the SMART glue, the only home-made part: an EHR "open app" endpoint that mints launch ids,
//     a login and consent without UI as one practitioner, the launch patient in the token
//     response and the access token, and a small admin API for tests.
//
// Usage:
//   node scripts/ehr/stack.mjs --hfs BIN --data DIR
//     [--client ID=JWKS_FILE[=REDIRECT_URI[,REDIRECT_URI...]] ...]   authorization_code clients
//     [--backend-client ID=JWKS_FILE ...]                              client_credentials clients
//     [--load BUNDLE.json ...] [--load-ndjson DIR ...] [--token-ttl SECONDS]
//     [--exit-on-stdin-close]
//
// JWKS_FILE is a public JWKS ({"keys": [...]}, what `cobalt keys jwks` prints). A client's
// REDIRECT_URI on 127.0.0.1/localhost matches any port (RFC 8252 loopback redirect); without
// one, the client may use any http redirect URI on 127.0.0.1 or localhost.
//
// When HFS is up and the data loaded, one line of JSON goes to stdout, and nothing else ever
// does (logs go to stderr): fhir_base, issuer, smart_configuration, jwks_uri, ehr_launch,
// admin, patients. SIGTERM or SIGINT stops HFS and removes its temp dir. Stop it with SIGTERM:
// after a SIGKILL, HFS still dies (it runs under setpriv --pdeathsig) but the temp dir stays
// until the next start sweeps it. With --exit-on-stdin-close the stack also stops when its
// stdin closes, so a test that holds the stack's stdin cannot leave it running when it dies.
//
// Admin API (no auth; loopback only), under {admin}:
//   POST standalone-patient {"patient": "ID"}  the patient of later standalone launches
//   POST token-ttl {"seconds": N}              the access-token lifetime of later tokens
//   GET log / DELETE log                       what the AS saw (authorize, login, token)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import Provider, { errors } from 'oidc-provider';
import { clientAssertion, decodeJwt, newKeyPair } from './jwt.mjs';

// stdout carries the ready line only; oidc-provider prints its notices with console.info.
const readyOut = (line) => process.stdout.write(`${line}\n`);
console.log = console.info = console.debug = console.error;
const log = (...args) => console.error('ehr:', ...args);
const HOST = '127.0.0.1';
const PRACTITIONER = 'test-clinician'; // who every login is
const ADMIN_CLIENT = 'cobalt-ehr-admin'; // the stack's own backend client, for loading data
const STATIC_SCOPES = ['openid', 'fhirUser', 'profile', 'offline_access', 'launch', 'launch/patient'];

// ---------------------------------------------------------------------------------------------
// Arguments
const { values: opt } = parseArgs({
  options: {
    hfs: { type: 'string' },
    data: { type: 'string' },
    client: { type: 'string', multiple: true, default: [] },
    'backend-client': { type: 'string', multiple: true, default: [] },
    load: { type: 'string', multiple: true, default: [] },
    'load-ndjson': { type: 'string', multiple: true, default: [] },
    'token-ttl': { type: 'string', default: '3600' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
});
if (!opt.hfs || !opt.data) {
  console.error('usage: stack.mjs --hfs BIN --data DIR [--client ID=JWKS_FILE[=REDIRECT_URI]] '
    + '[--backend-client ID=JWKS_FILE] [--load BUNDLE.json] [--load-ndjson DIR] [--token-ttl S]');
  process.exit(2);
}
let tokenTtl = positiveInt(opt['token-ttl'], '--token-ttl');

function positiveInt(value, what) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer`);
  return n;
}

const isLoopback = (uri) => ['127.0.0.1', 'localhost', '[::1]'].includes(URL.parse(uri)?.hostname);
const anyLoopbackRedirect = new Set(); // clients registered without a redirect URI

// ID=JWKS_FILE[=REDIRECT_URI]: the redirect URI may itself hold '='.
function clientFromSpec(spec, backend) {
  const [id, file, ...rest] = spec.split('=');
  if (!id || !file) throw new Error(`bad client spec ${spec} (ID=JWKS_FILE[=REDIRECT_URI])`);
  const jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
  const common = { client_id: id, jwks, token_endpoint_auth_method: 'private_key_jwt' };
  if (backend) {
    return { ...common, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
  }
  let redirects = rest.join('=').split(',').filter(Boolean);
  if (!redirects.length) {
    anyLoopbackRedirect.add(id);
    redirects = ['http://127.0.0.1/'];
  }
  return {
    ...common,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirects,
    // "native" makes oidc-provider ignore the port of loopback redirect URIs (RFC 8252 7.3).
    application_type: redirects.every(isLoopback) ? 'native' : 'web',
  };
}

// ---------------------------------------------------------------------------------------------
// State the SMART glue keeps, and what the admin API reports.
const launches = new Map(); // launch id -> { patient }
const grantContexts = new Map(); // oidc-provider grant id -> { patient, fhirUser }
const events = []; // what the AS saw, for GET {admin}/log
const record = (event) => events.push({ time: new Date().toISOString(), ...event });
let patients = []; // loaded Patient ids, in load order
let standalonePatient;

// ---------------------------------------------------------------------------------------------
// Start: ports, the AS, HFS, the data.
const started = Date.now();
const secs = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const hfsPort = await freePort();
const fhirBase = `http://${HOST}:${hfsPort}`;
const server = http.createServer((req, res) => route(req, res));
server.listen(0, HOST);
await once(server, 'listening');
const issuer = `http://${HOST}:${server.address().port}`;
const admin = `${issuer}/ehr/admin`;

const adminKey = newKeyPair('ES384');
const provider = makeProvider();
const callback = provider.callback();
let hfs;
let tmp;
let stopping = false;
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (opt['exit-on-stdin-close']) {
  process.stdin.on('end', () => shutdown(0)).on('error', () => shutdown(0)).resume();
}

try {
  sweepStaleTempDirs();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), `cobalt-ehr-${process.pid}-`));
  hfs = startHfs();
  await waitForHfs();
  log(`HFS up at ${fhirBase} after ${secs(started)}`);
  const loading = Date.now();
  const count = await loadData();
  log(`loaded ${count} resources in ${secs(loading)}; ready after ${secs(started)}`);
  standalonePatient ??= patients[0];
  readyOut(JSON.stringify({
    fhir_base: fhirBase,
    issuer,
    smart_configuration: `${fhirBase}/.well-known/smart-configuration`,
    jwks_uri: `${issuer}/jwks`,
    ehr_launch: `${issuer}/ehr/launch`,
    admin,
    patients,
  }));
} catch (err) {
  log('start failed:', err?.stack ?? err);
  await shutdown(1);
}

// ---------------------------------------------------------------------------------------------
// The authorisation server.
function makeProvider() {
  const signingKeys = [newKeyPair('RS256'), newKeyPair('ES384')]; // new kids at every start
  const clients = [
    ...opt.client.map((spec) => clientFromSpec(spec, false)),
    ...opt['backend-client'].map((spec) => clientFromSpec(spec, true)),
    {
      client_id: ADMIN_CLIENT,
      jwks: { keys: [adminKey.publicJwk] },
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
  ];
  const isFhirBase = (url) => String(url).replace(/\/+$/, '') === fhirBase; // a trailing / is fine
  const ttlFor = (client) => (client?.clientId === ADMIN_CLIENT ? 3600 : tokenTtl);

  // The scopes a token for HFS may carry: what was asked (grants then narrow it), system/ scopes
  // only for client_credentials and never for a user's app.
  function resourceScopes(ctx) {
    const { params = {}, entities = {} } = ctx.oidc;
    const asked = [params.scope, entities.AuthorizationCode?.scope, entities.RefreshToken?.scope]
      .filter(Boolean).join(' ').split(' ').filter(Boolean);
    const backend = params.grant_type === 'client_credentials';
    return [...new Set(asked)].filter((s) => backend === s.startsWith('system/')).join(' ');
  }

  const p = new Provider(issuer, {
    clients,
    jwks: { keys: signingKeys.map((k) => k.privateJwk) },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: STATIC_SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    conformIdTokenClaims: false, // fhirUser in the id_token itself, not only at userinfo
    async findAccount(ctx, id) {
      return {
        accountId: id,
        claims: async () => ({ sub: id, fhirUser: `${fhirBase}/Practitioner/${id}`, name: 'Test Clinician' }),
      };
    },
    // SMART's authorize parameters: `aud` must be this FHIR server; `launch` one we minted.
    extraParams: {
      aud(ctx, value) {
        if (value === undefined) throw new errors.InvalidRequest("missing 'aud' (the FHIR base URL)");
        if (!isFhirBase(value)) throw new errors.InvalidRequest(`'aud' is not ${fhirBase}`);
      },
      launch(ctx, value) {
        if (value !== undefined && !launches.has(value)) throw new errors.InvalidRequest('unknown launch');
      },
    },
    responseTypes: ['code'],
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES384', 'RS384'] },
    pkce: { required: () => true }, // oidc-provider 9 knows S256 only
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The SMART `aud` is the resource: tokens are for HFS even without `resource`.
        defaultResource: async () => fhirBase,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resource, client) {
          if (!isFhirBase(resource)) throw new errors.InvalidTarget();
          return {
            scope: resourceScopes(ctx),
            audience: fhirBase,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ttlFor(client),
          };
        },
      },
    },
    ttl: {
      AccessToken: (ctx, token, client) => ttlFor(client),
      ClientCredentials: (ctx, token, client) => ttlFor(client),
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 86400,
      Interaction: 600,
      Session: 86400,
      Grant: 86400,
    },
    // A new grant at every authorization, so every launch gets its own patient.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    async extraTokenClaims(ctx, token) {
      return grantContexts.get(token.grantId); // { patient, fhirUser } for HFS
    },
    async issueRefreshToken(ctx, client, code) {
      return client.grantTypeAllowed('refresh_token')
        && ['offline_access', 'online_access'].some((s) => code.scopes.has(s));
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  // Loopback clients registered without a redirect URI accept any loopback http redirect.
  const allowed = p.Client.prototype.redirectUriAllowed;
  p.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
    if (anyLoopbackRedirect.has(this.clientId)) return uri.startsWith('http://') && isLoopback(uri);
    return allowed.call(this, uri);
  };

  p.use(async (ctx, next) => {
    const asSent = ctx.method === 'GET' ? { ...ctx.query } : undefined; // for the log
    // oidc-provider drops offline_access unless prompt=consent; SMART apps do not send it.
    if (ctx.path === '/auth' && ctx.query.scope?.split(' ').includes('offline_access') && !ctx.query.prompt) {
      ctx.query = { ...ctx.query, prompt: 'consent' };
    }
    await next();
    const route = ctx.oidc?.route;
    if (route === 'authorization') recordAuthorize(ctx, asSent);
    if (route === 'token') {
      // SMART's launch context in the token response, read back from our own access token.
      if (ctx.status === 200 && ctx.body?.access_token) {
        const { patient } = decodeJwt(ctx.body.access_token).payload;
        if (patient) Object.assign(ctx.body, { patient, need_patient_banner: true });
      }
      recordToken(ctx);
    }
  });
  p.on('server_error', (ctx, err) => log('AS server_error:', err));
  return p;
}

function definedEntries(obj) {
  return Object.fromEntries(Object.entries(obj ?? {}).filter(([, v]) => v !== undefined));
}

// The authorization request's parameters as the client sent them (for a POST, as parsed).
function recordAuthorize(ctx, asSent) {
  const location = ctx.response.get('location');
  const redirect = location ? URL.parse(location, issuer) : null;
  record({
    type: 'authorize',
    params: definedEntries(asSent ?? ctx.oidc.params),
    status: ctx.status,
    error: ctx.body?.error ?? redirect?.searchParams.get('error') ?? undefined,
  });
}

function recordToken(ctx) {
  const params = ctx.oidc.params ?? {};
  let assertion;
  try {
    const { header, payload } = decodeJwt(params.client_assertion);
    assertion = { alg: header.alg, kid: header.kid, iss: payload.iss, sub: payload.sub, aud: payload.aud, jti: payload.jti, iat: payload.iat, exp: payload.exp };
  } catch { /* no or unreadable assertion: logged as absent */ }
  const clientId = ctx.oidc.client?.clientId ?? params.client_id ?? assertion?.iss;
  if (clientId === ADMIN_CLIENT) return;
  record({
    type: 'token',
    grant_type: params.grant_type,
    client_id: clientId,
    client_auth_method: ctx.oidc.client ? ctx.oidc.client.clientAuthMethod : undefined,
    client_assertion_type: params.client_assertion_type,
    client_assertion: assertion,
    requested_scope: params.scope,
    status: ctx.status,
    error: ctx.body?.error,
    error_description: ctx.body?.error_description,
    scope: ctx.body?.scope,
    expires_in: ctx.body?.expires_in,
    patient: ctx.body?.patient,
  });
}

// Login and consent without a UI: the practitioner logs in and grants all that was asked, and
// the grant remembers the launch context (the EHR launch's patient, or the standalone one).
async function finishInteraction(req, res) {
  const { params } = await provider.interactionDetails(req, res);
  const asked = (params.scope ?? '').split(' ').filter(Boolean);
  let patient;
  if (params.launch) patient = launches.get(params.launch)?.patient;
  else if (asked.includes('launch/patient')) patient = standalonePatient;

  const grant = new provider.Grant({ accountId: PRACTITIONER, clientId: params.client_id });
  const oidcScopes = asked.filter((s) => STATIC_SCOPES.includes(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  for (const resource of [].concat(params.resource ?? fhirBase)) grant.addResourceScope(resource, asked.join(' '));
  const grantId = await grant.save();
  grantContexts.set(grantId, { patient, fhirUser: `${fhirBase}/Practitioner/${PRACTITIONER}` });
  record({ type: 'login', client_id: params.client_id, practitioner: PRACTITIONER, patient, launch: params.launch });

  await provider.interactionFinished(req, res, {
    login: { accountId: PRACTITIONER },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------------------------------------------
// HTTP routes of the AS's port: the EHR's launch button, the admin API, the interactions, and
// everything else to oidc-provider.
async function route(req, res) {
  const url = new URL(req.url, issuer);
  try {
    if (req.method === 'GET' && url.pathname === '/ehr/launch') return ehrLaunch(url, res);
    if (url.pathname.startsWith('/ehr/admin')) return await adminApi(req, url.pathname.slice('/ehr/admin'.length), res);
    if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) return await finishInteraction(req, res);
    return callback(req, res);
  } catch (err) {
    log(`${req.method} ${url.pathname} failed:`, err);
    return json(res, 500, { error: String(err?.message ?? err) });
  }
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

// The EHR's "open app" button: GET /ehr/launch?patient=ID&app=LAUNCH_URL.
function ehrLaunch(url, res) {
  const patient = url.searchParams.get('patient');
  const app = URL.parse(url.searchParams.get('app') ?? '');
  if (!patient || !app || !/^https?:$/.test(app.protocol)) {
    return json(res, 400, { error: 'GET /ehr/launch?patient=ID&app=LAUNCH_URL (http or https)' });
  }
  const launch = randomBytes(16).toString('base64url');
  launches.set(launch, { patient });
  record({ type: 'launch', launch, patient, app: app.href });
  app.searchParams.set('iss', fhirBase);
  app.searchParams.set('launch', launch);
  return json(res, 302, { location: app.href }, { location: app.href });
}

async function adminApi(req, sub, res) {
  const body = async () => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  };
  const key = `${req.method} ${sub.replace(/\/+$/, '')}`;
  if (key === 'GET ') return json(res, 200, { fhir_base: fhirBase, issuer, token_ttl: tokenTtl, standalone_patient: standalonePatient, patients });
  if (key === 'POST /standalone-patient') {
    const { patient } = await body();
    if (typeof patient !== 'string' || !patient) return json(res, 400, { error: 'want {"patient": "ID"}' });
    standalonePatient = patient;
    return json(res, 200, { patient });
  }
  if (key === 'POST /token-ttl') {
    const { seconds } = await body();
    if (!Number.isInteger(seconds) || seconds < 1) return json(res, 400, { error: 'want {"seconds": N}, N >= 1' });
    tokenTtl = seconds;
    return json(res, 200, { seconds });
  }
  if (key === 'GET /log') return json(res, 200, events);
  if (key === 'DELETE /log') {
    events.length = 0;
    return json(res, 200, events);
  }
  return json(res, 404, { error: `no ${key} in the admin API` });
}

// ---------------------------------------------------------------------------------------------
// HFS: a child process on its own temp dir, trusting our AS.
function startHfs() {
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('HFS_') && k !== 'DATABASE_URL'));
  Object.assign(env, {
    HFS_SERVER_HOST: HOST,
    HFS_SERVER_PORT: String(hfsPort),
    HFS_LOG_LEVEL: process.env.HFS_LOG_LEVEL ?? 'warn',
    HFS_DATABASE_URL: path.join(tmp, 'fhir.db'), // not DATABASE_URL, which HFS ignores
    HFS_DATA_DIR: path.resolve(opt.data),
    HFS_BASE_URL: fhirBase,
    HFS_UI_ENABLED: 'false',
    HFS_BULK_EXPORT_OUTPUT_DIR: path.join(tmp, 'bulk-export'),
    HFS_EXPORT_DIR: path.join(tmp, 'export'),
    HFS_AUTH_ENABLED: 'true',
    HFS_AUTH_JWKS_URL: `${issuer}/jwks`,
    HFS_AUTH_ISSUER: issuer,
    HFS_AUTH_AUDIENCE: fhirBase,
    HFS_SMART_AUTHORIZE_ENDPOINT: `${issuer}/auth`,
    HFS_SMART_TOKEN_ENDPOINT: `${issuer}/token`,
  });
  // setpriv (util-linux) makes the kernel stop HFS if this process dies without cleaning up.
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => fs.existsSync(f));
  const [cmd, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', opt.hfs]] : [opt.hfs, []];
  // Its own process group: a Ctrl-C reaches this process only, which then stops HFS.
  const child = spawn(cmd, args, { cwd: tmp, env, detached: true, stdio: ['ignore', process.stderr, process.stderr] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`HFS exited (${signal ?? code}) before the stack was stopped`);
      shutdown(1);
    }
  });
  return child;
}

async function waitForHfs() {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    try {
      // Each probe has its own time limit: a port that accepts and never answers must not
      // hold the wait past its deadline.
      if ((await fetch(`${fhirBase}/health`, { signal: AbortSignal.timeout(2000) })).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('HFS did not answer /health within 120 s');
}

// A previous stack killed with SIGKILL leaves its temp dir: remove those whose process is gone.
function sweepStaleTempDirs() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(/^cobalt-ehr-(\d+)-/.exec(name)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === 'ESRCH') fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  if (hfs && hfs.exitCode === null && hfs.signalCode === null) {
    hfs.kill('SIGTERM');
    const killer = setTimeout(() => hfs.kill('SIGKILL'), 5000);
    await once(hfs, 'exit');
    clearTimeout(killer);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  server.close();
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Loading, with a system/*.cruds token from our own token endpoint (the admin client's).
async function adminToken() {
  const tokenEndpoint = `${issuer}/token`;
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'system/*.cruds',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(ADMIN_CLIENT, tokenEndpoint, adminKey),
    }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`admin token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function loadData() {
  const token = await adminToken();
  const put = (resources) => putBatch(resources, token);
  let count = await put([{ resourceType: 'Practitioner', id: PRACTITIONER, name: [{ family: 'Clinician', given: ['Test'] }] }]);
  for (const file of opt.load) {
    const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
    count += await put((bundle.entry ?? []).map((e) => e.resource).filter(Boolean));
  }
  for (const dir of opt['load-ndjson']) {
    // Patients first, then the other files in name order.
    const files = fs.readdirSync(dir).filter((f) => /\.ndjson(\.gz)?$/.test(f))
      .sort((a, b) => (b.startsWith('Patient.') - a.startsWith('Patient.')) || a.localeCompare(b));
    for (const file of files) {
      let text = fs.readFileSync(path.join(dir, file));
      if (file.endsWith('.gz')) text = gunzipSync(text);
      const resources = text.toString('utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
      for (let i = 0; i < resources.length; i += 200) count += await put(resources.slice(i, i + 200));
    }
  }
  return count;
}

// One batch Bundle of PUTs (ids kept); a resource without an id is POSTed. Any failed entry
// fails the start: tests rely on the data being there.
async function putBatch(resources, token) {
  if (!resources.length) return 0;
  const bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: resources.map((r) => ({
      resource: r,
      request: r.id ? { method: 'PUT', url: `${r.resourceType}/${r.id}` } : { method: 'POST', url: r.resourceType },
    })),
  };
  const res = await fetch(`${fhirBase}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', authorization: `Bearer ${token}` },
    body: JSON.stringify(bundle),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`batch of ${resources.length}: HTTP ${res.status} ${text.slice(0, 500)}`);
  const entries = JSON.parse(text).entry ?? [];
  const failed = entries.map((e, i) => [resources[i], e.response?.status ?? '?', e.response?.outcome])
    .filter(([, status]) => !/^2\d\d/.test(status));
  if (failed.length || entries.length !== resources.length) {
    const detail = failed.slice(0, 5).map(([r, status, outcome]) => `${r.resourceType}/${r.id}: ${status} ${JSON.stringify(outcome ?? '').slice(0, 300)}`);
    throw new Error(`batch of ${resources.length}: ${failed.length} failed, ${entries.length} answered\n${detail.join('\n')}`);
  }
  for (const r of resources) {
    if (r.resourceType === 'Patient' && r.id && !patients.includes(r.id)) patients.push(r.id);
  }
  return resources.length;
}

async function freePort() {
  const probe = http.createServer();
  probe.listen(0, HOST);
  await once(probe, 'listening');
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}
