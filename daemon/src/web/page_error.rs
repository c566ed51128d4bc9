//! One error type for the pages, mapped to a response once: handlers return
//! `Result<Response, PageError>` and use `?`. A page the user should see (a bad link, an expired
//! form) says what happened and what to do; anything else is a generic page, with the detail
//! in the log only.

use crate::engine::EngineError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum PageError {
    /// Shown to the user as it is.
    Shown {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
    /// A failure inside the daemon: logged, and shown as "something went wrong".
    Internal(String),
}

impl PageError {
    pub fn shown(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self::Shown {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// The generic page for a failure inside the daemon, as a response.
    pub fn internal_response(detail: impl std::fmt::Display) -> Response {
        Self::internal(detail).into_response()
    }
}

impl PageError {
    /// The database went away, or cannot take writes: the page says to try again soon, with
    /// 503 so that a load balancer or a monitor sees it too. The detail goes to the log.
    fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "web request failed: the store is unavailable");
        Self::shown(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "Sign-in is unavailable for a moment. Please try again in a minute.",
        )
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::CannotWrite(_) => Self::unavailable(error),
            other => Self::internal(other),
        }
    }
}

impl From<EngineError> for PageError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Store(store) => store.into(),
            EngineError::Refused(message) | EngineError::CannotEnrol(message) => {
                Self::shown(StatusCode::FORBIDDEN, "This cannot be done", message)
            }
            other => Self::internal(other),
        }
    }
}

/// What the page layer renders with the site's templates (see [`render`]).
#[derive(Debug, Clone)]
pub(super) struct ErrorPage {
    pub(super) title: &'static str,
    pub(super) message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, page) = match self {
            Self::Shown {
                status,
                title,
                message,
            } => (status, ErrorPage { title, message }),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "web request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorPage {
                        title: "Something went wrong",
                        message: "Postern could not complete this request. Please try again later."
                            .into(),
                    },
                )
            }
        };
        // The templates live with the router's state, so the page is drawn by `render`, a
        // layer that sees this marker; the body here is only a fallback.
        let mut response = (status, page.message.clone()).into_response();
        response.extensions_mut().insert(page);
        response
    }
}

/// The layer that draws error pages with the site's templates.
pub(super) async fn render(
    axum::extract::State(web): axum::extract::State<std::sync::Arc<super::Web>>,
    response: Response,
) -> Response {
    match response.extensions().get::<ErrorPage>().cloned() {
        Some(page) => {
            let status = response.status();
            let mut drawn = web.error_page(status, page.title, &page.message);
            // Cookies set on the way (a fresh CSRF cookie) still reach the browser.
            for cookie in response
                .headers()
                .get_all(axum::http::header::SET_COOKIE)
                .iter()
            {
                drawn
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, cookie.clone());
            }
            drawn
        }
        None => response,
    }
}
