//! A local HTTP server that answers like Stripe's API: bearer-key auth, form bodies,
//! idempotency keys, and queued faults and declines.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::http::handle;
use super::objects::{self, Params};
use super::routes;

/// The kinds of Stripe endpoint a queued [`StripeAnswer`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StripeEndpoint {
    Customers,
    SetupIntents,
    PaymentIntents,
    PaymentMethods,
    CheckoutSessions,
    Refunds,
    Charges,
}

impl StripeEndpoint {
    pub(super) fn of(path: &str) -> Option<StripeEndpoint> {
        let rest = path.strip_prefix("/v1/")?;
        Some(match rest.split('/').next()? {
            "customers" => StripeEndpoint::Customers,
            "setup_intents" => StripeEndpoint::SetupIntents,
            "payment_intents" => StripeEndpoint::PaymentIntents,
            "payment_methods" => StripeEndpoint::PaymentMethods,
            "checkout" => StripeEndpoint::CheckoutSessions,
            "refunds" => StripeEndpoint::Refunds,
            "charges" => StripeEndpoint::Charges,
            _ => return None,
        })
    }

    /// The `object` field of the resources this endpoint creates.
    pub fn object(self) -> &'static str {
        match self {
            StripeEndpoint::Customers => "customer",
            StripeEndpoint::SetupIntents => "setup_intent",
            StripeEndpoint::PaymentIntents => "payment_intent",
            StripeEndpoint::PaymentMethods => "payment_method",
            StripeEndpoint::CheckoutSessions => "checkout.session",
            StripeEndpoint::Refunds => "refund",
            StripeEndpoint::Charges => "charge",
        }
    }
}

/// How the next request to an endpoint is answered instead of the normal success.
#[derive(Clone, Debug)]
pub enum StripeAnswer {
    /// HTTP 402 `card_error`; the PaymentIntent is created (or left) in `requires_payment_method`.
    Decline {
        code: &'static str,
        decline_code: &'static str,
    },
    /// The PaymentIntent stops in `requires_action` with `next_action.type = use_stripe_sdk`.
    RequiresAction,
    /// HTTP 500 `api_error`; nothing is done and no idempotent result is saved.
    ServerError,
    /// HTTP 429 `rate_limit`; nothing is done and no idempotent result is saved.
    RateLimited,
    /// HTTP 400 `invalid_request_error` with this code (`charge_already_refunded`, ...): the
    /// request is refused for good; nothing is done.
    Refuse(&'static str),
    /// The request is carried out at once but its answer is held back this long, so a client
    /// that times out and retries with the same key gets the saved result, as from Stripe.
    Hang(Duration),
}

impl StripeAnswer {
    /// `card_declined` with the given decline code (`insufficient_funds`, `lost_card`, ...).
    pub fn decline(decline_code: &'static str) -> StripeAnswer {
        StripeAnswer::Decline {
            code: "card_declined",
            decline_code,
        }
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Form body (POST) or query (GET), bracket keys kept flat: `metadata[invoice_id]`.
    pub params: Params,
    pub idempotency_key: Option<String>,
    pub authorized: bool,
    pub at: SystemTime,
    /// The HTTP status answered (recorded when the answer is decided, before any `Hang`).
    pub status: u16,
    /// True when an `Idempotency-Key` replayed a saved answer.
    pub replayed: bool,
}

pub(super) struct Saved {
    pub(super) request: (String, String, Params),
    pub(super) status: StatusCode,
    pub(super) body: Value,
}

/// The objects Stripe holds, in creation order.
pub struct Store {
    pub base_url: String,
    objects: Vec<Value>,
}

impl Store {
    pub fn find(&self, kind: &str, id: &str) -> Option<Value> {
        self.objects
            .iter()
            .find(|o| o["object"] == kind && o["id"] == id)
            .cloned()
    }

    pub fn by_id(&self, id: &str) -> Option<Value> {
        self.objects.iter().find(|o| o["id"] == id).cloned()
    }

    pub fn all(&self, kind: &str) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|o| o["object"] == kind)
            .cloned()
            .collect()
    }

    /// Inserts the object, or replaces the stored one with its id.
    pub fn put(&mut self, object: Value) {
        match self.objects.iter_mut().find(|o| o["id"] == object["id"]) {
            Some(slot) => *slot = object,
            None => self.objects.push(object),
        }
    }
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) answers: HashMap<StripeEndpoint, VecDeque<StripeAnswer>>,
    pub(super) saved: HashMap<(String, String), Saved>,
}

pub(super) struct Shared {
    pub(super) secret_key: String,
    pub(super) inner: Mutex<Inner>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("stripe server state")
    }
}

pub struct StripeServer {
    base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StripeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const STRIPE_TEST_KEY: &str = "sk_test_local";

impl StripeServer {
    pub async fn start() -> StripeServer {
        StripeServer::start_with_key(STRIPE_TEST_KEY).await
    }

    pub async fn start_with_key(secret_key: &str) -> StripeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Stripe server");
        let address = listener.local_addr().expect("Stripe server address");
        // async-stripe appends `v1/...` to this base verbatim, so it must end with a slash.
        let base_url = format!("http://{address}/");
        let shared = Arc::new(Shared {
            secret_key: secret_key.to_string(),
            inner: Mutex::new(Inner {
                store: Store {
                    base_url: base_url.clone(),
                    objects: Vec::new(),
                },
                requests: Vec::new(),
                answers: HashMap::new(),
                saved: HashMap::new(),
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StripeServer {
            base_url,
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:<port>/`, for `ClientBuilder::url` or `BILLING_STRIPE_API_BASE`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn secret_key(&self) -> &str {
        &self.shared.secret_key
    }

    /// A real async-stripe client pointed at this server.
    pub fn client(&self) -> ::stripe::Client {
        ::stripe::ClientBuilder::new(self.secret_key())
            .url(self.base_url())
            .build()
            .expect("stripe client")
    }

    /// Queues `answer` for the next request to `endpoint`; answers are used in order, one each.
    pub fn next(&self, endpoint: StripeEndpoint, answer: StripeAnswer) {
        self.shared
            .lock()
            .answers
            .entry(endpoint)
            .or_default()
            .push_back(answer);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests whose path starts with `path` (e.g. `/v1/payment_intents`), in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(path))
            .collect()
    }

    /// Every object of that kind Stripe holds now, oldest first.
    pub fn objects(&self, kind: StripeEndpoint) -> Vec<Value> {
        self.shared.lock().store.all(kind.object())
    }

    pub fn object_count(&self, kind: StripeEndpoint) -> usize {
        self.objects(kind).len()
    }

    /// The object with this id, whatever its kind.
    pub fn object(&self, id: &str) -> Option<Value> {
        self.shared
            .lock()
            .store
            .objects
            .iter()
            .find(|o| o["id"] == id)
            .cloned()
    }

    /// Saves a card for a customer, as a completed SetupIntent or Checkout would; returns `pm_…`.
    pub fn attach_card(
        &self,
        customer: &str,
        brand: &str,
        last4: &str,
        exp_month: i64,
        exp_year: i64,
    ) -> String {
        let pm = objects::payment_method(Some(customer), brand, last4, (exp_month, exp_year));
        let id = pm["id"].as_str().expect("pm id").to_string();
        self.shared.lock().store.put(pm);
        id
    }

    /// The customer completes the SetupIntent with a card: a PaymentMethod attached to the
    /// intent's customer, the intent `succeeded`. Returns the PaymentMethod id and the intent.
    pub fn complete_setup(
        &self,
        seti: &str,
        brand: &str,
        last4: &str,
        exp_month: i64,
        exp_year: i64,
    ) -> (String, Value) {
        let mut inner = self.shared.lock();
        let mut intent = inner
            .store
            .find("setup_intent", seti)
            .expect("no such setup intent");
        let pm = objects::payment_method(
            intent["customer"].as_str(),
            brand,
            last4,
            (exp_month, exp_year),
        );
        let pm_id = pm["id"].as_str().expect("pm id").to_string();
        inner.store.put(pm);
        intent["status"] = json!("succeeded");
        intent["payment_method"] = json!(pm_id);
        intent["latest_attempt"] = json!(objects::stripe_id("setatt"));
        inner.store.put(intent.clone());
        (pm_id, intent)
    }

    /// The customer finishes Checkout: `complete`, `paid` (a succeeded PaymentIntent) or
    /// `unpaid` (a PaymentIntent still `processing`, as with a delayed payment method).
    pub fn complete_checkout(&self, cs: &str, paid: bool) -> Value {
        let mut inner = self.shared.lock();
        let store = &mut inner.store;
        let mut session = store
            .find("checkout.session", cs)
            .expect("no such checkout session");
        let card =
            objects::payment_method(session["customer"].as_str(), "visa", "4242", (12, 2034));
        let mut params = Params::new();
        params.insert(
            "amount".into(),
            session["amount_total"].as_i64().unwrap_or(0).to_string(),
        );
        params.insert(
            "currency".into(),
            session["currency"].as_str().unwrap_or("brl").to_string(),
        );
        if let Some(customer) = session["customer"].as_str() {
            params.insert("customer".into(), customer.to_string());
        }
        params.insert(
            "payment_method".into(),
            card["id"].as_str().unwrap_or_default().to_string(),
        );
        let mut pi = objects::payment_intent(&params);
        pi["metadata"] = session["metadata"].clone();
        if paid {
            routes::succeed(store, &mut pi, Some(&card));
        } else {
            pi["status"] = json!("processing");
            store.put(pi.clone());
        }
        store.put(card);
        session["status"] = json!("complete");
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        session["payment_intent"] = pi["id"].clone();
        store.put(session.clone());
        session
    }

    /// A later change of a PaymentIntent (3-D Secure passed, async payment settled, ...).
    /// `succeeded` also creates its charge. Returns the intent, e.g. for a webhook.
    pub fn set_payment_intent_status(&self, pi: &str, status: &str) -> Value {
        let mut inner = self.shared.lock();
        let store = &mut inner.store;
        let mut intent = store
            .find("payment_intent", pi)
            .expect("no such payment intent");
        if status == "succeeded" {
            let card = intent["payment_method"]
                .as_str()
                .and_then(|id| store.find("payment_method", id));
            routes::succeed(store, &mut intent, card.as_ref());
        } else {
            intent["status"] = json!(status);
            if status != "requires_action" {
                intent["next_action"] = Value::Null;
            }
            store.put(intent.clone());
        }
        intent
    }
}
