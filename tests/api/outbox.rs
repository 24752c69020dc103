//! The outbox seed: finalizing an invoice writes its collection in the same transaction, and
//! one worker carries it out after commit, once, even with two workers or after a restart. The
//! app's own worker is off (`outbox_interval_ms = 0`); the tests run it by hand with a payment
//! provider that records what it was asked.
use billing::domain::{InvoiceId, OutboxKind, OutboxStatus};
use billing::jobs::deliver_due;
use chrono::TimeDelta;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn finalizing_writes_one_collection_that_the_worker_carries_out_once() {
    let app = spawn_outbox_app().await;
    let tenant = app.create_tenant("acme").await;
    let (id, invoice) = finalized(&app, &tenant, 12_345).await;
    assert_eq!(invoice["status"], "OPEN");

    let rows = outbox_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, OutboxKind::CollectInvoice);
    assert_eq!(rows[0].reference, id.to_string());
    assert_eq!(rows[0].status, OutboxStatus::Pending);
    assert_eq!(rows[0].attempts, 0);

    let provider = Recording::new(pays);
    let state = with_provider(&app, provider.clone());
    let report = deliver_due(&state).await.expect("deliver");
    assert_eq!(report.sent, 1);
    assert_eq!(provider.calls(id), 1);
    assert_eq!(invoice_status(&app, id).await, "PAID");
    let rows = outbox_rows(&app).await;
    assert_eq!(rows[0].status, OutboxStatus::Done);
    assert_eq!(rows[0].attempts, 1);

    let again = deliver_due(&state).await.expect("deliver again");
    assert_eq!(again.sent, 0);
    assert_eq!(provider.calls(id), 1, "a done message is never sent twice");
}

#[tokio::test]
async fn an_invoice_with_nothing_due_is_paid_at_once_and_enqueues_nothing() {
    let app = spawn_outbox_app().await;
    let tenant = app.create_tenant("acme").await;
    let (_, invoice) = finalized(&app, &tenant, 0).await;
    assert_eq!(invoice["status"], "PAID");
    assert!(outbox_rows(&app).await.is_empty());
}

#[tokio::test]
async fn a_collection_committed_before_a_crash_is_sent_after_the_restart() {
    let app = spawn_outbox_app().await;
    let tenant = app.create_tenant("acme").await;
    let (id, _) = finalized(&app, &tenant, 5_000).await;
    // The process stops before any worker ran: a new process on the same database finds the
    // committed message and sends it.
    let config = (*app.state.config).clone();
    let mut restarted = billing::startup::build_state(config)
        .await
        .expect("restarted state");
    let provider = Recording::new(pays);
    restarted.payments = provider.clone();
    let report = deliver_due(&restarted).await.expect("deliver");
    assert_eq!(report.sent, 1);
    assert_eq!(provider.calls(id), 1);
    assert_eq!(invoice_status(&app, id).await, "PAID");
}

#[tokio::test]
async fn two_workers_at_once_collect_each_invoice_once() {
    let app = spawn_outbox_app().await;
    let tenant = app.create_tenant("acme").await;
    let mut ids = Vec::new();
    // More than a claim batch, so that workers race over several batches; each run ends only
    // when nothing is left due, whoever took the rest.
    for amount in 1..=25 {
        ids.push(finalized(&app, &tenant, amount * 100).await.0);
    }
    let provider = Recording::new(pays);
    let state = with_provider(&app, provider.clone());
    let (a, b, c) = tokio::join!(
        deliver_due(&state),
        deliver_due(&state),
        deliver_due(&state)
    );
    let (a, b, c) = (
        a.expect("worker a"),
        b.expect("worker b"),
        c.expect("worker c"),
    );
    assert_eq!(a.sent + b.sent + c.sent, 25, "{a:?} {b:?} {c:?}");
    assert_eq!(provider.total(), 25);
    assert_eq!(
        deliver_due(&state).await.expect("after").sent,
        0,
        "nothing left due"
    );
    for id in ids {
        assert_eq!(provider.calls(id), 1, "{id} collected once");
        assert_eq!(invoice_status(&app, id).await, "PAID");
    }
}

#[tokio::test]
async fn a_failed_send_is_retried_with_back_off_then_parked_dead() {
    let app = spawn_outbox_app().await;
    let tenant = app.create_tenant("acme").await;
    let (id, _) = finalized(&app, &tenant, 5_000).await;
    let provider = Recording::new(unreachable_provider);
    let state = with_provider(&app, provider.clone());
    let start = state.clock.now();

    let first = deliver_due(&state).await.expect("first attempt");
    assert_eq!(first.retried, 1);
    let row = outbox_rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    let wait = row.next_attempt_at - start;
    assert!(
        wait >= TimeDelta::seconds(30) && wait <= TimeDelta::seconds(33),
        "first back-off {wait}"
    );
    assert!(row.last_error.is_some());

    // Not due yet: nothing is sent before the back-off ends.
    assert_eq!(deliver_due(&state).await.expect("early").retried, 0);
    assert_eq!(provider.calls(id), 1);

    state
        .clock
        .advance(TimeDelta::seconds(34))
        .expect("advance");
    assert_eq!(deliver_due(&state).await.expect("second").retried, 1);
    let row = outbox_rows(&app).await.remove(0);
    let wait = row.next_attempt_at - state.clock.now();
    assert!(
        wait >= TimeDelta::seconds(60) && wait <= TimeDelta::seconds(66),
        "second back-off {wait}"
    );

    state
        .clock
        .advance(TimeDelta::seconds(70))
        .expect("advance");
    assert_eq!(deliver_due(&state).await.expect("third").dead, 1);
    let row = outbox_rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Dead, 3));
    assert_eq!(provider.calls(id), 3);
    assert_eq!(invoice_status(&app, id).await, "OPEN");

    state.clock.advance(TimeDelta::days(1)).expect("advance");
    assert_eq!(
        deliver_due(&state).await.expect("after dead"),
        Default::default()
    );
    assert_eq!(provider.calls(id), 3, "a dead message is not sent again");
}

/// Every path that finalizes an invoice (a subscription's first period, a usage block, a credit
/// pack) enqueues its collection, and the pack's top-up completes when the collection pays it.
#[tokio::test]
async fn every_finalized_invoice_is_collected_through_the_outbox() {
    let app = spawn_outbox_app().await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, billing::domain::Role::Owner);
    let sub = app
        .subscribe(&owner, json!({ "planCode": "tokens-400" }))
        .await;
    let fee_invoice = sub.data()["createSubscription"]["invoice"]["id"].clone();
    let usage = app
        .as_token(
            &owner,
            "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { accepted invoice { id } } }",
            json!({ "i": { "events": [
                { "metricCode": "tokens", "quantity": "9000000", "idempotencyKey": "req-1" }
            ] } }),
        )
        .await;
    let block_invoice = usage.data()["recordUsage"]["invoice"]["id"].clone();
    let pack = app
        .as_token(
            &owner,
            "mutation($i: PurchaseCreditPackInput!) { purchaseCreditPack(input: $i) { topup { status } invoice { id } } }",
            json!({ "i": { "packCode": "start" } }),
        )
        .await;
    let pack_invoice = pack.data()["purchaseCreditPack"]["invoice"]["id"].clone();

    let mut queued: Vec<String> = outbox_rows(&app)
        .await
        .into_iter()
        .map(|m| {
            assert_eq!(m.kind, OutboxKind::CollectInvoice);
            m.reference
        })
        .collect();
    queued.sort();
    let mut expected: Vec<String> = [&fee_invoice, &block_invoice, &pack_invoice]
        .iter()
        .map(|v| v.as_str().expect("an invoice id").to_owned())
        .collect();
    expected.sort();
    assert_eq!(queued, expected);

    let provider = Recording::new(pays);
    let report = deliver_due(&with_provider(&app, provider.clone()))
        .await
        .expect("deliver");
    assert_eq!(report.sent, 3);
    for id in &expected {
        let id = InvoiceId::parse("id", id).expect("invoice id");
        assert_eq!(provider.calls(id), 1);
        assert_eq!(invoice_status(&app, id).await, "PAID");
    }
    let wallet = app
        .as_token(&owner, "{ wallet { balance } }", json!({}))
        .await;
    assert_eq!(wallet.data()["wallet"]["balance"], "100");
}
