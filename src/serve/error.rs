//! The one error shape of every HTTP answer that is not a success (SPEC §3.6):
//! `{"error": {"code", "message"}}` with the right status and headers.

use crate::lake::read::{ReadError, ReadErrorKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code: `bad_parameter`, `unauthorized`, `not_found`,
    /// `method_not_allowed`, `payload_too_large`, `headers_too_large`, `rate_limited`,
    /// `not_ready`, `timeout`, `internal`.
    pub code: String,
    /// What was wrong and what to do, for a person.
    pub message: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A bad query parameter: the message names it.
    pub fn bad_parameter(name: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("{name}: {problem}"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<ReadError> for ApiError {
    /// A lake read error: the client's mistakes say what they were; the server's are logged with
    /// their paths and answered without them.
    fn from(error: ReadError) -> ApiError {
        match error.kind() {
            ReadErrorKind::BadQuery => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", error.to_string())
            }
            ReadErrorKind::NotFound => ApiError::not_found(error.to_string()),
            ReadErrorKind::Unavailable => ApiError::not_ready(match error {
                ReadError::NoSnapshot { .. } => {
                    "the lake has no snapshot yet: try again after the first one".to_string()
                }
                ReadError::SnapshotRemoved { .. } => {
                    "the snapshot was replaced while it was read: try again".to_string()
                }
                _ => "the lake cannot be read now".to_string(),
            }),
            ReadErrorKind::Internal => {
                tracing::error!(kind = "lake_read", error = %error, "cannot read the lake");
                ApiError::internal("a lake file cannot be read: the server log has the details")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chatter\""),
            );
        }
        response
    }
}

/// Unknown routes.
pub async fn not_found_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}: the API is under /api/v1/ (see /api/openapi.json)",
        uri.path()
    ))
}

/// A known route with a method it does not answer.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here: the API is read-only (GET)"),
    )
}
