//! A local HTTP server that receives webhooks: it records every request (the Standard Webhooks
//! headers and the raw body) and answers 204, or 500 while told to fail. And the check of the
//! recorded requests by the `standardwebhooks` Python package (`tests/interop/verify_webhooks.py`).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct ReceivedWebhook {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// The status this receiver answered with.
    pub answered: u16,
}

impl ReceivedWebhook {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a webhook body is JSON")
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().expect("type").to_owned()
    }
}

#[derive(Clone)]
pub struct WebhookReceiver {
    pub url: String,
    log: Arc<Mutex<Vec<ReceivedWebhook>>>,
    fail_next: Arc<AtomicUsize>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let log: Arc<Mutex<Vec<ReceivedWebhook>>> = Arc::default();
        let fail_next = Arc::new(AtomicUsize::new(0));
        let (l, f) = (log.clone(), fail_next.clone());
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let (log, fail) = (l.clone(), f.clone());
                async move {
                    let failing = fail
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if failing {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    };
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    log.lock().expect("log").push(ReceivedWebhook {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
                        answered: status.as_u16(),
                    });
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/hook"),
            log,
            fail_next,
        }
    }

    /// The next `n` requests are answered 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every request received, in arrival order.
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.log.lock().expect("log").clone()
    }

    /// The requests answered with success, in arrival order.
    pub fn accepted(&self) -> Vec<ReceivedWebhook> {
        self.received()
            .into_iter()
            .filter(|r| r.answered < 300)
            .collect()
    }
}

/// Runs `standardwebhooks.Webhook(secret).verify(body, headers)` over each
/// `(label, secret, request)` and returns, per label, `true` when it verified. Panics with a
/// clear message when Python or the package is missing (never skips).
pub fn verify_with_standardwebhooks(
    cases: &[(&str, &str, &ReceivedWebhook)],
) -> Vec<(String, bool)> {
    let list: Vec<Value> = cases
        .iter()
        .map(|(label, secret, r)| {
            json!({ "label": label, "secret": secret, "id": r.id, "timestamp": r.timestamp,
                    "signature": r.signature, "body": r.body })
        })
        .collect();
    let path = std::env::temp_dir().join(format!("webhooks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&list).expect("json")).expect("write cases");
    let python = std::env::var("BILLING_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/verify_webhooks.py"
    );
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("could not run {python} (needed to verify webhooks): {e}"));
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "verify_webhooks.py failed ({}): {}\nInstall the verifier with `pip install standardwebhooks` (.ci/run does).",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let results: Vec<(String, bool)> = stdout
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let label = parts.next().unwrap_or_default().to_owned();
            (label, parts.next() == Some("OK"))
        })
        .collect();
    assert_eq!(results.len(), cases.len(), "one verdict per case: {stdout}");
    results
}

pub const ENDPOINT_FIELDS: &str =
    "id tenantId url eventTypes enabled secret previousSecretUntil failingSince disabledAt";
pub const DELIVERY_FIELDS: &str = "id endpointId eventId eventType payload status attempts \
     lastStatusCode lastError deliveredAt replayOf";

/// An app whose clock stands still at 2026-03-01, whose outbox runs only with the billing jobs,
/// and whose webhooks may reach this machine's receivers.
pub async fn spawn_webhooks_app() -> super::TestApp {
    super::spawn_app_with(|c| {
        c.clock_start = "2026-03-01T00:00:00Z".parse().ok();
        c.outbox_interval_ms = 0;
        c.webhooks_allow_private = true;
    })
    .await
}

impl super::TestApp {
    /// `createWebhookEndpoint` with `token` and the given input.
    pub async fn create_endpoint(&self, token: &str, input: Value) -> super::Gql {
        self.as_token(
            token,
            &format!(
                "mutation($i: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $i) \
                 {{ endpoint {{ {ENDPOINT_FIELDS} }} }} }}"
            ),
            json!({ "i": input }),
        )
        .await
    }

    /// Creates an endpoint, asserting success; returns it.
    pub async fn endpoint_for(&self, token: &str, input: Value) -> Value {
        self.create_endpoint(token, input).await.data()["createWebhookEndpoint"]["endpoint"].clone()
    }

    /// The delivery log of `endpoint`, read with `token`.
    pub async fn deliveries(&self, token: &str, endpoint: &str) -> super::Gql {
        self.as_token(
            token,
            &format!(
                "query($e: ID!) {{ webhookDeliveries(endpointId: $e, first: 100) \
                 {{ edges {{ node {{ {DELIVERY_FIELDS} }} }} }} }}"
            ),
            json!({ "e": endpoint }),
        )
        .await
    }

    /// The delivery log of `endpoint` as admin, asserting success.
    pub async fn deliveries_of(&self, endpoint: &str) -> Vec<Value> {
        let r = self.deliveries(&self.admin_token.clone(), endpoint).await;
        super::nodes(&r, "webhookDeliveries")
    }

    pub async fn suspend(&self, tenant: &str) {
        self.as_admin(
            "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { id } } }",
            json!({ "i": { "id": tenant, "reason": "unpaid" } }),
        )
        .await
        .data();
    }

    pub async fn reactivate(&self, tenant: &str) {
        self.as_admin(
            "mutation($id: ID!) { reactivateTenant(id: $id) { tenant { id } } }",
            json!({ "id": tenant }),
        )
        .await
        .data();
    }
}
