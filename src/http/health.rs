use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::HttpState;
use super::errors::error_body;
use crate::cache::CacheHealth;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// How long readiness waits for each dependency: a probe must hear 503 within 2 s when the
/// database is away, not hang until the request timeout.
const READY_WITHIN: Duration = Duration::from_millis(1500);

/// Readiness: the database answers within [`READY_WITHIN`], else 503 with a body that says so
/// and carries an `UNAVAILABLE` error like every other HTTP error. Redis is not required:
/// without it billing goes on (in-process cache, counters and rate limits), so a Redis that does
/// not answer is reported as `"cache": {"status": "degraded"}` with a 200.
pub async fn ready(State(s): State<HttpState>) -> impl IntoResponse {
    let (db, cache) = tokio::join!(
        s.app.ping_database(READY_WITHIN),
        s.app.cache.health(READY_WITHIN)
    );
    let degraded = cache == CacheHealth::Degraded;
    let mut body = json!({
        "status": match (db.is_ok(), degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ok",
        },
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "cache": {
            "backend": s.app.cache.backend(),
            "status": if degraded { "degraded" } else { "ok" },
        },
    });
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unavailable");
        body["errors"] = error_body("UNAVAILABLE", "the database is unavailable")["errors"].clone();
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    (StatusCode::OK, Json(body))
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
    // Ready as `/ready` means it: the database answers. A Redis that is away only degrades
    // (README "When Redis fails"), so it does not count here.
    app.metrics.ready.set(i64::from(refreshed));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
