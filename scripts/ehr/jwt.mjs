// The few JOSE pieces the test EHR and its smoke test need, on node:crypto alone: key pairs as
// JWKs with RFC 7638 thumbprints as `kid`, compact JWS signing, and SMART client assertions
// (RFC 7523, private_key_jwt).
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

const HASH = { RS256: 'sha256', RS384: 'sha384', ES256: 'sha256', ES384: 'sha384' };

const b64url = (value) => Buffer.from(value).toString('base64url');

/** RFC 7638 thumbprint (SHA-256) of a public JWK: its required members, sorted, no spaces. */
export function thumbprint(jwk) {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : null;
  if (!members) throw new Error(`no thumbprint for kty ${jwk.kty}`);
  return b64url(createHash('sha256').update(JSON.stringify(members)).digest());
}

/**
 * A fresh signing key pair for `alg` (ES256/ES384: P-256/P-384; RS256/RS384: RSA 2048).
 * Returns the KeyObject and both JWKs, each with `kid` (the thumbprint), `alg` and `use`.
 */
export function newKeyPair(alg) {
  const { privateKey, publicKey } = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = publicKey.export({ format: 'jwk' });
  const kid = thumbprint(publicJwk);
  const meta = { kid, alg, use: 'sig' };
  return {
    alg,
    kid,
    privateKey,
    publicJwk: { ...publicJwk, ...meta },
    privateJwk: { ...privateKey.export({ format: 'jwk' }), ...meta },
  };
}

/** A compact JWS of `payload`, signed with `key` (from newKeyPair). */
export function signJwt(payload, key, extraHeader = {}) {
  const header = { alg: key.alg, typ: 'JWT', kid: key.kid, ...extraHeader };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  // JWS wants ECDSA signatures as r||s, not DER.
  const signature = sign(HASH[key.alg], Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${b64url(signature)}`;
}

/** A private_key_jwt client assertion for `tokenEndpoint`, with a new `jti`, valid 5 minutes. */
export function clientAssertion(clientId, tokenEndpoint, key) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({
    iss: clientId, sub: clientId, aud: tokenEndpoint, jti: randomUUID(), iat: now, exp: now + 300,
  }, key);
}

/** Header and payload of a JWT, not verified. */
export function decodeJwt(token) {
  const [header, payload] = String(token).split('.');
  const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: part(header), payload: part(payload) };
}
