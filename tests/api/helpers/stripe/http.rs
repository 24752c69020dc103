//! The HTTP side of the Stripe server: authentication, form bodies, recording, idempotency
//! keys and queued answers around the endpoint logic in `routes`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::objects::{self, Params, error_body};
use super::routes::{self, Reply};
use super::server::{RecordedRequest, Saved, Shared, StripeAnswer, StripeEndpoint};

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut params = parse_form(uri.query().unwrap_or(""));
    params.extend(parse_form(&String::from_utf8_lossy(&body)));
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let key = header_text("idempotency-key").map(str::to_string);
    let bearer = header_text(header::AUTHORIZATION.as_str());
    let authorized =
        bearer.and_then(|b| b.strip_prefix("Bearer ")) == Some(shared.secret_key.as_str());
    let request = RecordedRequest {
        method: method.to_string(),
        path,
        params,
        idempotency_key: key,
        authorized,
        at: SystemTime::now(),
        status: 0,
        replayed: false,
    };
    let ((status, body), replayed, hang) = if authorized {
        answer(&shared, &request)
    } else {
        (unauthorized(bearer), false, None)
    };
    shared.lock().requests.push(RecordedRequest {
        status: status.as_u16(),
        replayed,
        ..request
    });
    if let Some(delay) = hang {
        tokio::time::sleep(delay).await;
    }
    let extra: &[_] = if replayed {
        &[("idempotent-replayed", "true")]
    } else {
        &[]
    };
    reply((status, body), extra)
}

/// The reply, whether it replays a saved one, and how long to hold it back.
fn answer(shared: &Shared, request: &RecordedRequest) -> (Reply, bool, Option<Duration>) {
    let RecordedRequest {
        method,
        path,
        params,
        ..
    } = request;
    let post = method == "POST";
    // Keys are scoped to the account's secret key; Stripe only honours them on POST.
    let slot = request
        .idempotency_key
        .clone()
        .filter(|_| post)
        .map(|k| (shared.secret_key.clone(), k));
    let fingerprint = (method.clone(), path.clone(), params.clone());
    let mut inner = shared.lock();
    if let Some(slot) = &slot
        && let Some(saved) = inner.saved.get(slot)
    {
        if saved.request == fingerprint {
            return ((saved.status, saved.body.clone()), true, None);
        }
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
            slot.1
        );
        let body = error_body("idempotency_error", None, &message, None);
        return ((StatusCode::BAD_REQUEST, body), false, None);
    }
    let confirming = post
        && path.starts_with("/v1/payment_intents")
        && (path.ends_with("/confirm") || params.get("confirm").is_some_and(|c| c == "true"));
    let answer = StripeEndpoint::of(path).and_then(|endpoint| {
        let queue = inner.answers.get_mut(&endpoint)?;
        // A decline or 3-D Secure waits for a request that confirms a payment.
        let applies = match queue.front()? {
            StripeAnswer::Decline { .. } | StripeAnswer::RequiresAction => confirming,
            _ => true,
        };
        if applies { queue.pop_front() } else { None }
    });
    let (hang, answer) = match answer {
        Some(StripeAnswer::Hang(delay)) => (Some(delay), None),
        other => (None, other),
    };
    let (status, body) = match answer {
        Some(StripeAnswer::ServerError) => {
            let message = "An unknown error occurred";
            let body = error_body("api_error", None, message, None);
            (StatusCode::INTERNAL_SERVER_ERROR, body)
        }
        Some(StripeAnswer::Refuse(code)) => {
            let message = format!("The request was refused: {code}.");
            let body = error_body("invalid_request_error", Some(code), &message, None);
            (StatusCode::BAD_REQUEST, body)
        }
        Some(StripeAnswer::RateLimited) => {
            let message = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.";
            let body = error_body("invalid_request_error", Some("rate_limit"), message, None);
            (StatusCode::TOO_MANY_REQUESTS, body)
        }
        other => {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or_default();
            let (status, body) = routes::route(&mut inner.store, &method, path, params, other);
            (status, routes::expand(&inner.store, body, params))
        }
    };
    // Stripe saves the result of a request that ran, success or decline; not one rejected
    // before it ran (bad params, rate limit, a 500).
    if let Some(slot) = slot
        && (status.is_success() || status == StatusCode::PAYMENT_REQUIRED)
    {
        let saved = Saved {
            request: fingerprint,
            status,
            body: body.clone(),
        };
        inner.saved.insert(slot, saved);
    }
    ((status, body), false, hang)
}

fn unauthorized(bearer: Option<&str>) -> Reply {
    let message = match bearer.and_then(|b| b.strip_prefix("Bearer ")) {
        Some(key) => {
            let tail = key.get(key.len().saturating_sub(4)..).unwrap_or("");
            format!("Invalid API Key provided: sk_test_****{tail}")
        }
        None => "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".to_string(),
    };
    (
        StatusCode::UNAUTHORIZED,
        error_body("invalid_request_error", None, &message, None),
    )
}

fn reply((status, body): Reply, extra: &[(&'static str, &'static str)]) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&objects::stripe_id("req")) {
        headers.insert("request-id", id);
    }
    for (name, value) in extra {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    response
}

/// `application/x-www-form-urlencoded` into flat pairs; later duplicates win.
pub fn parse_form(input: &str) -> Params {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
