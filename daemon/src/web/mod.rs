//! The web door: sign-in pages and the OIDC endpoints, over one axum router. Handlers turn HTTP
//! into engine calls and engine results into pages, redirects or JSON; they decide no policy.

mod account;
mod approve;
mod client_addr;
mod consent;
pub mod cookies;
mod csrf;
mod forgot;
mod headers;
pub mod http_server;
mod login;
pub mod metrics_endpoint;
pub mod oidc;
mod page_error;
mod pages;
pub mod session;
mod welcome;

pub use client_addr::client_addr;
pub use consent::ask_consent;
pub use csrf::{FormGuard, check as check_csrf, guard as form_guard};
pub use login::{start_sign_in, step_up};
pub use page_error::PageError;
pub use pages::Pages;

use crate::context::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use std::sync::Arc;

/// Forms and token requests are small; anything larger is refused before it is read.
const MAX_BODY: usize = 64 * 1024;

/// What the web handlers share.
#[derive(Debug)]
pub struct Web {
    pub ctx: Arc<Context>,
    /// Replaced whole on a reload; each request renders with the set it took.
    pages: std::sync::RwLock<Arc<Pages>>,
    /// Cookie names and flags: `__Host-` and Secure when the issuer is https.
    pub cookies: cookies::Cookies,
    csrf_key: [u8; 32],
    /// The discovery document, built at its first request.
    pub(crate) discovery_document: std::sync::OnceLock<Result<String, String>>,
}

impl Web {
    pub fn new(ctx: Arc<Context>) -> Result<Self, String> {
        let pages = Pages::load(&ctx.config.templates_dir)?;
        let csrf_key = ctx.master_key.derive("csrf");
        Ok(Self {
            cookies: cookies::Cookies::new(ctx.config.secure_cookies()),
            ctx,
            pages: std::sync::RwLock::new(Arc::new(pages)),
            csrf_key,
            discovery_document: std::sync::OnceLock::new(),
        })
    }

    /// The templates and static files pages are made from.
    pub fn pages(&self) -> Arc<Pages> {
        self.pages
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Loads the templates from `templates_dir` again; on failure the current ones stay.
    pub fn reload_pages(&self, templates_dir: &std::path::Path) -> Result<(), String> {
        let loaded = Arc::new(Pages::load(templates_dir)?);
        *self
            .pages
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        Ok(())
    }

    /// Renders a page; a template failure becomes a plain 500, and the detail goes to the log.
    pub fn page(&self, status: StatusCode, name: &str, context: &tera::Context) -> Response {
        match self.pages().render(name, context) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "page rendering failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    pub fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response {
        let mut context = tera::Context::new();
        context.insert("title", title);
        context.insert("message", message);
        self.page(status, "error.html", &context)
    }
}

/// Adds `Set-Cookie` headers to a response.
pub fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A 303 to `location` (after a POST, the browser follows with a GET).
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

pub fn router(web: Arc<Web>) -> Router {
    let timing = middleware::from_fn_with_state(web.clone(), metrics_endpoint::time_requests);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/static/postern.css", get(stylesheet))
        .route("/static/passkey.js", get(passkey_script))
        .route("/", get(login::home))
        .route("/login", get(login::show).post(login::submit))
        .route("/account", get(account::show).post(account::submit))
        .route("/approve", get(approve::show).post(approve::submit))
        .route("/welcome", get(welcome::show).post(welcome::submit))
        .route("/forgot", get(forgot::show).post(forgot::submit))
        .merge(oidc::routes())
        .route_layer(timing)
        .layer(middleware::map_response_with_state(
            web.clone(),
            page_error::render,
        ))
        .layer(middleware::from_fn_with_state(
            web.clone(),
            headers::security_headers,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(web)
}

/// Healthy when the store answers a read and can take writes. Says nothing else about the
/// deployment.
async fn healthz(State(web): State<Arc<Web>>) -> Response {
    let store = &web.ctx.store;
    let answered = match store.site_settings().await {
        Ok(_) => store.writable().await,
        Err(e) => Err(e),
    };
    let (status, text) = match answered {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: store read failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    (status, Json(serde_json::json!({ "status": text }))).into_response()
}

async fn passkey_script(State(web): State<Arc<Web>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        web.pages().passkey_script.clone(),
    )
        .into_response()
}

async fn stylesheet(State(web): State<Arc<Web>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        web.pages().stylesheet.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn app() -> (tempfile::TempDir, Router) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Arc::new(Context::for_tests(dir.path()).await);
        let web = Arc::new(Web::new(ctx).unwrap());
        (dir, router(web))
    }

    #[tokio::test]
    async fn healthz_answers_ok_with_security_headers() {
        let (_dir, app) = app().await;
        let response = app
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }

    #[tokio::test]
    async fn a_page_error_is_drawn_with_the_site_templates_and_keeps_its_status() {
        let (_dir, app) = app().await;
        let response = app
            .oneshot(
                Request::get("/login?flow=no-such-flow")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("This sign-in has expired"), "{html}");
        assert!(
            html.contains("/static/postern.css"),
            "the site's layout: {html}"
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused() {
        let (_dir, app) = app().await;
        let body = "x=".to_owned() + &"a".repeat(MAX_BODY + 1);
        let mut request = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
