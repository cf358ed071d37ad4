//! SMART Backend Services: an access token from the client-credentials grant with a signed
//! client assertion (a new `jti` each time), fetched again before it expires. Scopes are asked
//! narrowest first: read and search of each type (`system/Patient.rs ...`), then the wildcard
//! `system/*.rs`, then SMART v1's `system/*.read`, moving on when the token endpoint refuses the
//! scopes or the FHIR server refuses the token (some servers authorise an export's status and
//! files only under a wildcard).

use crate::PullError;
use cobalt_smart::discovery::{self, ServerError};
use cobalt_smart::SigningKey;
use std::time::Duration;

/// Seconds before its expiry that a token is replaced.
const EARLY_SECS: i64 = 30;

/// The token holder of one pull.
#[derive(Debug)]
pub struct Auth {
    http: reqwest::Client,
    key: SigningKey,
    client_id: String,
    token_endpoint: String,
    candidates: Vec<String>,
    /// Index of the scopes in use.
    pub level: usize,
    token: Option<(String, i64)>,
    deadline: Duration,
}

impl Auth {
    /// Finds the token endpoint in the server's SMART configuration.
    ///
    /// # Errors
    /// The configuration cannot be read.
    pub async fn new(
        http: reqwest::Client,
        fhir_server: &str,
        client_id: &str,
        key: SigningKey,
        candidates: Vec<String>,
        level: usize,
    ) -> Result<Auth, PullError> {
        let deadline = Duration::from_secs(30);
        let config = discovery::discover(&http, fhir_server, deadline)
            .await
            .map_err(PullError::Server)?;
        Ok(Auth {
            http,
            key,
            client_id: client_id.to_string(),
            token_endpoint: config.token_endpoint,
            level: level.min(candidates.len().saturating_sub(1)),
            candidates,
            token: None,
            deadline,
        })
    }

    /// The scopes now asked for.
    pub fn scope(&self) -> &str {
        &self.candidates[self.level]
    }

    /// A token valid for at least [`EARLY_SECS`] more.
    ///
    /// # Errors
    /// The token endpoint refused every scope candidate left, or cannot be reached.
    pub async fn token(&mut self) -> Result<String, PullError> {
        let now = cobalt_smart::unix_now();
        if let Some((t, exp)) = &self.token {
            if *exp - EARLY_SECS > now {
                return Ok(t.clone());
            }
        }
        loop {
            match self.fetch().await {
                Ok((t, exp)) => {
                    self.token = Some((t.clone(), exp));
                    return Ok(t);
                }
                Err(e) if refuses_scope(&e) && self.level + 1 < self.candidates.len() => {
                    self.level += 1;
                }
                Err(e) => return Err(PullError::Auth(e)),
            }
        }
    }

    /// After the FHIR server refused the token (403): wider scopes, if any are left. Returns
    /// whether there were.
    pub fn widen(&mut self) -> bool {
        if self.level + 1 < self.candidates.len() {
            self.level += 1;
            self.token = None;
            true
        } else {
            false
        }
    }

    /// Forgets the token (after a 401: it expired early or was revoked).
    pub fn forget(&mut self) {
        self.token = None;
    }

    async fn fetch(&self) -> Result<(String, i64), ServerError> {
        let now = cobalt_smart::unix_now();
        let assertion =
            cobalt_smart::assertion::sign(&self.key, &self.client_id, &self.token_endpoint, now)
                .map_err(|e| ServerError::Invalid {
                    what: "the client assertion".into(),
                    reason: e.to_string(),
                })?;
        let scope = self.scope().to_string();
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
            ("client_assertion_type", cobalt_smart::ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        let t = discovery::token(&self.http, &self.token_endpoint, &form, self.deadline).await?;
        // Without expires_in, five minutes: SMART asks servers to give it.
        let exp = now + t.expires_in.unwrap_or(300).max(1);
        Ok((t.access_token, exp))
    }
}

/// Whether a token endpoint's refusal is about the scopes (so that wider ones may be asked).
fn refuses_scope(e: &ServerError) -> bool {
    match e {
        ServerError::Status { status, detail, .. } => {
            (400..500).contains(status)
                && detail
                    .as_deref()
                    .is_some_and(|d| d.contains("invalid_scope") || d.contains("scope"))
        }
        _ => false,
    }
}

/// The scopes to try, narrowest first, for these resource types.
pub fn candidates(types: &[String], given: Option<&str>) -> Vec<String> {
    if let Some(g) = given {
        return vec![g.to_string()];
    }
    let per_type: Vec<String> = types.iter().map(|t| format!("system/{t}.rs")).collect();
    vec![
        per_type.join(" "),
        "system/*.rs".to_string(),
        "system/*.read".to_string(),
    ]
}
