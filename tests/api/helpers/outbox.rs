//! A payment provider that records what it was asked, and the calls the outbox tests share.
//! The app's own outbox worker is off in these apps; the tests run it by hand.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use billing::domain::{Invoice, InvoiceId, OutboxMessage};
use billing::error::{Error, Result};
use billing::payments::{CollectRequest, Collection, PaymentProvider};
use billing::state::AppState;
use serde_json::json;

use super::{TestApp, spawn_app_with};

/// Answers every collection with `answer` and counts the calls per invoice.
pub struct Recording {
    answer: fn(&Invoice) -> Result<Collection>,
    calls: Mutex<HashMap<InvoiceId, usize>>,
}

impl Recording {
    pub fn new(answer: fn(&Invoice) -> Result<Collection>) -> Arc<Self> {
        Arc::new(Self {
            answer,
            calls: Mutex::new(HashMap::new()),
        })
    }

    pub fn calls(&self, id: InvoiceId) -> usize {
        self.calls
            .lock()
            .expect("lock")
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.calls.lock().expect("lock").values().sum()
    }
}

#[async_trait]
impl PaymentProvider for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn collect(&self, req: &CollectRequest<'_>) -> Result<Collection> {
        let invoice = req.invoice;
        *self
            .calls
            .lock()
            .expect("lock")
            .entry(invoice.id)
            .or_default() += 1;
        (self.answer)(invoice)
    }
}

pub fn pays(invoice: &Invoice) -> Result<Collection> {
    Ok(Collection::Paid {
        reference: format!("pay_{}", invoice.id),
    })
}

pub fn unreachable_provider(_: &Invoice) -> Result<Collection> {
    Err(Error::internal("the provider did not answer"))
}

pub async fn spawn_outbox_app() -> TestApp {
    spawn_app_with(|c| {
        c.clock_start = Some("2026-05-01T00:00:00Z".parse().expect("start"));
        c.outbox_interval_ms = 0;
        c.outbox_max_attempts = 3;
    })
    .await
}

/// The app's state with `provider` in place of the manual one, as a worker would run it.
pub fn with_provider(app: &TestApp, provider: Arc<Recording>) -> AppState {
    let mut state = app.state.clone();
    state.payments = provider;
    state
}

/// A finalized invoice of one line of `amount` for `tenant`; its id.
pub async fn finalized(app: &TestApp, tenant: &str, amount: i64) -> (InvoiceId, serde_json::Value) {
    let created = app
        .as_admin(
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { id } }",
            json!({ "i": { "tenantId": tenant, "lines": [
                { "description": "Setup", "quantity": "1", "unitAmountMinor": amount.to_string() }
            ] } }),
        )
        .await;
    let id = created.data()["createInvoice"]["id"]
        .as_str()
        .expect("invoice id")
        .to_owned();
    let done = app
        .as_admin(
            "mutation($id: ID!) { finalizeInvoice(id: $id) { id status amountDue { amountMinor } } }",
            json!({ "id": id }),
        )
        .await;
    let invoice = done.data()["finalizeInvoice"].clone();
    (InvoiceId::parse("id", &id).expect("invoice id"), invoice)
}

/// The outbox rows, emails apart (every notification adds one; `emails.rs` tests those).
pub async fn outbox_rows(app: &TestApp) -> Vec<OutboxMessage> {
    let mut rows = billing::store::outbox::list(&app.state.db, 1_000)
        .await
        .expect("outbox rows");
    rows.retain(|m| m.kind != billing::domain::OutboxKind::SendEmail);
    rows
}

pub async fn invoice_status(app: &TestApp, id: InvoiceId) -> String {
    let r = app
        .as_admin(
            "query($id: ID!) { invoice(id: $id) { status paymentReference } }",
            json!({ "id": id.to_string() }),
        )
        .await;
    r.data()["invoice"]["status"]
        .as_str()
        .expect("status")
        .to_owned()
}
