//! One GraphQL request of a benchmark client, its answer or why it failed.
use serde_json::Value;

/// A request that failed as a whole.
pub struct Failed {
    pub message: String,
    /// The HTTP status was 5xx.
    pub server_error: bool,
    /// The first GraphQL error's `extensions.code`.
    pub code: Option<String>,
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
        code: None,
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
        let code = first["extensions"]["code"].as_str();
        return Err(Failed {
            message: format!(
                "HTTP {status}, {}: {}",
                code.unwrap_or("no code"),
                first["message"].as_str().unwrap_or("no message"),
            ),
            server_error: status.is_server_error(),
            code: code.map(str::to_owned),
        });
    }
    if !status.is_success() {
        return Err(fail(
            format!("HTTP {status} without GraphQL errors"),
            status.is_server_error(),
        ));
    }
    Ok(v["data"].clone())
}

/// A set-up request that must succeed: `post`, sent again (up to 10 times, 200 ms apart) while
/// the answer is `UNAVAILABLE` (the pool was busy: nothing was written); panics on any other
/// failure. Returns `data`.
pub async fn set_up(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    let bytes = serde_json::to_vec(body).expect("request body");
    for _ in 0..10 {
        match post(http, url, token, bytes.clone()).await {
            Ok(data) => return data,
            Err(f) if f.code.as_deref() == Some("UNAVAILABLE") => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(f) => panic!("set-up failed: {}", f.message),
        }
    }
    panic!("set-up failed: UNAVAILABLE 10 times");
}
