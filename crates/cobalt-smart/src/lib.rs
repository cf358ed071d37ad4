//! cobalt as a SMART on FHIR client, the parts the App Launch (`cobalt serve`) and Backend
//! Services (`cobalt pull`) share:
//!
//! - [`keys`]: the PEM private key cobalt signs with (ES384 or RS384), its public JWK with the
//!   RFC 7638 thumbprint as `kid`, key generation for `cobalt keys new`;
//! - [`assertion`]: the signed client assertion of `private_key_jwt` (SMART's
//!   `client-confidential-asymmetric`), a fresh `jti` each time;
//! - [`pkce`]: PKCE S256 and random values;
//! - [`discovery`]: the `.well-known/smart-configuration` an EHR publishes, and its token
//!   response, fetched with bounds on time and size.

#![forbid(unsafe_code)]

pub mod discovery;
pub mod keys;

pub use keys::{Alg, KeyError, SigningKey};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Random values and PKCE.
pub mod pkce {
    use ring::rand::{SecureRandom, SystemRandom};

    /// `n` random bytes, base64url: 32 bytes give 43 characters (256 bits), for a `state`, a
    /// PKCE verifier, a session id or a `jti`.
    ///
    /// # Panics
    /// Only if the system's random source fails, where nothing secret can be made.
    pub fn random(n: usize) -> String {
        let mut b = vec![0u8; n];
        SystemRandom::new()
            .fill(&mut b)
            .expect("the system's random source");
        crate::keys::b64url(&b)
    }

    /// The S256 challenge of a verifier (RFC 7636 4.2): base64url of its SHA-256.
    pub fn challenge(verifier: &str) -> String {
        crate::keys::b64url(
            ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref(),
        )
    }
}

/// Signed client assertions.
pub mod assertion {
    use crate::keys::{KeyError, SigningKey};
    use serde_json::json;

    /// How long an assertion is valid: SMART asks for at most five minutes.
    pub const LIFETIME_SECS: i64 = 300;

    /// A client assertion for `client_id` at `token_endpoint`, issued at `now` (Unix seconds),
    /// with a fresh `jti` (SMART Backend Services, "Authenticating to the token endpoint").
    ///
    /// # Errors
    /// Signing failed.
    pub fn sign(
        key: &SigningKey,
        client_id: &str,
        token_endpoint: &str,
        now: i64,
    ) -> Result<String, KeyError> {
        key.sign_jwt(&json!({
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint,
            "jti": crate::pkce::random(32),
            "iat": now,
            "exp": now + LIFETIME_SECS,
        }))
    }
}

/// The origin (scheme, host and port) of a URL, lower-cased; `None` for a URL without a host
/// or with user information. A token is sent only to its server's origin.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains('@')).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
