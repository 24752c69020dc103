//! Live updates in tests: the npm `graphql-ws` client run by Node (`tests/interop/ws_client.mjs`)
//! and a raw WebSocket (tokio-tungstenite) for what a correct client never sends.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use billing::auth::AuthKeys;
use billing::config::Config;
use billing::domain::{Role, TenantId};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::TestApp;

/// How long a test waits for an event before failing (generous: machines are noisy).
const PATIENCE: Duration = Duration::from_secs(30);

pub fn ws_url(app: &TestApp) -> String {
    format!("{}/graphql/ws", app.address.replacen("http", "ws", 1))
}

/// The Redis the tests share (`BILLING_TEST_REDIS_URL`, else the one `.ci/run` starts), for
/// the tests that need two replicas to fan out; fails clearly when it does not answer.
pub fn shared_redis(config: &mut Config) {
    let url = std::env::var("BILLING_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap_or_else(|e| {
            panic!("live updates across replicas need Redis at {url} (.ci/run starts one): {e}")
        });
    let pong: String = redis::cmd("PING").query(&mut conn).expect("redis PING");
    assert_eq!(pong, "PONG");
    config.redis_url = Some(url);
    config.cache_prefix = format!("test:live:{}:", uuid::Uuid::new_v4().simple());
}

/// A JWT for `tenant` that expires `seconds` from now.
pub fn short_lived_token(app: &TestApp, tenant: &str, seconds: i64) -> String {
    let config = Config {
        jwt_ttl_seconds: seconds,
        ..(*app.state.config).clone()
    };
    let keys = AuthKeys::from_config(&config).expect("keys");
    let tenant = TenantId::parse("tenant", tenant).expect("tenant id");
    let (token, _) = keys
        .mint("short-lived", Role::Owner, Some(tenant), chrono::Utc::now())
        .expect("mint");
    token
}

/// `tests/interop` with its packages, installing them when missing; fails with a clear message
/// when Node.js is not installed (`.ci/run` installs it).
fn interop_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "live-update tests run the npm graphql-ws client with Node.js: install Node.js 20+ and \
         npm (as .ci/run does)"
    );
    if !dir.join("node_modules/graphql-ws").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("run npm ci (is npm installed?)");
        assert!(status.success(), "`npm ci --prefix tests/interop` failed");
    }
    dir
}

/// Waits until `app` has at least `n` live subscriptions listening and hears other replicas:
/// a subscription that answers nothing at first is then in place before the change is made.
pub async fn listening(app: &TestApp, n: usize) {
    tokio::time::timeout(PATIENCE, async {
        while app.state.live.listeners() < n || !app.state.live.fanned_out() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {n} subscriptions listening after {PATIENCE:?}"));
}

/// The graphql-ws client in a Node process, its events read line by line.
pub struct NodeClient {
    child: Child,
    events: mpsc::UnboundedReceiver<Value>,
}

impl Drop for NodeClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeClient {
    /// Connects with `token` and starts one subscription per `(query, variables)`.
    pub fn start(app: &TestApp, token: &str, ops: &[(&str, Value)]) -> NodeClient {
        let dir = interop_dir();
        let ops: Vec<Value> = ops
            .iter()
            .map(|(q, v)| json!({ "query": q, "variables": v }))
            .collect();
        let mut child = Command::new("node")
            .arg(dir.join("ws_client.mjs"))
            .arg(ws_url(app))
            .arg(token)
            .arg(Value::from(ops).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event = serde_json::from_str(&line).unwrap_or_else(|_| json!({ "raw": line }));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        NodeClient { child, events }
    }

    /// The next event; fails when none comes within the patience, or the client ended.
    pub async fn next(&mut self) -> Value {
        match tokio::time::timeout(PATIENCE, self.events.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => panic!("the graphql-ws client ended without another event"),
            Err(_) => panic!("no event from the graphql-ws client within {PATIENCE:?}"),
        }
    }

    /// Events until one of kind `event` (`next`, `error`, `closed`, ...), which it returns.
    pub async fn until(&mut self, event: &str) -> Value {
        loop {
            let e = self.next().await;
            if e["event"] == event {
                return e;
            }
        }
    }

    /// The payload's `data` of the next `next` event.
    pub async fn next_data(&mut self) -> Value {
        let e = self.until("next").await;
        e["payload"]["data"].clone()
    }
}

/// What a raw connection received.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Json(Value),
    Closed(u16, String),
}

pub struct RawWs {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawWs {
    /// Connects offering `protocol` (none when `None`).
    pub async fn connect(app: &TestApp, protocol: Option<&str>) -> RawWs {
        let mut request = ws_url(app).into_client_request().expect("request");
        if let Some(p) = protocol {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(p).expect("header"),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket handshake");
        RawWs { ws }
    }

    /// Connected with `graphql-transport-ws` and acknowledged with `token`.
    pub async fn ready(app: &TestApp, token: &str) -> RawWs {
        let mut ws = RawWs::connect(app, Some("graphql-transport-ws")).await;
        ws.send(json!({ "type": "connection_init", "payload": { "token": token } }))
            .await;
        assert_eq!(
            ws.recv().await,
            Frame::Json(json!({ "type": "connection_ack" }))
        );
        ws
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "type": "subscribe", "id": id,
            "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next message or the close, skipping WebSocket pings.
    pub async fn recv(&mut self) -> Frame {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("nothing received within {PATIENCE:?}"));
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Frame::Json(serde_json::from_str(t.as_str()).expect("JSON message"));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.as_str().to_owned())
                    });
                    return Frame::Closed(code, reason);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Frame::Closed(1006, e.to_string()),
                None => return Frame::Closed(1006, "ended".into()),
            }
        }
    }

    /// The close code (and reason) this connection ends with, skipping messages before it.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            if let Frame::Closed(code, reason) = self.recv().await {
                return (code, reason);
            }
        }
    }
}
