//! SMART sessions and launch states, kept in the audit store so that any replica can serve the
//! next request, sealed with AES-256-GCM under a key the replicas are given (never stored in
//! the database), and the cookies that name them.
//!
//! A record is stored under the SHA-256 of its random name (the cookie value, or the OAuth
//! `state`), so the database alone neither names a live session nor opens one; the name is
//! also the AEAD's associated data, so a sealed record moved to another row does not open.

use crate::error::AppError;
use crate::AppState;
use axum::http::{header, HeaderMap, HeaderValue};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The session cookie's name. With `Secure`, the `__Host-` prefix pins it to this host and
/// path `/` (RFC 6265bis).
pub fn session_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-cobalt-session"
    } else {
        "cobalt-session"
    }
}

/// The cookie that binds a launch's `state` to the browser that started it.
pub fn launch_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-cobalt-launch"
    } else {
        "cobalt-launch"
    }
}

/// How long a launch may take from the redirect to the callback.
pub const LAUNCH_TTL_SECS: i64 = 600;

/// The sealing key: 32 bytes for AES-256-GCM.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// A sealer with this key.
    ///
    /// # Errors
    /// A key that is not 32 bytes.
    pub fn new(key: &[u8]) -> Result<Sealer, String> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| format!("the session key must be 32 bytes, not {}", key.len()))?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// A sealer with a random key that lives as long as the process (one replica only:
    /// sessions end when it restarts).
    pub fn ephemeral() -> Sealer {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .expect("the system's random source");
        Sealer::new(&k).expect("32 bytes")
    }

    /// Reads a key given as 64 hex digits or as base64 of 32 bytes (a file's content or an
    /// environment variable), surrounding whitespace ignored.
    ///
    /// # Errors
    /// Neither form, or not 32 bytes.
    pub fn from_text(text: &str) -> Result<Sealer, String> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect()
        } else {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
                .map_err(|_| {
                    "the session key must be 64 hex digits or base64 of 32 bytes (make one with `openssl rand -hex 32`)".to_string()
                })?
        };
        Sealer::new(&bytes)
    }

    /// Seals `value` for the row named `aad`: a random nonce, then the ciphertext and tag.
    fn seal<T: Serialize>(&self, aad: &str, value: &T) -> Result<Vec<u8>, AppError> {
        let mut data = serde_json::to_vec(value).map_err(|e| AppError::Internal(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| AppError::Internal("random source".into()))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| AppError::Internal("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Opens a sealed record; `None` when it does not open (another key, another row,
    /// tampered).
    fn open<T: DeserializeOwned>(&self, aad: &str, sealed: &[u8]) -> Option<T> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// A launch between the redirect to the authorisation server and the callback.
#[derive(Debug, Serialize, Deserialize)]
pub struct LaunchState {
    /// The FHIR server (`iss`) being launched from.
    pub fhir_server: String,
    /// Which configured client.
    pub client: usize,
    /// The authorisation server's issuer, when its configuration names one (RFC 9207).
    pub issuer: Option<String>,
    /// The authorisation endpoint used (an issuer without `issuer` metadata must be its
    /// prefix).
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// SHA-256 of the launch cookie's value: the browser that started the launch.
    pub browser: String,
    /// `ehr` or `standalone`.
    pub kind: String,
    /// Whether the configuration says the callback always carries `iss`.
    pub iss_required: bool,
}

/// A launched session: what cobalt holds for the browser, server-side only.
#[derive(Serialize, Deserialize)]
pub struct Session {
    /// The FHIR server.
    pub fhir_server: String,
    /// The launch context's patient id.
    pub patient: String,
    /// The access token for the FHIR server.
    pub access_token: String,
    /// The user (`fhirUser`), when the id token named one.
    pub fhir_user: String,
    /// Scopes granted.
    pub scope: String,
    /// When the session (and its token) expires, Unix seconds.
    pub exp: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// The store key of a random name: the kind and the SHA-256 of the name.
fn store_key(kind: &str, name: &str) -> String {
    format!("{kind}:{}", crate::sha256_hex(name.as_bytes()))
}

/// Keeps a launch state under its `state` value.
pub async fn put_launch(
    state: &AppState,
    name: &str,
    launch: &LaunchState,
) -> Result<(), AppError> {
    let key = store_key("state", name);
    let data = state.smart_sealer().seal(&key, launch)?;
    state
        .audit
        .put_sealed(&key, crate::audit::unix_now() + LAUNCH_TTL_SECS, data)
        .await
        .map_err(AppError::Unavailable)
}

/// Takes the launch state of `name` (once: a second callback with the same `state` finds
/// nothing).
pub async fn take_launch(state: &AppState, name: &str) -> Result<Option<LaunchState>, AppError> {
    let key = store_key("state", name);
    let sealed = state
        .audit
        .get_sealed(&key, true)
        .await
        .map_err(AppError::Unavailable)?;
    Ok(sealed.and_then(|s| state.smart_sealer().open(&key, &s)))
}

/// Keeps a session under the cookie value `name`.
pub async fn put_session(state: &AppState, name: &str, session: &Session) -> Result<(), AppError> {
    let key = store_key("session", name);
    let data = state.smart_sealer().seal(&key, session)?;
    state
        .audit
        .put_sealed(&key, session.exp, data)
        .await
        .map_err(AppError::Unavailable)
}

/// The session the request's cookie names, unless there is none or it has expired.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, AppError> {
    let Some(name) = cookie(headers, session_cookie(state.smart_secure())) else {
        return Ok(None);
    };
    let key = store_key("session", &name);
    let sealed = state
        .audit
        .get_sealed(&key, false)
        .await
        .map_err(AppError::Unavailable)?;
    Ok(sealed
        .and_then(|s| state.smart_sealer().open::<Session>(&key, &s))
        .filter(|s| s.exp > crate::audit::unix_now()))
}

/// A cookie's value from the request, when it is there once and is a plain token.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for h in headers.get_all(header::COOKIE) {
        let Ok(text) = h.to_str() else { continue };
        for pair in text.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == name {
                if found.is_some() {
                    // Two cookies of one name: an attempt to fix a session; use neither.
                    return None;
                }
                found = Some(v.to_string());
            }
        }
    }
    found.filter(|v| {
        !v.is_empty()
            && v.len() <= 128
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A `Set-Cookie` header: HttpOnly, SameSite=Lax (the callback is a top-level navigation from
/// the authorisation server), Path=/, Secure unless the service is on loopback over HTTP.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        max_age.max(0)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("cobalt-invalid=; Max-Age=0"))
}
