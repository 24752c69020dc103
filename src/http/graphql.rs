//! `/graphql`, GraphQL over HTTP: `POST` with a JSON body, or `GET` with the parameters in the
//! query string (queries only). Both go through one path, [`run`]: the same query limits,
//! authentication, tenant budget and error codes. The response type follows `Accept`
//! (`media`); a browser's `GET` without a query gets GraphiQL.
use std::time::Instant;

use async_graphql::Value;
use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::errors::error_body;
use super::media::{self, MediaType};
use super::params::{self, Malformed};
use super::rate_limit::{Authenticated, credential_of};
use crate::accounts::api_keys;
use crate::graphql::{Credential, Exchange, RootField};
use crate::state::AppState;

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

pub async fn post(
    State(s): State<HttpState>,
    checked: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(media) = media::negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err(message) = media::require_json(&headers) {
        return refuse(media, StatusCode::UNSUPPORTED_MEDIA_TYPE, &message, None);
    }
    let limit = s.app.config.body_limit_bytes;
    let Ok(bytes) = to_bytes(body, limit).await else {
        let message = format!("request body is larger than {limit} bytes");
        return refuse(media, StatusCode::PAYLOAD_TOO_LARGE, &message, None);
    };
    match params::from_body(&bytes).and_then(params::Params::into_request) {
        Ok(request) => {
            let credential = credential_of(&s, checked, &headers).await;
            run(
                &s,
                credential,
                media,
                request,
                Exchange::read_write(),
                started,
            )
            .await
        }
        Err(m) => malformed(media, m),
    }
}

pub async fn get(
    State(s): State<HttpState>,
    checked: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let started = Instant::now();
    let params = params::from_uri(&uri);
    if matches!(&params, Ok(p) if p.query.is_none()) && media::wants_html(&headers) {
        return super::graphiql::page(&s);
    }
    let Some(media) = media::negotiate(&headers) else {
        return not_acceptable();
    };
    let params = match params {
        Ok(p) => p,
        Err(m) => return malformed(media, m),
    };
    let exchange = Exchange::read_only(params.operation_name.clone());
    match params.into_request() {
        Ok(request) => {
            let credential = credential_of(&s, checked, &headers).await;
            run(&s, credential, media, request, exchange, started).await
        }
        Err(m) => malformed(media, m),
    }
}

/// A refusal before GraphQL: the error shape, in the negotiated type.
fn refuse(media: MediaType, status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let mut body = error_body("VALIDATION", message);
    if let Some(field) = field {
        body["errors"][0]["extensions"]["field"] = field.into();
    }
    respond(media, status, &body)
}

fn malformed(media: MediaType, m: Malformed) -> Response {
    refuse(media, StatusCode::BAD_REQUEST, &m.message, m.field)
}

fn not_acceptable() -> Response {
    let body = error_body(
        "VALIDATION",
        "this endpoint answers 'application/graphql-response+json' or 'application/json': \
         accept one of them",
    );
    respond(MediaType::Json, StatusCode::NOT_ACCEPTABLE, &body)
}

fn respond(media: MediaType, status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.header_value());
    headers.append(header::VARY, HeaderValue::from_static("accept"));
    // Answers carry one caller's billing data, and a GET could otherwise be cached.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Executes one request, from either method, and answers it.
///
/// A request error (not parsed, not valid, over a limit) has no `data`. Under
/// `application/json` it answers 200, as legacy clients expect; under
/// `application/graphql-response+json` it answers 400, or 429 when the tenant's budget is
/// spent. A mutation sent with `GET` answers 405 under either. Once execution starts the
/// answer is 200, whatever errors the fields raise.
async fn run(
    s: &HttpState,
    credential: Credential,
    media: MediaType,
    request: async_graphql::Request,
    exchange: Exchange,
    started: Instant,
) -> Response {
    let root = RootField::default();
    let request = request
        .data(credential)
        .data(root.clone())
        .data(exchange.clone())
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
    let first = response.errors.first().and_then(|e| e.extensions.as_ref());
    let code = first.and_then(|e| match e.get("code") {
        Some(Value::String(code)) => Some(code.clone()),
        _ => None,
    });
    let retry_after = first.and_then(|e| match e.get("retryAfterSeconds") {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    });
    let outcome = code.as_deref().map_or("ok".into(), str::to_lowercase);
    let operation = root.get().unwrap_or_else(|| "invalid".into());
    let labels = [operation.as_str(), outcome.as_str()];
    let metrics = &s.app.metrics;
    metrics.graphql_requests.with_label_values(&labels).inc();
    metrics
        .graphql_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());

    let executed = exchange.executed();
    let status = if exchange.mutation_refused() {
        StatusCode::METHOD_NOT_ALLOWED
    } else if executed || media == MediaType::Json {
        StatusCode::OK
    } else if code.as_deref() == Some("RATE_LIMITED") {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut body = match serde_json::to_value(&response) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a GraphQL response could not be written as JSON");
            let body = error_body("INTERNAL", "internal error");
            return respond(media, StatusCode::INTERNAL_SERVER_ERROR, &body);
        }
    };
    if !executed && let Some(fields) = body.as_object_mut() {
        fields.remove("data");
    }
    let mut answer = respond(media, status, &body);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        answer
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if let (StatusCode::TOO_MANY_REQUESTS, Some(wait)) = (status, retry_after) {
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, wait.into());
    }
    answer
}
