//! cobalt's signing keys: a PEM private key (EC P-384 for ES384, or RSA for RS384), its public
//! JWK with the RFC 7638 thumbprint as `kid`, and compact JWS signing.
//!
//! An EC key is read from PKCS#8 (`BEGIN PRIVATE KEY`, as `cobalt keys new` and `openssl genpkey`
//! write it); an RSA key from PKCS#8 or PKCS#1 (`BEGIN RSA PRIVATE KEY`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Value};

/// A problem with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file is not a PEM private key cobalt can use.
    #[error("{0}")]
    Unusable(String),
    /// Signing failed (the system's random source).
    #[error("signing failed")]
    Signing,
}

/// The signing algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es384 => "ES384",
            Alg::Rs384 => "RS384",
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private key cobalt signs with, and its public JWK.
pub struct SigningKey {
    pair: Pair,
    jwk: Value,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("SigningKey")
            .field("alg", &self.alg().as_str())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PEM private key.
    ///
    /// # Errors
    /// Not PEM, not a private key, an EC key on another curve than P-384 or not in PKCS#8, an
    /// RSA key ring refuses (shorter than 2048 bits, for example).
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
            KeyError::Unusable(format!(
                "not a PEM private key ({e}); expected PKCS#8 (BEGIN PRIVATE KEY) or PKCS#1 RSA"
            ))
        })?;
        let rng = SystemRandom::new();
        let pair = match &der {
            PrivateKeyDer::Pkcs8(k) => {
                let bytes = k.secret_pkcs8_der();
                match EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    bytes,
                    &rng,
                ) {
                    Ok(p) => Pair::Ec(p),
                    Err(ec) => match RsaKeyPair::from_pkcs8(bytes) {
                        Ok(p) => Pair::Rsa(p),
                        Err(rsa) => {
                            return Err(KeyError::Unusable(format!(
                                "neither an EC P-384 key ({ec}) nor an RSA key ({rsa})"
                            )))
                        }
                    },
                }
            }
            PrivateKeyDer::Pkcs1(k) => Pair::Rsa(
                RsaKeyPair::from_der(k.secret_pkcs1_der())
                    .map_err(|e| KeyError::Unusable(format!("RSA key refused: {e}")))?,
            ),
            PrivateKeyDer::Sec1(_) => {
                return Err(KeyError::Unusable(
                    "an EC key in SEC1 form (BEGIN EC PRIVATE KEY); convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt`, or make one with `cobalt keys new`".into(),
                ))
            }
            _ => return Err(KeyError::Unusable("an unknown private key form".into())),
        };
        let jwk = public_jwk(&pair);
        let kid = thumbprint(&jwk);
        let mut jwk = jwk;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg_of(&pair).as_str());
        jwk["use"] = json!("sig");
        Ok(SigningKey {
            pair,
            jwk,
            kid,
            rng,
        })
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        alg_of(&self.pair)
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty`, the key's members, `kid`, `alg`, `use`).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `claims` as a compact JWS with `alg`, `kid` and `typ: JWT` in its header.
    ///
    /// # Errors
    /// The system's random source failed.
    pub fn sign_jwt(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({ "alg": self.alg().as_str(), "kid": self.kid, "typ": "JWT" });
        let mut out = B64.encode(header.to_string());
        out.push('.');
        out.push_str(&B64.encode(claims.to_string()));
        let sig = match &self.pair {
            Pair::Ec(p) => p
                .sign(&self.rng, out.as_bytes())
                .map_err(|_| KeyError::Signing)?
                .as_ref()
                .to_vec(),
            Pair::Rsa(p) => {
                let mut sig = vec![0; p.public().modulus_len()];
                p.sign(
                    &signature::RSA_PKCS1_SHA384,
                    &self.rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| KeyError::Signing)?;
                sig
            }
        };
        out.push('.');
        out.push_str(&B64.encode(sig));
        Ok(out)
    }
}

fn alg_of(pair: &Pair) -> Alg {
    match pair {
        Pair::Ec(_) => Alg::Es384,
        Pair::Rsa(_) => Alg::Rs384,
    }
}

/// The public members of a key, in the form RFC 7638 hashes (required members only).
fn public_jwk(pair: &Pair) -> Value {
    match pair {
        Pair::Ec(p) => {
            // An uncompressed point: 0x04, then x and y of 48 bytes each.
            let point = p.public_key().as_ref();
            let (x, y) = point[1..].split_at(48);
            json!({ "crv": "P-384", "kty": "EC", "x": B64.encode(x), "y": B64.encode(y) })
        }
        Pair::Rsa(p) => {
            let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(p.public());
            json!({ "e": B64.encode(&c.e), "kty": "RSA", "n": B64.encode(&c.n) })
        }
    }
}

/// The RFC 7638 thumbprint of a JWK: SHA-256 of the required members in lexicographic order,
/// with no whitespace, base64url without padding.
pub fn thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &["k", "kty"],
    };
    // serde_json writes a Map in key order (no `preserve_order`), and these names are already
    // sorted, so the canonical form is the map of these members written compactly.
    let canonical: serde_json::Map<String, Value> = members
        .iter()
        .map(|m| {
            (
                (*m).to_string(),
                jwk.get(*m).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let text = Value::Object(canonical).to_string();
    B64.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// A JWK Set of the public keys.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    let keys: Vec<&Value> = keys.into_iter().map(SigningKey::public_jwk).collect();
    json!({ "keys": keys })
}

/// A new EC P-384 private key (for ES384), PKCS#8 in PEM.
///
/// # Errors
/// The system's random source failed.
pub fn generate_es384_pem() -> Result<String, KeyError> {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .map_err(|_| KeyError::Signing)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// Base64url without padding (JOSE's encoding).
pub fn b64url(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64url with or without padding.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim_end_matches('=')).ok()
}
