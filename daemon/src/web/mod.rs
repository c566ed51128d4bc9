//! The web door. For now it answers health checks; the OIDC provider and login pages join it.

use crate::context::Context;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(ctx)
}

/// Healthy when the store answers a read. Says nothing else about the deployment.
async fn healthz(State(ctx): State<Arc<Context>>) -> impl IntoResponse {
    let (status, text) = match ctx.store.site_settings() {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: store read failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "status": text })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn healthz_answers_ok_when_the_store_reads() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Arc::new(Context::for_tests(dir.path()));
        let response = router(ctx)
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }
}
