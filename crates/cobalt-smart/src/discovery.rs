//! What an EHR publishes at `{fhir_base}/.well-known/smart-configuration`, what its token
//! endpoint answers, and the bounded HTTP reads both need.

use serde::Deserialize;
use std::time::Duration;

/// The largest SMART configuration or token response read, in bytes.
pub const METADATA_LIMIT: usize = 256 * 1024;

/// A failed exchange with a FHIR or authorisation server, said as what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// The server answered with an error status.
    #[error("{what} answered {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The OAuth `error`/`error_description`, or an OperationOutcome's diagnostics, when
        /// the answer carried one (at most 300 characters).
        detail: Option<String>,
    },
    /// No answer in time.
    #[error("{what} did not answer within {ms} ms")]
    Timeout {
        /// What was asked.
        what: String,
        /// The deadline.
        ms: u128,
    },
    /// The server could not be reached, or the answer was cut.
    #[error("{what} could not be reached: {reason}")]
    Unreachable {
        /// What was asked.
        what: String,
        /// Why.
        reason: String,
    },
    /// The answer is not what the protocol says.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was asked.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

impl ServerError {
    /// A refusal (401 or 403): the server said no, which is not "no data".
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ServerError::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// The SMART configuration (SMART App Launch 2.x, "Conformance"): the fields cobalt reads.
#[derive(Debug, Clone, Deserialize)]
pub struct SmartConfiguration {
    /// The authorisation server's issuer identifier, when published (RFC 9207's `iss` must
    /// equal it).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Where the browser is sent to authorise.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where codes and assertions are exchanged for tokens.
    pub token_endpoint: String,
    /// Capabilities (`launch-ehr`, `client-confidential-asymmetric`, ...).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Whether the authorisation response always carries `iss` (RFC 9207).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// A token endpoint's answer: the fields cobalt reads.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer` (any case).
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds the token lives.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// The scopes granted.
    #[serde(default)]
    pub scope: Option<String>,
    /// The launch context's patient (SMART App Launch).
    #[serde(default)]
    pub patient: Option<String>,
    /// An OpenID Connect id token (for `fhirUser`).
    #[serde(default)]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// The `fhirUser` claim of the id token, read from its payload. The id token came
    /// straight from the token endpoint over the back channel, which OpenID Connect Core 1.0
    /// (3.1.3.7) lets a client trust without checking the signature; cobalt only records it.
    pub fn fhir_user(&self) -> Option<String> {
        let payload = self.id_token.as_deref()?.split('.').nth(1)?;
        let bytes = crate::keys::b64url_decode(payload)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get("fhirUser")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }
}

/// Reads a response body of at most `limit` bytes.
///
/// # Errors
/// A larger body, or a body cut short.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, ServerError> {
    let too_big = || ServerError::Invalid {
        what: what.to_string(),
        reason: format!("the answer is larger than {limit} bytes"),
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| ServerError::Unreachable {
        what: what.to_string(),
        reason: without_url(&e),
    })? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A reqwest error without its URL (which may hold a patient id).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut e = format!("{}", WithoutUrl(e));
    if e.is_empty() {
        e = "connection failed".into();
    }
    e
}

struct WithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for WithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.0;
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection refused or failed"
        } else if e.is_body() || e.is_decode() {
            "the answer was cut short"
        } else if e.is_redirect() {
            "too many redirects"
        } else {
            "request failed"
        };
        f.write_str(kind)
    }
}

/// The detail of an error answer: OAuth's `error` and `error_description`, or the first
/// OperationOutcome issue's diagnostics or details text, at most 300 characters.
pub fn error_detail(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let s = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
    let text = if let Some(e) = s("/error") {
        match s("/error_description") {
            Some(d) => format!("{e}: {d}"),
            None => e.to_string(),
        }
    } else {
        s("/issue/0/diagnostics")
            .or_else(|| s("/issue/0/details/text"))?
            .to_string()
    };
    Some(text.chars().take(300).collect())
}

/// Sends a request under a deadline and reads its answer (at most `limit` bytes); a status
/// other than 2xx is an error with the answer's detail.
///
/// # Errors
/// As [`ServerError`].
pub async fn exchange(
    rb: reqwest::RequestBuilder,
    what: &str,
    deadline: Duration,
    limit: usize,
) -> Result<Vec<u8>, ServerError> {
    let timeout = || ServerError::Timeout {
        what: what.to_string(),
        ms: deadline.as_millis(),
    };
    let work = async {
        let resp = rb.send().await.map_err(|e| {
            if e.is_timeout() {
                timeout()
            } else {
                ServerError::Unreachable {
                    what: what.to_string(),
                    reason: without_url(&e),
                }
            }
        })?;
        let status = resp.status();
        let body = read_limited(resp, limit, what).await?;
        if !status.is_success() {
            return Err(ServerError::Status {
                what: what.to_string(),
                status: status.as_u16(),
                detail: error_detail(&body),
            });
        }
        Ok(body)
    };
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| timeout())?
}

/// Fetches `{fhir_base}/.well-known/smart-configuration`.
///
/// # Errors
/// As [`ServerError`]; a document without a token endpoint is invalid.
pub async fn discover(
    http: &reqwest::Client,
    fhir_base: &str,
    deadline: Duration,
) -> Result<SmartConfiguration, ServerError> {
    let what = "the EHR's SMART configuration";
    let url = format!(
        "{}/.well-known/smart-configuration",
        fhir_base.trim_end_matches('/')
    );
    let body = exchange(
        http.get(url).header("Accept", "application/json"),
        what,
        deadline,
        METADATA_LIMIT,
    )
    .await?;
    serde_json::from_slice(&body).map_err(|e| ServerError::Invalid {
        what: what.to_string(),
        reason: format!("not a SMART configuration: {e}"),
    })
}

/// Posts a form to a token endpoint and reads the token response.
///
/// # Errors
/// As [`ServerError`]; a token type other than Bearer is invalid.
pub async fn token(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
    deadline: Duration,
) -> Result<TokenResponse, ServerError> {
    let what = "the EHR's token endpoint";
    let body = exchange(
        http.post(endpoint)
            .header("Accept", "application/json")
            .form(form),
        what,
        deadline,
        METADATA_LIMIT,
    )
    .await?;
    let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| ServerError::Invalid {
        what: what.to_string(),
        reason: format!("not a token response: {e}"),
    })?;
    if let Some(tt) = &t.token_type {
        if !tt.eq_ignore_ascii_case("bearer") {
            return Err(ServerError::Invalid {
                what: what.to_string(),
                reason: format!("token type `{tt}`; expected Bearer"),
            });
        }
    }
    Ok(t)
}
