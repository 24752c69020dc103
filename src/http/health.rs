use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::HttpState;
use super::errors::error_body;
use crate::cache::CacheHealth;

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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.app.metrics.render(),
    )
}
