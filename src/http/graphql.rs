//! `POST /graphql`: reads the body within the limit, authenticates, executes, and makes sure
//! every error carries an `extensions.code`.
use std::time::Instant;

use async_graphql::Value;
use async_graphql::http::GraphiQLSource;
use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::HttpState;
use super::errors::error_response;
use crate::accounts::api_keys;
use crate::graphql::{Credential, RootField};
use crate::state::AppState;

pub async fn graphiql(State(s): State<HttpState>) -> Response {
    if !s.app.config.graphiql_enabled() {
        return (StatusCode::NOT_FOUND, "GraphiQL is disabled").into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}

/// Decides who is calling. A bad credential is remembered, not rejected here, so that the
/// resolvers that need a caller answer `UNAUTHENTICATED` and `login` still works.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Credential {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credential::Missing;
    };
    // The scheme name is case-insensitive (RFC 7235).
    let Some(token) = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return Credential::Invalid("Authorization must be 'Bearer <token or API key>'".into());
    };
    let result = if token.starts_with(api_keys::PREFIX) {
        api_keys::authenticate(state, token).await
    } else {
        state.auth.verify(token)
    };
    match result {
        Ok(actor) => Credential::Valid(actor),
        Err(crate::error::Error::Unauthenticated(why)) => Credential::Invalid(why),
        Err(e @ crate::error::Error::Unavailable { .. }) => {
            tracing::warn!(error = %e.cause_chain(), location = ?e.location(), "credential not checked: database unavailable");
            Credential::Unavailable
        }
        Err(e) => {
            tracing::error!(error = %e.cause_chain(), location = ?e.location(), "authentication failed unexpectedly");
            Credential::Invalid("credential could not be checked".into())
        }
    }
}

pub async fn execute(State(s): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let bytes = match to_bytes(body, s.app.config.body_limit_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "VALIDATION",
                &format!(
                    "request body is larger than {} bytes",
                    s.app.config.body_limit_bytes
                ),
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("body is not a GraphQL request: {e}"),
            );
        }
    };
    let credential = authenticate(&s.app, &headers).await;
    let root = RootField::default();
    let request = request
        .data(credential)
        .data(root.clone())
        .data(crate::graphql::RequestTenant::default());
    let mut response = s.schema.execute(request).await;
    for err in &mut response.errors {
        // Errors from our services carry a code; the ones without come from parsing and
        // validating the request itself (syntax, unknown fields, limits, bad argument values).
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", "VALIDATION");
        }
    }
    let outcome = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|e| match e.get("code") {
            Some(Value::String(code)) => Some(code.to_lowercase()),
            _ => None,
        })
        .unwrap_or_else(|| "ok".into());
    let operation = root.get().unwrap_or_else(|| "invalid".into());
    let labels = [operation.as_str(), outcome.as_str()];
    s.app
        .metrics
        .graphql_requests
        .with_label_values(&labels)
        .inc();
    s.app
        .metrics
        .graphql_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    Json(response).into_response()
}
