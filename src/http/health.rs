use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::HttpState;
use super::errors::error_body;
use crate::cache::CacheError;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// How long readiness waits for each dependency: a probe must hear 503 within 2 s when the
/// database is away, not hang until the request timeout.
const READY_WITHIN: Duration = Duration::from_millis(1500);

/// Readiness: the database answers, and Redis too when it is configured, both within
/// [`READY_WITHIN`]. Not ready is a 503 whose body says which part failed and carries an
/// `UNAVAILABLE` error like every other HTTP error.
pub async fn ready(State(s): State<HttpState>) -> impl IntoResponse {
    let (db, cache) = tokio::join!(s.app.ping_database(READY_WITHIN), async {
        tokio::time::timeout(READY_WITHIN, s.app.cache.ping())
            .await
            .unwrap_or_else(|_| Err(CacheError("no answer in time".into())))
    });
    let ok = db.is_ok() && cache.is_ok();
    let mut body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "cache": { "backend": s.app.cache.backend(), "status": if cache.is_ok() { "ok" } else { "unavailable" } },
    });
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unavailable");
    }
    if let Err(e) = &cache {
        tracing::warn!(error = %e, "readiness: cache unavailable");
    }
    if ok {
        return (StatusCode::OK, Json(body));
    }
    let failed = match (db.is_ok(), cache.is_ok()) {
        (false, false) => "the database and the cache are unavailable",
        (false, true) => "the database is unavailable",
        _ => "the cache is unavailable",
    };
    body["errors"] = error_body("UNAVAILABLE", failed)["errors"].clone();
    (StatusCode::SERVICE_UNAVAILABLE, Json(body))
}

pub async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    render_metrics(&s.app).await
}

/// `/metrics` on its own listener (`BILLING_METRICS_LISTEN`).
pub async fn metrics_only(State(app): State<AppState>) -> impl IntoResponse {
    render_metrics(&app).await
}

/// The gauges read from the database are refreshed first; if the database does not answer,
/// the process's own metrics are still served (with the gauges as last read) and the failure
/// is logged.
async fn render_metrics(app: &AppState) -> impl IntoResponse + use<> {
    let refreshed = match tokio::time::timeout(READY_WITHIN, crate::jobs::refresh_gauges(app)).await
    {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e.cause_chain(), "metrics: gauges not refreshed");
            false
        }
        Err(_) => {
            tracing::warn!("metrics: gauges not refreshed in time");
            false
        }
    };
    let cache = tokio::time::timeout(READY_WITHIN, app.cache.ping()).await;
    let ready = refreshed && matches!(cache, Ok(Ok(_)));
    app.metrics.ready.set(i64::from(ready));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
