//! Error bodies outside GraphQL: every HTTP error (408, 413, 429, 503, ...) answers with the
//! GraphQL error shape, `{"errors":[{"message":..,"extensions":{"code":..}}]}`, so that a client
//! reads one format and one list of codes whatever refused it.
use std::time::Duration;

use axum::Json;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The body of an error with `code` (README "Errors").
pub fn error_body(code: &str, message: &str) -> Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body(code, message))).into_response()
}

/// The code an HTTP error status stands for, when nothing more precise said it.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        408 | 502 | 503 | 504 => "UNAVAILABLE",
        429 => "RATE_LIMITED",
        400..=499 => "VALIDATION",
        _ => "INTERNAL",
    }
}

/// Requests running longer than `limit` get HTTP 408 with an `UNAVAILABLE` error: the server
/// could not answer in time, and the client may retry.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => error_response(
            StatusCode::REQUEST_TIMEOUT,
            "UNAVAILABLE",
            &format!(
                "the request did not finish within {} s; retry later",
                limit.as_secs()
            ),
        ),
    }
}

/// Rewrites an error response that is not JSON yet (axum's 404 and 405, a plain-text refusal)
/// into the JSON error shape, keeping a short text body as the message.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/graphql-response+json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = text.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase()
    });
    let mut rewritten = error_response(status, code_for(status), &message);
    // Keep what the stack already said (request id, CORS, Allow on a 405), but not the length
    // or type of the body it replaced.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name.clone(), value.clone());
        }
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn body_of(response: Response) -> Value {
        let bytes = to_bytes(response.into_body(), 4096).await.expect("body");
        serde_json::from_slice(&bytes).expect("a JSON body")
    }

    #[tokio::test]
    async fn plain_error_responses_become_json_errors_with_a_code() {
        let app = Router::new()
            .route(
                "/limited",
                get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }),
            )
            .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route("/fine", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(json_errors));
        let call = |path: &'static str| {
            app.clone().oneshot(
                Request::get(path)
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
        };

        let limited = call("/limited").await.expect("infallible");
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let body = body_of(limited).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        assert_eq!(body["errors"][0]["message"], "slow down");

        let down = body_of(call("/down").await.expect("infallible")).await;
        assert_eq!(down["errors"][0]["extensions"]["code"], "UNAVAILABLE");
        assert_eq!(down["errors"][0]["message"], "service unavailable");

        let fine = call("/fine").await.expect("infallible");
        assert_eq!(fine.status(), StatusCode::OK);
        let bytes = to_bytes(fine.into_body(), 64).await.expect("body");
        assert_eq!(&bytes[..], b"ok");
    }
}
