//! The routes (`/graphql`, GraphiQL, health, readiness, metrics, jobs) and the HTTP stack:
//! CORS, body limit, timeout, request ids, tracing, JSON error bodies, and the connection loop
//! with its limits (`serve`).
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::graphql::BillingSchema;
use crate::state::AppState;

mod errors;
mod graphiql;
mod graphql;
mod health;
mod jobs;
mod media;
mod params;
mod pdf;
mod rate_limit;
mod serve;
mod webhooks;
mod ws;

pub use serve::{Limits, serve};

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: BillingSchema,
}

/// The router of the metrics listener (`BILLING_METRICS_LISTEN`): `/metrics` only.
pub fn metrics_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics_only))
        .with_state(app)
}

pub fn router(app: AppState, schema: BillingSchema) -> Router {
    let config = app.config.clone();
    let state = HttpState { app, schema };
    let request_id = HeaderName::from_static("x-request-id");
    let mut router = Router::new()
        // Rate limits apply here only; every other route is exempt.
        .route(
            "/graphql",
            get(graphql::get)
                .post(graphql::post)
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    rate_limit::limit,
                )),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/jobs/process-billing", post(jobs::process_billing))
        .route("/webhooks/stripe", post(webhooks::stripe))
        .route("/invoices/{id}/pdf", get(pdf::invoice))
        .route("/credit-notes/{id}/pdf", get(pdf::credit_note));
    // With a metrics listener of its own, the public port does not serve `/metrics`.
    if config.metrics_listen.is_none() {
        router = router.route("/metrics", get(health::metrics));
    }
    let mut router = router
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(config.request_timeout_seconds),
            errors::timeout,
        ))
        .layer(middleware::from_fn(errors::json_errors))
        // Outside the timeout, so that requests that time out are counted too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    let origins: Vec<HeaderValue> = config
        .cors_origin_list()
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if !origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                ])
                .max_age(Duration::from_secs(600)),
        );
    }
    router.with_state(state)
}

/// The span every request runs in. It carries the request id (the caller's `x-request-id`, or
/// a fresh UUID), so whatever is logged while serving the request, in this span or one nested
/// in it, can be traced back to the response that carried the same header.
fn request_span(req: &Request) -> tracing::Span {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        uri = %req.uri(),
        version = ?req.version(),
        request_id,
    )
}

async fn count_requests(State(state): State<HttpState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    state
        .app
        .metrics
        .http_requests
        .with_label_values(&[
            method.as_str(),
            endpoint.as_str(),
            response.status().as_str(),
        ])
        .inc();
    response
}
