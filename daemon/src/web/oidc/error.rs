//! OAuth errors from the token, userinfo, revocation and introspection endpoints: JSON per
//! RFC 6749 §5.2 with the right status, `WWW-Authenticate` where due, never cached. Internal
//! failures say nothing beyond "server_error"; the detail goes to the log.

use crate::tokens::exchange::ExchangeError;
use crate::tokens::grants::IssueError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub www_authenticate: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    /// RFC 8628 §3.5's answers to a device code that is not approved (yet).
    pub fn device_poll(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    /// The client may not use what it asked for (RFC 6749 §5.2).
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// Client authentication failed: 401 with a Basic challenge (RFC 6749 §5.2).
    pub fn invalid_client(description: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description);
        error.www_authenticate = Some("Basic realm=\"postern\"".into());
        error
    }

    /// A bearer token was missing, expired or revoked (RFC 6750 §3).
    pub fn invalid_token(description: impl Into<String>) -> Self {
        let description = description.into();
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            description.clone(),
        );
        error.www_authenticate = Some(format!(
            "Bearer realm=\"postern\", error=\"invalid_token\", error_description=\"{}\"",
            description.replace('"', "'")
        ));
        error
    }

    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "OAuth endpoint failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            crate::store::StoreError::Unavailable(_) | crate::store::StoreError::CannotWrite(_) => {
                tracing::warn!(%error, "OAuth endpoint failed: the store is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is unavailable for a moment; try again",
                )
            }
            other => Self::server_error(other),
        }
    }
}

impl From<IssueError> for OAuthError {
    fn from(error: IssueError) -> Self {
        match error {
            IssueError::Revoked => {
                Self::invalid_grant("the tokens of this sign-in have been revoked")
            }
            other => Self::server_error(other),
        }
    }
}

impl From<ExchangeError> for OAuthError {
    fn from(error: ExchangeError) -> Self {
        match error {
            ExchangeError::InvalidGrant(description) => Self::invalid_grant(description),
            ExchangeError::InvalidScope(description) => Self::invalid_scope(description),
            ExchangeError::Issue(e) => e.into(),
            ExchangeError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
