//! cobalt's keys and assertions, checked against the RFCs' own examples and against an
//! independent JWT implementation (jsonwebtoken).

use cobalt_smart::keys::{generate_es384_pem, jwks, thumbprint};
use cobalt_smart::{assertion, pkce, Alg, SigningKey};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

const RSA_PEM: &str = include_str!("../../cobalt-server/tests/keys/rsa.pem");
const EC_SEC1_PEM: &str = include_str!("../../cobalt-server/tests/keys/ec384.pem");
const EC_PKCS8_PEM: &str = include_str!("../../cobalt-server/tests/keys/ec384-pkcs8.pem");

#[test]
fn thumbprint_of_the_rfc_7638_example_key() {
    // RFC 7638, section 3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(&jwk),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn pkce_challenge_of_the_rfc_7636_example() {
    // RFC 7636, appendix B.
    assert_eq!(
        pkce::challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let a = pkce::random(32);
    assert_eq!(a.len(), 43);
    assert_ne!(a, pkce::random(32));
}

fn verify(token: &str, key: &SigningKey, client: &str, aud: &str) -> Value {
    let jwk = key.public_jwk();
    let s = |k: &str| jwk[k].as_str().unwrap().to_string();
    let (dk, alg) = match key.alg() {
        Alg::Es384 => (
            DecodingKey::from_ec_components(&s("x"), &s("y")).unwrap(),
            Algorithm::ES384,
        ),
        Alg::Rs384 => (
            DecodingKey::from_rsa_components(&s("n"), &s("e")).unwrap(),
            Algorithm::RS384,
        ),
    };
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, alg);
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    let mut v = Validation::new(alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[client]);
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    decode::<Value>(token, &dk, &v).unwrap().claims
}

#[test]
fn a_new_es384_key_signs_assertions_an_independent_verifier_accepts() {
    let pem = generate_es384_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(key.alg(), Alg::Es384);
    let jwk = key.public_jwk();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-384");
    assert_eq!(jwk["alg"], "ES384");
    assert!(
        jwk.get("d").is_none(),
        "the JWK must not hold the private key"
    );
    assert_eq!(key.kid(), thumbprint(jwk));
    let now = cobalt_smart::unix_now();
    let a = assertion::sign(&key, "cobalt", "https://ehr.example.org/token", now).unwrap();
    let claims = verify(&a, &key, "cobalt", "https://ehr.example.org/token");
    assert_eq!(claims["sub"], "cobalt");
    assert_eq!(claims["exp"].as_i64().unwrap() - now, 300);
    let b = assertion::sign(&key, "cobalt", "https://ehr.example.org/token", now).unwrap();
    let claims_b = verify(&b, &key, "cobalt", "https://ehr.example.org/token");
    assert_ne!(claims["jti"], claims_b["jti"], "a new jti each time");
}

#[test]
fn an_rsa_key_signs_rs384() {
    let key = SigningKey::from_pem(RSA_PEM.as_bytes()).unwrap();
    assert_eq!(key.alg(), Alg::Rs384);
    assert_eq!(key.public_jwk()["kty"], "RSA");
    assert_eq!(key.kid(), thumbprint(key.public_jwk()));
    let a = assertion::sign(
        &key,
        "c1",
        "https://as.example/token",
        cobalt_smart::unix_now(),
    )
    .unwrap();
    verify(&a, &key, "c1", "https://as.example/token");
}

#[test]
fn an_ec_key_in_pkcs8_is_read_and_sec1_is_refused_with_the_way_out() {
    let key = SigningKey::from_pem(EC_PKCS8_PEM.as_bytes()).unwrap();
    assert_eq!(key.alg(), Alg::Es384);
    let e = SigningKey::from_pem(EC_SEC1_PEM.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("SEC1") && e.contains("pkcs8"), "{e}");
    let e = SigningKey::from_pem(b"not a key").unwrap_err().to_string();
    assert!(e.contains("not a PEM private key"), "{e}");
}

#[test]
fn the_jwk_set_lists_public_keys_only() {
    let a = SigningKey::from_pem(generate_es384_pem().unwrap().as_bytes()).unwrap();
    let b = SigningKey::from_pem(RSA_PEM.as_bytes()).unwrap();
    let set = jwks([&a, &b]);
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for k in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "{private} in {k}");
        }
    }
}
