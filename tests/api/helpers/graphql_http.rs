//! Raw calls to `/graphql` for the GraphQL-over-HTTP tests: any method, `Accept`, body or
//! query string, answered with status, headers and JSON body.
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use super::TestApp;

pub const GQL_RESPONSE: &str = "application/graphql-response+json";

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("")
    }
}

pub async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {status}: body is not JSON ({e}): {text}"));
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST /graphql` with a raw body, an optional `Accept` and bearer.
pub async fn post_graphql(
    app: &TestApp,
    accept: Option<&str>,
    bearer: Option<&str>,
    body: &str,
) -> Answer {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    if let Some(a) = accept {
        req = req.header(ACCEPT, a);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    answer(req).await
}

/// `GET /graphql` with `params` in the query string.
pub async fn get_graphql(
    app: &TestApp,
    accept: Option<&str>,
    bearer: Option<&str>,
    params: &[(&str, &str)],
) -> Answer {
    let mut req = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params);
    if let Some(a) = accept {
        req = req.header(ACCEPT, a);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    answer(req).await
}

pub fn query_body(q: &str) -> String {
    json!({ "query": q }).to_string()
}
