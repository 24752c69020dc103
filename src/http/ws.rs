//! `/graphql/ws`: GraphQL subscriptions over WebSocket, the `graphql-transport-ws` protocol
//! (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md). The credential comes in
//! `connection_init` (`{"authorization": "Bearer …"}` or `{"token": "…"}`) and is checked by
//! the same code as HTTP. Close codes: 4400 malformed message, 4401 `subscribe` before the
//! acknowledgement, 4403 bad credential, expired token or revoked API key, 4406 subprotocol
//! not offered, 4408 no `connection_init` in time, 4409 an id already in use, 4429 a second
//! `connection_init`. Too many subscriptions answers an `error` message (`RATE_LIMITED`) for
//! that id and keeps the connection.
use std::collections::HashMap;
use std::time::Duration;

use async_graphql::{ServerError, Variables};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep_until};

use super::HttpState;
use super::graphql::authenticate;
use crate::auth::Actor;
use crate::graphql::{Credential, Exchange, RequestTenant, RootField};
use crate::live::Slot;

pub const PROTOCOL: &str = "graphql-transport-ws";
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// What a connection reads at a time (a longer message grows the buffer). Clients send little;
/// tungstenite's default of 128 KiB is zero-filled on every read, 7% of the CPU with 1,000
/// connections in `benches/live_updates`.
const READ_BUFFER_BYTES: usize = 4 * 1024;

pub async fn upgrade(State(s): State<HttpState>, ws: WebSocketUpgrade) -> Response {
    let ws = ws
        .protocols([PROTOCOL])
        .max_message_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES);
    let accepted = ws.selected_protocol().is_some();
    ws.on_upgrade(move |mut socket| async move {
        if accepted {
            Connection::new(s).run(socket).await;
        } else {
            let _ = socket.send(close(4406, "Subprotocol not acceptable")).await;
        }
    })
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

fn text(v: Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

/// What a subscription's task hands back to the connection.
enum Out {
    Next(async_graphql::Response),
    Error(Vec<ServerError>),
    Complete,
}

/// One connection's state: who it is, and its running operations by id.
struct Connection {
    s: HttpState,
    init_received: bool,
    actor: Option<Actor>,
    /// The credential's JWT `exp`, or the init timeout before `connection_init`.
    deadline: Option<Instant>,
    api_key: Option<String>,
    running: HashMap<String, AbortHandle>,
    out_tx: mpsc::Sender<(String, Out)>,
    out_rx: mpsc::Receiver<(String, Out)>,
}

/// Whether to go on after a client message.
enum Flow {
    Go(Vec<Message>),
    Close(u16, String),
}

impl Connection {
    fn new(s: HttpState) -> Self {
        let (out_tx, out_rx) = mpsc::channel(1_024);
        let init = Duration::from_millis(s.app.config.ws_init_timeout_ms);
        Self {
            s,
            init_received: false,
            actor: None,
            deadline: Some(Instant::now() + init),
            api_key: None,
            running: HashMap::new(),
            out_tx,
            out_rx,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let recheck = Duration::from_secs(self.s.app.config.ws_recheck_seconds.max(1));
        let mut recheck = tokio::time::interval_at(Instant::now() + recheck, recheck);
        loop {
            let deadline = self.deadline;
            let flow = tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(msg)) => self.on_message(msg).await,
                    _ => break,
                },
                Some((id, out)) = self.out_rx.recv() => Flow::Go(vec![self.on_output(id, out)]),
                () = async { sleep_until(deadline.unwrap_or_else(Instant::now)).await },
                    if deadline.is_some() => self.on_deadline(),
                _ = recheck.tick(), if self.api_key.is_some() => self.recheck().await,
            };
            match flow {
                Flow::Go(messages) => {
                    for m in messages {
                        if sink.send(m).await.is_err() {
                            break;
                        }
                    }
                }
                Flow::Close(code, reason) => {
                    let _ = sink.send(close(code, &reason)).await;
                    break;
                }
            }
        }
        for (_, task) in self.running.drain() {
            task.abort();
        }
    }

    fn on_deadline(&mut self) -> Flow {
        if self.actor.is_none() {
            Flow::Close(4408, "Connection initialisation timeout".into())
        } else {
            Flow::Close(4403, "Forbidden: token expired".into())
        }
    }

    /// An API key is looked up again now and then: a revoked key ends the connection.
    async fn recheck(&mut self) -> Flow {
        let Some(key) = self.api_key.clone() else {
            return Flow::Go(vec![]);
        };
        match authenticate(&self.s.app, &bearer(&key)).await {
            Credential::Invalid(_) => Flow::Close(4403, "Forbidden: API key revoked".into()),
            _ => Flow::Go(vec![]),
        }
    }

    fn on_output(&mut self, id: String, out: Out) -> Message {
        match out {
            Out::Next(response) => text(json!({ "type": "next", "id": id, "payload": response })),
            Out::Error(errors) => {
                self.running.remove(&id);
                text(json!({ "type": "error", "id": id, "payload": errors }))
            }
            Out::Complete => {
                self.running.remove(&id);
                text(json!({ "type": "complete", "id": id }))
            }
        }
    }

    async fn on_message(&mut self, msg: Message) -> Flow {
        let raw = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => return bad("binary messages are not part of the protocol"),
            Message::Close(_) => return Flow::Close(1000, "Normal Closure".into()),
            Message::Ping(_) | Message::Pong(_) => return Flow::Go(vec![]),
        };
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(raw.as_str()) else {
            return bad("a message is a JSON object");
        };
        match m.get("type").and_then(Value::as_str) {
            Some("connection_init") => self.on_init(m.get("payload")).await,
            Some("ping") => Flow::Go(vec![text(json!({ "type": "pong" }))]),
            Some("pong") => Flow::Go(vec![]),
            Some("subscribe") => self.on_subscribe(&m),
            Some("complete") => match m.get("id").and_then(Value::as_str) {
                Some(id) => {
                    if let Some(task) = self.running.remove(id) {
                        task.abort();
                    }
                    Flow::Go(vec![])
                }
                None => bad("'complete' needs an 'id'"),
            },
            Some(other) => bad(&format!("unknown message type '{other}'")),
            None => bad("a message needs a 'type'"),
        }
    }

    async fn on_init(&mut self, payload: Option<&Value>) -> Flow {
        if self.init_received {
            return Flow::Close(4429, "Too many initialisation requests".into());
        }
        self.init_received = true;
        let Some(token) = token_of(payload) else {
            return Flow::Close(4403, "Forbidden: send a token in connection_init".into());
        };
        match authenticate(&self.s.app, &bearer(&token)).await {
            Credential::Valid(actor) => {
                self.deadline = if actor.api_key.is_some() {
                    self.api_key = Some(token);
                    None
                } else {
                    self.s
                        .app
                        .auth
                        .expires_in(&token)
                        .map(|d| Instant::now() + d)
                };
                self.actor = Some(actor.for_connection());
                Flow::Go(vec![text(json!({ "type": "connection_ack" }))])
            }
            Credential::Unavailable => Flow::Close(
                1013,
                "Try Again Later: the credential could not be checked".into(),
            ),
            _ => Flow::Close(4403, "Forbidden".into()),
        }
    }

    fn on_subscribe(&mut self, m: &serde_json::Map<String, Value>) -> Flow {
        let Some(actor) = self.actor.clone() else {
            return Flow::Close(4401, "Unauthorized".into());
        };
        let Some(id) = m
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
        else {
            return bad("'subscribe' needs a non-empty 'id'");
        };
        let Some(payload) = m.get("payload").and_then(Value::as_object) else {
            return bad("'subscribe' needs a 'payload' object");
        };
        let Some(query) = payload.get("query").and_then(Value::as_str) else {
            return bad("'subscribe' needs 'payload.query', a string");
        };
        if self.running.contains_key(id) {
            return Flow::Close(4409, format!("Subscriber for {id} already exists"));
        }
        let config = &self.s.app.config;
        let per_connection = config.ws_max_subscriptions_per_connection;
        if self.running.len() >= per_connection {
            let why = format!("at most {per_connection} subscriptions per connection");
            return Flow::Go(vec![refusal(id, &why)]);
        }
        // Operators act across tenants and are not counted against one.
        let slot = match actor.tenant {
            Some(tenant) => {
                let max = config.ws_max_subscriptions_per_tenant;
                match self.s.app.live.take_slot(tenant, max) {
                    Some(slot) => Some(slot),
                    None => {
                        let why = format!("at most {max} open subscriptions per tenant");
                        return Flow::Go(vec![refusal(id, &why)]);
                    }
                }
            }
            None => None,
        };
        let mut request = async_graphql::Request::new(query);
        if let Some(vars) = payload.get("variables").filter(|v| !v.is_null()) {
            request = request.variables(Variables::from_json(vars.clone()));
        }
        if let Some(name) = payload.get("operationName").and_then(Value::as_str) {
            request = request.operation_name(name);
        }
        let request = request
            .data(Credential::Valid(actor))
            .data(RootField::default())
            .data(Exchange::read_write())
            .data(RequestTenant::default());
        let task = tokio::spawn(execute(
            self.s.schema.clone(),
            request,
            id.to_owned(),
            self.out_tx.clone(),
            slot,
        ));
        self.running.insert(id.to_owned(), task.abort_handle());
        Flow::Go(vec![])
    }
}

/// Runs one operation, handing its results back until it ends or is aborted. The tenant's
/// slot is held for as long as it runs.
async fn execute(
    schema: crate::graphql::BillingSchema,
    request: async_graphql::Request,
    id: String,
    out: mpsc::Sender<(String, Out)>,
    _slot: Option<Slot>,
) {
    let mut responses = schema.execute_stream(request);
    let mut first = true;
    while let Some(mut response) = responses.next().await {
        // Refused before it ran (invalid, over a limit, FORBIDDEN): one `error`, nothing else.
        if first && response.data == async_graphql::Value::Null && !response.errors.is_empty() {
            for err in &mut response.errors {
                let ext = err.extensions.get_or_insert_with(Default::default);
                if ext.get("code").is_none() {
                    ext.set("code", "VALIDATION");
                }
            }
            let _ = out.send((id, Out::Error(response.errors))).await;
            return;
        }
        first = false;
        if out.send((id.clone(), Out::Next(response))).await.is_err() {
            return;
        }
    }
    let _ = out.send((id, Out::Complete)).await;
}

fn bad(why: &str) -> Flow {
    // A close reason is at most 123 bytes.
    let mut reason = format!("Bad request: {why}");
    reason.truncate(120);
    Flow::Close(4400, reason)
}

fn refusal(id: &str, why: &str) -> Message {
    text(json!({ "type": "error", "id": id, "payload": [
        { "message": format!("too many subscriptions: {why}"), "extensions": { "code": "RATE_LIMITED" } }
    ] }))
}

/// The token of a `connection_init` payload: `authorization` (with or without `Bearer `) or
/// `token`.
fn token_of(payload: Option<&Value>) -> Option<String> {
    let p = payload?.as_object()?;
    let raw = ["authorization", "Authorization", "token"]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))?;
    let raw = raw.trim();
    let token = match raw.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => raw,
    };
    (!token.is_empty()).then(|| token.to_owned())
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(header::AUTHORIZATION, v);
    }
    h
}
