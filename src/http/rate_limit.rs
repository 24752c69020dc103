//! Rate limits on `/graphql` (the only route they apply to: `/health`, `/ready`, `/metrics`,
//! `/webhooks/stripe` and the jobs route are exempt by construction). The caller is identified
//! here once: by API key, by user (the token's tenant and subject), or by IP without a valid credential;
//! the credential is handed on to the GraphQL handler so it is not checked twice. A refusal is
//! `RATE_LIMITED` with `retryAfterSeconds`, HTTP 429, `Retry-After`, and the IETF draft's
//! `RateLimit-Policy` / `RateLimit` headers, which allowed answers carry too.
use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::errors::error_body;
use crate::accounts::rate_limits;
use crate::cache::rate_limit::{Decision, Rate};
use crate::graphql::Credential;

/// The credential the rate limit checked, for the GraphQL handler.
#[derive(Clone)]
pub struct Authenticated(pub Credential);

pub async fn limit(State(s): State<HttpState>, mut req: Request, next: Next) -> Response {
    let credential = super::graphql::authenticate(&s.app, req.headers()).await;
    let config = &s.app.config;
    let decision = if config.rate_limit_per_minute == 0 {
        None
    } else {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        let (who, actor) = match &credential {
            Credential::Valid(a) => match a.api_key {
                Some(key) => (format!("key:{key}"), Some(a)),
                // A subject is unique within its issuer's tenant, not across tenants.
                None => match a.tenant {
                    Some(t) => (format!("user:{t}:{}", a.subject), Some(a)),
                    None => (format!("user:operator:{}", a.subject), None),
                },
            },
            _ => (format!("ip:{peer}"), None),
        };
        let rate = rate_limits::rate_for(&s.app, actor).await;
        Some((s.app.rate_limits.check(&who, rate).await, rate))
    };
    if let Some((d, rate)) = decision
        && !d.allowed
    {
        let wait = d.retry_after_seconds;
        let mut body = error_body(
            "RATE_LIMITED",
            &format!("too many requests; retry in {wait} s"),
        );
        body["errors"][0]["extensions"]["retryAfterSeconds"] = wait.into();
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, wait.into());
        set_headers(headers, &d, rate);
        return response;
    }
    req.extensions_mut().insert(Authenticated(credential));
    let mut response = next.run(req).await;
    if let Some((d, rate)) = decision {
        set_headers(response.headers_mut(), &d, rate);
    }
    response
}

/// `RateLimit-Policy: "default";q=<burst>;w=<seconds to refill it>` and
/// `RateLimit: "default";r=<remaining>;t=<seconds until full>` (draft-ietf-httpapi-ratelimit-headers).
fn set_headers(headers: &mut HeaderMap, d: &Decision, rate: Rate) {
    let window = (rate.burst * 60).div_ceil(rate.per_minute.max(1)).max(1);
    let policy = format!("\"default\";q={};w={window}", rate.burst);
    let now = format!("\"default\";r={};t={}", d.remaining, d.reset_seconds);
    if let Ok(v) = HeaderValue::from_str(&policy) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&now) {
        headers.insert("ratelimit", v);
    }
}

/// The credential checked by [`limit`], or a fresh check when the middleware did not run.
pub async fn credential_of(
    s: &HttpState,
    checked: Option<Extension<Authenticated>>,
    headers: &HeaderMap,
) -> Credential {
    match checked {
        Some(Extension(Authenticated(c))) => c,
        None => super::graphql::authenticate(&s.app, headers).await,
    }
}
