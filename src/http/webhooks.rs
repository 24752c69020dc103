//! `POST /webhooks/stripe`: Stripe's events. The body is read within the body limit and handed
//! over as received: the signature covers those exact bytes. A missing, bad or stale signature
//! is 400 and changes nothing; an event that could not be acted on is 500, so Stripe delivers it
//! again; anything else is 200, including event types we do not act on.
use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::HttpState;
use super::errors::error_response;
use crate::collection;
use crate::error::{ConflictReason, Error};

pub async fn stripe(State(s): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let Ok(bytes) = to_bytes(body, s.app.config.body_limit_bytes).await else {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "VALIDATION",
            "the event is too large",
        );
    };
    let Ok(payload) = std::str::from_utf8(&bytes) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION",
            "the event is not UTF-8",
        );
    };
    let Some(signature) = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION",
            "the Stripe-Signature header is missing",
        );
    };
    match collection::receive_stripe_event(&s.app, payload, signature).await {
        Ok(event) => Json(
            json!({ "received": true, "id": event.event_ref, "status": event.status.as_str() }),
        )
        .into_response(),
        Err(Error::Validation { message, .. }) => {
            error_response(StatusCode::BAD_REQUEST, "VALIDATION", &message)
        }
        // Without Stripe configured the endpoint does not exist.
        Err(Error::Conflict {
            reason: ConflictReason::ProviderNotConfigured,
            message,
        }) => error_response(StatusCode::NOT_FOUND, "NOT_FOUND", &message),
        // Anything else that conflicted (a concurrent update) is worth delivering again.
        Err(e @ Error::Conflict { .. }) => {
            error_response(StatusCode::CONFLICT, e.code(), &e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e.cause_chain(), location = ?e.location(), "Stripe event not processed");
            let status = if e.code() == "UNAVAILABLE" {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            error_response(
                status,
                e.code(),
                "the event could not be processed; deliver it again",
            )
        }
    }
}
