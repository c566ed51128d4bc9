//! Security headers on every response: no framing, no sniffing, no referrer, a strict content
//! security policy, `Cache-Control: no-store` unless a handler chose otherwise, and, when the
//! issuer is https, `Strict-Transport-Security`, so a browser that once reached Postern never
//! again sends its cookies or a password over plain http.

use super::Web;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// A year, as browsers' preload lists expect. No `includeSubDomains`: other sites under the
/// same domain are not Postern's to decide for.
const HSTS: &str = "max-age=31536000";

/// Scripts only from Postern itself (the passkey forms' one file), never inline.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

pub async fn security_headers(
    State(web): State<Arc<Web>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if web.ctx.config.secure_cookies() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
