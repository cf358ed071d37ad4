//! One error type for every handler. Client errors carry a structured body (an OperationOutcome
//! for the CDS Hooks routes, a JSON problem otherwise); authentication failures are a bare 401;
//! internal errors are a generic 500, logged without patient data.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing, malformed, expired, replayed or untrusted credentials. The body says nothing.
    #[error("unauthorised")]
    Unauthorised,
    /// The request body is not valid: the JSON path and what was expected.
    #[error("{path}: {message}")]
    Invalid {
        /// JSON path.
        path: String,
        /// Problem.
        message: String,
    },
    /// The data the service needs could not be had (CDS Hooks: prefetch missing and the FHIR
    /// server could not supply it).
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// No such CDS service.
    #[error("not found")]
    NotFound,
    /// The audit store cannot be written (so nothing can be answered): logged, a generic 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged, answered with a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<cobalt_core::InputError> for AppError {
    fn from(e: cobalt_core::InputError) -> Self {
        AppError::Invalid {
            path: e.path,
            message: e.message,
        }
    }
}

/// A FHIR OperationOutcome with one issue.
pub fn operation_outcome(
    code: &str,
    diagnostics: &str,
    expression: Option<&str>,
) -> serde_json::Value {
    let mut issue = json!({ "severity": "error", "code": code, "diagnostics": diagnostics });
    if let Some(e) = expression {
        issue["expression"] = json!([e]);
    }
    json!({ "resourceType": "OperationOutcome", "issue": [issue] })
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Unauthorised => StatusCode::UNAUTHORIZED.into_response(),
            AppError::Invalid { path, message } => (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "invalid input",
                    "path": path,
                    "message": message,
                    "outcome": operation_outcome("invalid", &message, Some(&path)),
                })),
            )
                .into_response(),
            AppError::Precondition(msg) => (
                StatusCode::PRECONDITION_FAILED,
                Json(operation_outcome("not-found", &msg, None)),
            )
                .into_response(),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                Json(operation_outcome("not-found", "no such service", None)),
            )
                .into_response(),
            AppError::Unavailable(msg) => {
                tracing::error!(error = %msg, "audit store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "error": "unavailable" })),
                )
                    .into_response()
            }
            AppError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": "internal error" })),
                )
                    .into_response()
            }
        }
    }
}
