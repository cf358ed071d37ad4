//! CDS Hooks client authentication: a signed JWT on every call.
//!
//! As the CDS Hooks 2.0 specification requires: the token is signed with ES384 or RS384 (`none`
//! and HMAC are refused); its issuer must be on the allowlist, and its key comes from that
//! issuer's configured JWK Set URL (a `jku` header must name the same URL); the key set is cached
//! and fetched again when a token names an unknown `kid`; `aud` must be exactly the URL of the
//! service called; `exp`, `iat` and `nbf` are checked, with `exp` at most five minutes ahead; a
//! header with `crit` is refused (RFC 7515 4.1.11: cobalt understands no extension), and so is
//! a key meant for encryption or for another algorithm; and a `jti` is accepted once. Every
//! refusal is the same bare 401: the reason goes to the log at debug level, the token never
//! does.
//!
//! Key sets are cached per JWK Set URL. A fetch holds only its own URL's slot, never the whole
//! cache, so an issuer whose key set hangs delays nobody else; it is bounded in size
//! ([`MAX_JWKS_BYTES`]) and time; and a failure is remembered for `refetch_after`, so that
//! refused tokens do not make the service fetch again and again.
//!
//! How long keys are used: for the answer's `Cache-Control: max-age`, within 10 s
//! (`refetch_after`) and one hour (`key_ttl`), or one hour without one; `no-store` or
//! `no-cache`, 10 s. So a key the issuer removes from its set stops being accepted within its
//! own max-age (at most an hour, at least 10 s). A token's `exp`, `nbf` and `iat` have 30 s of
//! leeway for clock skew.

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// The largest JWK Set read (a real one holds a few keys: a few kilobytes).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// An issuer the service trusts, and where its public keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The `iss` claim.
    pub iss: String,
    /// The JWK Set URL.
    pub jwks_url: String,
}

impl std::str::FromStr for TrustedIssuer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (iss, url) = s.split_once('=').ok_or("expected ISSUER=JWKS_URL")?;
        if iss.is_empty() || url.is_empty() {
            return Err("expected ISSUER=JWKS_URL".into());
        }
        Ok(TrustedIssuer {
            iss: iss.to_string(),
            jwks_url: url.to_string(),
        })
    }
}

/// Why a token was refused (logged, never returned).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    NoToken,
    /// Not a JWT.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not ES384 or RS384.
    #[error("algorithm not accepted")]
    Algorithm,
    /// No `kid` header.
    #[error("no kid")]
    NoKid,
    /// `iss` is not on the allowlist.
    #[error("issuer not trusted")]
    Issuer,
    /// `jku` is not the issuer's configured JWK Set URL.
    #[error("jku not trusted")]
    Jku,
    /// The key set could not be fetched.
    #[error("key set unavailable")]
    KeySet,
    /// No key with that `kid`.
    #[error("unknown kid")]
    UnknownKid,
    /// The header names a critical extension (`crit`), or the key is not for this use.
    #[error("header or key not acceptable")]
    Unacceptable,
    /// Signature, audience, issuer or expiry check failed.
    #[error("token invalid: {0}")]
    Invalid(String),
    /// `iat` in the future, or `exp` too far ahead.
    #[error("token times not acceptable")]
    Times,
    /// `jti` missing or already used.
    #[error("replayed or missing jti")]
    Replay,
}

#[derive(Debug, Deserialize)]
struct CritHeader {
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

/// The verified claims the service keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject (the client id).
    #[serde(default)]
    pub sub: Option<String>,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    #[serde(default)]
    pub jti: Option<String>,
}

/// One JWK Set URL's cached keys and the time of the last fetch, good or failed.
#[derive(Default)]
struct Slot {
    keys: Option<Arc<JwkSet>>,
    fetched: Option<Instant>,
    failed: Option<Instant>,
    /// How long this fetch's keys are used: the answer's `Cache-Control: max-age` within
    /// [`Verifier::refetch_after`] and [`Verifier::key_ttl`], else `key_ttl`.
    ttl: Option<Duration>,
}

/// Verifies tokens; shared by every request.
pub struct Verifier {
    trusted: Vec<TrustedIssuer>,
    http: reqwest::Client,
    /// Slots by JWK Set URL: the map's lock is held only to find a slot, never across a fetch.
    keys: std::sync::Mutex<HashMap<String, Arc<Mutex<Slot>>>>,
    seen: Mutex<HashMap<(String, String), i64>>,
    leeway: i64,
    /// How long a key set is used before it is fetched again.
    pub key_ttl: Duration,
    /// The shortest time between two fetches of one key set (an unknown `kid` does not make
    /// the service hammer the issuer).
    pub refetch_after: Duration,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

const MAX_LIFETIME_SECS: i64 = 300;

/// The longest `jti` accepted.
pub const MAX_JTI: usize = 256;

/// How long an answer may be kept, from its `Cache-Control`: `max-age=N` (seconds); `no-store`
/// or `no-cache`, none at all (the shortest refetch interval applies).
fn cache_lifetime(cache_control: &str) -> Option<Duration> {
    let mut out = None;
    for d in cache_control.split(',').map(str::trim) {
        let d = d.to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = d.strip_prefix("max-age=") {
            out = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    out
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Verifier {
    /// A verifier for these issuers.
    pub fn new(trusted: Vec<TrustedIssuer>) -> Verifier {
        Verifier {
            trusted,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("http client"),
            keys: std::sync::Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            leeway: 30,
            key_ttl: Duration::from_secs(3600),
            refetch_after: Duration::from_secs(10),
            metrics: None,
        }
    }

    /// Counts key-set fetches in these metrics.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Verifier {
        self.metrics = Some(metrics);
        self
    }

    async fn fetch(&self, url: &str) -> Result<(JwkSet, Option<Duration>), Refusal> {
        let r = self.fetch_once(url).await;
        if let Some(m) = &self.metrics {
            m.jwks_fetch(r.is_ok());
        }
        r
    }

    async fn fetch_once(&self, url: &str) -> Result<(JwkSet, Option<Duration>), Refusal> {
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|_| Refusal::KeySet)?;
        if !resp.status().is_success() {
            return Err(Refusal::KeySet);
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(cache_lifetime);
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(Refusal::KeySet);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|_| Refusal::KeySet)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(Refusal::KeySet);
            }
            body.extend_from_slice(&chunk);
        }
        let keys = serde_json::from_slice(&body).map_err(|_| Refusal::KeySet)?;
        Ok((keys, max_age))
    }

    fn slot(&self, url: &str) -> Arc<Mutex<Slot>> {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(url.to_string()).or_default())
    }

    async fn key(&self, url: &str, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, Refusal> {
        let slot = self.slot(url);
        let mut slot = slot.lock().await;
        let ttl = slot.ttl.unwrap_or(self.key_ttl);
        let fresh = slot.fetched.is_some_and(|t| t.elapsed() < ttl);
        if let Some(k) = slot
            .keys
            .as_ref()
            .filter(|_| fresh)
            .and_then(|keys| keys.find(kid))
        {
            return Ok(k.clone());
        }
        // A failure, or a fetch for an unknown kid, is not repeated for `refetch_after`.
        if slot
            .failed
            .is_some_and(|t| t.elapsed() < self.refetch_after)
        {
            return Err(Refusal::KeySet);
        }
        if fresh
            && slot
                .fetched
                .is_some_and(|t| t.elapsed() < self.refetch_after)
        {
            return Err(Refusal::UnknownKid);
        }
        match self.fetch(url).await {
            Ok((keys, max_age)) => {
                let found = keys.find(kid).cloned();
                slot.keys = Some(Arc::new(keys));
                slot.fetched = Some(Instant::now());
                slot.failed = None;
                slot.ttl = max_age.map(|a| a.clamp(self.refetch_after, self.key_ttl));
                found.ok_or(Refusal::UnknownKid)
            }
            Err(e) => {
                slot.failed = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Verifies the `Authorization` header for a call to the service at `audience` (its full
    /// URL). Returns the claims, or why the token was refused.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        audience: &str,
    ) -> Result<Claims, Refusal> {
        // RFC 6750 2.1 (with RFC 9110 11.1): the scheme is case-insensitive.
        let token = authorization
            .map(str::trim_start)
            .and_then(|h| {
                h.get(..7)
                    .filter(|s| s.eq_ignore_ascii_case("bearer "))
                    .map(|_| &h[7..])
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::NoToken)?;
        let header = decode_header(token).map_err(|_| Refusal::Malformed)?;
        if !matches!(header.alg, Algorithm::ES384 | Algorithm::RS384) {
            return Err(Refusal::Algorithm);
        }
        let kid = header.kid.clone().ok_or(Refusal::NoKid)?;
        // RFC 7515 4.1.11: a recipient that does not understand a listed critical extension
        // must refuse the token; cobalt understands none.
        let raw_header = token.split('.').next().ok_or(Refusal::Malformed)?;
        let raw_header = base64_url_decode(raw_header).ok_or(Refusal::Malformed)?;
        let crit: CritHeader =
            serde_json::from_slice(&raw_header).map_err(|_| Refusal::Malformed)?;
        if crit.crit.is_some() {
            return Err(Refusal::Unacceptable);
        }
        // Read the issuer before verifying, only to choose the key set.
        let payload = token.split('.').nth(1).ok_or(Refusal::Malformed)?;
        let bytes = base64_url_decode(payload).ok_or(Refusal::Malformed)?;
        let unverified: UnverifiedClaims =
            serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)?;
        let iss = unverified.iss.ok_or(Refusal::Issuer)?;
        let trusted = self
            .trusted
            .iter()
            .find(|t| t.iss == iss)
            .ok_or(Refusal::Issuer)?;
        if let Some(jku) = &header.jku {
            if jku != &trusted.jwks_url {
                return Err(Refusal::Jku);
            }
        }
        let jwk = self.key(&trusted.jwks_url, &kid).await?;
        // RFC 7517 4.2 and 4.4: a key meant for encryption, or for another algorithm, does not
        // verify this signature.
        let wrong_use = matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        );
        let wanted = match header.alg {
            Algorithm::ES384 => KeyAlgorithm::ES384,
            _ => KeyAlgorithm::RS384,
        };
        if wrong_use || jwk.common.key_algorithm.is_some_and(|a| a != wanted) {
            return Err(Refusal::Unacceptable);
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| Refusal::Invalid(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[iss.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        validation.leeway = self.leeway as u64;
        // RFC 7519 4.1.5: not before.
        validation.validate_nbf = true;
        let data = decode::<Claims>(token, &key, &validation)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        let claims = data.claims;
        let t = now();
        if claims.iat > t + self.leeway || claims.exp > t + MAX_LIFETIME_SECS + self.leeway {
            return Err(Refusal::Times);
        }
        // A token id is kept until the token expires: a long one is refused rather than stored
        // (a UUID is 36 characters).
        let jti = claims
            .jti
            .clone()
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
            .ok_or(Refusal::Replay)?;
        let mut seen = self.seen.lock().await;
        if seen.len() > 10_000 {
            seen.retain(|_, exp| *exp + self.leeway >= t);
        }
        if seen.contains_key(&(iss.clone(), jti.clone())) {
            return Err(Refusal::Replay);
        }
        seen.insert((iss, jti), claims.exp);
        Ok(claims)
    }
}

fn base64_url_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        })
    }
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_known_values() {
        assert_eq!(
            base64_url_decode("eyJpc3MiOiJ4In0").unwrap(),
            br#"{"iss":"x"}"#
        );
        assert_eq!(base64_url_decode("YQ").unwrap(), b"a");
        assert!(base64_url_decode("Y").is_none());
        assert!(base64_url_decode("a*b=").is_none());
    }

    #[test]
    fn trusted_issuer_parses() {
        let t: TrustedIssuer = "https://ehr.example=https://ehr.example/jwks"
            .parse()
            .unwrap();
        assert_eq!(t.iss, "https://ehr.example");
        assert_eq!(t.jwks_url, "https://ehr.example/jwks");
        assert!("nojwks".parse::<TrustedIssuer>().is_err());
    }
}
