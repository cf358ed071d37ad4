//! SMART App Launch 2.x: the EHR opens cobalt's page for the patient in front of the
//! clinician. cobalt is a confidential client of each configured EHR (`private_key_jwt` with
//! its ES384 or RS384 key): `GET /smart/launch` (EHR launch with `iss` and `launch`, or a
//! standalone launch) sends the browser to the EHR's authorisation server with PKCE S256 and a
//! `state` bound to the browser; `GET /smart/callback` checks them, exchanges the code for a
//! token, and keeps the token in a sealed server-side session; the browser holds only an
//! HttpOnly cookie. `GET /smart/record` reads the patient's record with the token, maps it
//! through the one FHIR mapping and assesses it. `GET /.well-known/jwks.json` publishes the
//! public keys.
//!
//! An `iss` that is not a configured FHIR server is refused before any redirect, so cobalt
//! never sends a browser, a code or a token to a server it was not registered with.

pub mod launch;
pub mod record;
pub mod session;

use cobalt_smart::SigningKey;
use std::sync::Arc;
use std::time::Duration;

/// The scopes asked for after `launch` (or `launch/patient`): the user's identity and read
/// access to the resource types cobalt reads (SMART v2 `.rs`: read and search).
pub const DEFAULT_SCOPES: &str = "openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/MedicationRequest.rs patient/MedicationStatement.rs patient/Medication.rs patient/Procedure.rs";

/// The whole read of a record, by default: below the request timeout.
pub const DEFAULT_READ_DEADLINE: Duration = Duration::from_secs(10);

/// Longest session, whatever the token's lifetime.
pub const MAX_SESSION_SECS: i64 = 12 * 3600;

/// Session lifetime when the token response gives none (`expires_in` is required by SMART).
pub const DEFAULT_TOKEN_SECS: i64 = 300;

/// cobalt registered with one EHR.
#[derive(Debug, Clone)]
pub struct SmartClient {
    /// The EHR's FHIR base URL: the only `iss` this registration accepts.
    pub fhir_server: String,
    /// cobalt's client id at that EHR.
    pub client_id: String,
    /// The key cobalt authenticates with.
    pub key: Arc<SigningKey>,
}

/// SMART App Launch settings.
#[derive(Debug, Clone)]
pub struct SmartSettings {
    /// The EHRs cobalt is registered with. Empty: SMART is off.
    pub clients: Vec<SmartClient>,
    /// Scopes after `launch` (or `launch/patient`), replacing [`DEFAULT_SCOPES`] (for example
    /// `openid fhirUser patient/*.rs` where a server needs a wildcard).
    pub scope: Option<String>,
    /// The key that seals sessions in the store, shared by every replica. `None`: a random
    /// key for this process only.
    pub session_key: Option<Arc<session::Sealer>>,
    /// The deadline for reading one record.
    pub read_deadline: Duration,
}

impl Default for SmartSettings {
    fn default() -> SmartSettings {
        SmartSettings {
            clients: Vec::new(),
            scope: None,
            session_key: None,
            read_deadline: DEFAULT_READ_DEADLINE,
        }
    }
}

impl SmartSettings {
    /// Whether any EHR is configured.
    pub fn enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The registration for an `iss`: exactly a configured FHIR base (a trailing `/` aside).
    pub fn client_for(&self, iss: &str) -> Option<usize> {
        let iss = iss.trim_end_matches('/');
        self.clients
            .iter()
            .position(|c| c.fhir_server.trim_end_matches('/') == iss)
    }

    /// The scope parameter of an authorisation request.
    pub fn scopes(&self, standalone: bool) -> String {
        let launch = if standalone {
            "launch/patient"
        } else {
            "launch"
        };
        format!(
            "{launch} {}",
            self.scope.as_deref().unwrap_or(DEFAULT_SCOPES)
        )
    }

    /// The public JWK Set of every key.
    pub fn jwks(&self) -> serde_json::Value {
        let mut seen = std::collections::BTreeSet::new();
        cobalt_smart::keys::jwks(
            self.clients
                .iter()
                .filter(|c| seen.insert(c.key.kid().to_string()))
                .map(|c| c.key.as_ref()),
        )
    }
}
