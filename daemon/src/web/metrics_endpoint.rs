//! `/metrics` on its own listener, and the middleware that times the web door's requests.

use crate::context::Context;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
) {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .with_state(ctx);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the metrics listener failed");
    }
}

async fn metrics(State(ctx): State<Arc<Context>>) -> Response {
    let users = match ctx.store.user_count().await {
        Ok(users) => users,
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot read the user count");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        ctx.metrics.render(users),
    )
        .into_response()
}

/// Times each web request under its route pattern; unmatched paths share one label, so a
/// scanner cannot create new series.
pub async fn time_requests(
    State(web): State<Arc<super::Web>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| route_label(path.as_str()))
        .unwrap_or("unmatched");
    let started = Instant::now();
    let response = next.run(request).await;
    web.ctx
        .metrics
        .http_request(route, response.status().as_u16(), started.elapsed());
    response
}

/// Label values must be `'static`: the router's routes, named once.
fn route_label(path: &str) -> &'static str {
    const ROUTES: &[&str] = &[
        "/healthz",
        "/static/postern.css",
        "/",
        "/login",
        "/account",
        "/.well-known/openid-configuration",
        "/jwks",
        "/authorize",
        "/token",
        "/userinfo",
        "/revoke",
        "/introspect",
        "/logout",
    ];
    ROUTES
        .iter()
        .copied()
        .find(|route| *route == path)
        .unwrap_or("other")
}
