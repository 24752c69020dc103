//! `POST /jobs/process-billing`: an external cron charges the pending deferred usage. The
//! bearer secret is compared in constant time; without a configured secret the route does not
//! exist.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::HttpState;
use super::errors::error_body;
use crate::credits;

pub async fn process_billing(
    State(s): State<HttpState>,
    headers: HeaderMap,
) -> (StatusCode, Json<serde_json::Value>) {
    let Some(secret) = s
        .app
        .config
        .cron_secret
        .as_ref()
        .filter(|x| !x.expose().is_empty())
    else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let ok: bool = given.as_bytes().ct_eq(secret.expose().as_bytes()).into();
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a valid cron secret is required",
        );
    }
    match credits::process_due(&s.app).await {
        Ok(r) => (
            StatusCode::OK,
            Json(json!({
                "charged": r.charged,
                "failed": r.failed,
                "skipped": r.skipped,
                "creditsCharged": r.credits_charged.to_string(),
            })),
        ),
        Err(e) => {
            tracing::error!(error = %e.cause_chain(), location = ?e.location(), "deferred billing run failed");
            let (status, message) = match e.code() {
                "UNAVAILABLE" => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                ),
            };
            error(status, e.code(), &message)
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(error_body(code, message)))
}
