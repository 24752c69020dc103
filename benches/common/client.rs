//! One GraphQL request of a benchmark client, its answer or why it failed.
use serde_json::Value;

/// A request that failed as a whole.
pub struct Failed {
    pub message: String,
    /// The HTTP status was 5xx.
    pub server_error: bool,
}

/// Posts a JSON body to the GraphQL endpoint with `token`; returns `data` when the answer
/// has no errors.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<Value, Failed> {
    let fail = |message: String, server_error: bool| Failed {
        message,
        server_error,
    };
    let resp = http
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| fail(format!("transport error: {e}"), false))?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| {
        fail(
            format!("HTTP {status}, unreadable body: {e}"),
            status.is_server_error(),
        )
    })?;
    if let Some(errors) = v.get("errors").filter(|e| !e.is_null()) {
        let first = &errors[0];
        return Err(fail(
            format!(
                "HTTP {status}, {}: {}",
                first["extensions"]["code"].as_str().unwrap_or("no code"),
                first["message"].as_str().unwrap_or("no message"),
            ),
            status.is_server_error(),
        ));
    }
    if !status.is_success() {
        return Err(fail(
            format!("HTTP {status} without GraphQL errors"),
            status.is_server_error(),
        ));
    }
    Ok(v["data"].clone())
}
