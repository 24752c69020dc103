//! The outbox for operators: `outboxMessages(status, kind)` shows what waits, what was done
//! and what was given up with its last error, and `retryOutboxMessage` brings a dead message
//! back for the worker to carry out. Tenants see none of it.
use billing::domain::Role;
use billing::jobs::deliver_due;
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::helpers::*;

const MESSAGE: &str = "id tenantId kind status reference dedupeKey attempts nextAttemptAt \
    lastError createdAt";

async fn list(app: &TestApp, token: &str, args: Value) -> Gql {
    app.as_token(
        token,
        &format!(
            "query($s: OutboxStatus, $k: OutboxKind, $first: Int) {{ \
             outboxMessages(status: $s, kind: $k, first: $first) {{ \
             edges {{ node {{ {MESSAGE} }} }} pageInfo {{ hasNextPage }} }} }}"
        ),
        args,
    )
    .await
}

async fn retry(app: &TestApp, token: &str, id: &str) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: RetryOutboxMessageInput!) {{ retryOutboxMessage(input: $i) {{ \
             message {{ {MESSAGE} }} }} }}"
        ),
        json!({ "i": { "id": id } }),
    )
    .await
}

#[tokio::test]
async fn admins_list_the_outbox_by_status_and_retry_a_dead_message_once() {
    let app = spawn_outbox_app().await;
    let tenant = app.create_tenant("acme").await;
    let (dying, _) = finalized(&app, &tenant, 5_000).await;
    let failing = Recording::new(unreachable_provider);
    let state = with_provider(&app, failing.clone());
    // `spawn_outbox_app` parks a message after 3 attempts.
    for _ in 0..3 {
        deliver_due(&state).await.expect("attempt");
        state.clock.advance(TimeDelta::hours(1)).expect("advance");
    }
    assert_eq!(failing.calls(dying), 3);
    // Two collected, and one finalized after the run, still waiting.
    let (paid, _) = finalized(&app, &tenant, 7_000).await;
    let (paid_too, _) = finalized(&app, &tenant, 9_000).await;
    let paying = Recording::new(pays);
    let paying_state = with_provider(&app, paying.clone());
    deliver_due(&paying_state).await.expect("deliver");
    let (pending, _) = finalized(&app, &tenant, 11_000).await;

    // Each invoice also has its emails in the outbox (`emails.rs`); these are the collections.
    let all = nodes(
        &list(&app, &app.admin_token, json!({ "k": "COLLECT_INVOICE" })).await,
        "outboxMessages",
    );
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all.iter()
            .all(|m| m["kind"] == "COLLECT_INVOICE" && m["tenantId"] == tenant.as_str())
    );

    let dead = nodes(
        &list(&app, &app.admin_token, json!({ "s": "DEAD" })).await,
        "outboxMessages",
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    let dead = &dead[0];
    assert_eq!(dead["reference"], dying.to_string().as_str());
    assert_eq!(int_of(&dead["attempts"]), 3);
    assert!(
        str_of(&dead["lastError"]).contains("did not answer"),
        "the last error is shown: {dead}"
    );
    let done = nodes(
        &list(
            &app,
            &app.admin_token,
            json!({ "s": "DONE", "k": "COLLECT_INVOICE" }),
        )
        .await,
        "outboxMessages",
    );
    let mut done: Vec<&str> = done.iter().map(|m| str_of(&m["reference"])).collect();
    done.sort();
    let mut expected = [paid.to_string(), paid_too.to_string()];
    expected.sort();
    assert_eq!(done, expected, "the two collected");
    let waiting_now = nodes(
        &list(
            &app,
            &app.admin_token,
            json!({ "s": "PENDING", "k": "COLLECT_INVOICE" }),
        )
        .await,
        "outboxMessages",
    );
    assert_eq!(waiting_now.len(), 1, "{waiting_now:?}");
    assert_eq!(waiting_now[0]["reference"], pending.to_string().as_str());
    let first_page = list(
        &app,
        &app.admin_token,
        json!({ "first": 2, "k": "COLLECT_INVOICE" }),
    )
    .await;
    assert_eq!(nodes(&first_page, "outboxMessages").len(), 2);
    assert_eq!(
        first_page.data()["outboxMessages"]["pageInfo"]["hasNextPage"],
        true
    );

    // Tenants see none of it, and cannot retry.
    let owner = app.tenant_token(&tenant, Role::Owner);
    list(&app, &owner, json!({})).await.expect_code("FORBIDDEN");
    let id = str_of(&dead["id"]).to_owned();
    retry(&app, &owner, &id).await.expect_code("FORBIDDEN");

    // A retry makes it due now with a fresh count; the next run carries it out, once.
    let revived = retry(&app, &app.admin_token, &id).await;
    let revived = &revived.data()["retryOutboxMessage"]["message"];
    assert_eq!(revived["status"], "PENDING", "{revived}");
    assert_eq!(int_of(&revived["attempts"]), 0);
    let report = deliver_due(&paying_state).await.expect("deliver");
    assert_eq!(
        report.sent, 2,
        "the revived message and the pending one: {report:?}"
    );
    assert_eq!(paying.calls(dying), 1);
    assert_eq!(invoice_status(&app, dying).await, "PAID");

    // Only a dead message can be retried.
    let again = retry(&app, &app.admin_token, &id).await;
    assert_eq!(
        again.expect_code("CONFLICT")["extensions"]["reason"],
        "ILLEGAL_TRANSITION"
    );
    retry(&app, &app.admin_token, "obx_nope")
        .await
        .expect_code("VALIDATION");
    retry(&app, &app.admin_token, &tenant)
        .await
        .expect_code("VALIDATION");
    let unknown = billing::domain::OutboxMessageId::new().to_string();
    retry(&app, &app.admin_token, &unknown)
        .await
        .expect_code("NOT_FOUND");
    assert_eq!(paying.calls(dying), 1, "nothing sent twice");
}
