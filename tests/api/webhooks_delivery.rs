//! Webhook delivery: order per endpoint through a receiver that fails for a while, disabling
//! after 5 days of failures with the owner's notification, the delivery log and replays, and
//! the private-address check at delivery time.
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_later_event_waits_until_the_earlier_one_succeeded() {
    let app = spawn_webhooks_app().await;
    let receiver = WebhookReceiver::start().await;
    let (tenant, owner) = app.tenant_with_owner("hooks-order").await;
    let ep = app
        .endpoint_for(&owner, json!({ "url": receiver.url }))
        .await;
    receiver.fail_next(3);
    app.suspend(&tenant).await;
    app.reactivate(&tenant).await;
    app.suspend(&tenant).await;
    app.run_jobs().await;

    let seen = receiver.received();
    assert_eq!(
        seen.len(),
        3,
        "each message tried the first event only: {seen:?}"
    );
    assert!(seen.iter().all(|r| r.answered == 500));
    let first_id = seen[0].id.clone();
    assert!(
        seen.iter().all(|r| r.id == first_id),
        "nothing after the first was sent"
    );
    let log = app.deliveries_of(ep["id"].as_str().expect("id")).await;
    assert_eq!(log[0]["status"], "PENDING");
    assert_eq!(log[0]["lastStatusCode"], 500);
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[1]["attempts"], 0);

    // The receiver recovers; the retries send the three in order.
    app.advance_days(1).await;
    let got = receiver.accepted();
    let kinds: Vec<String> = got.iter().map(ReceivedWebhook::event_type).collect();
    assert_eq!(
        kinds,
        ["tenant.suspended", "tenant.reactivated", "tenant.suspended"]
    );
    assert_eq!(got[0].id, first_id);
    assert_eq!(
        receiver.received().len(),
        6,
        "each event sent once after recovering"
    );
    let log = app.deliveries_of(ep["id"].as_str().expect("id")).await;
    assert!(log.iter().all(|d| d["status"] == "SUCCEEDED"), "{log:?}");
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["lastStatusCode"], 204);
    let r = app
        .as_token(
            &owner,
            &format!("{{ webhookEndpoints {{ {ENDPOINT_FIELDS} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["webhookEndpoints"][0]["failingSince"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_and_its_owner_told() {
    let app = spawn_webhooks_app().await;
    let receiver = WebhookReceiver::start().await;
    let (tenant, owner) = app.tenant_with_owner("hooks-down").await;
    let ep = app
        .endpoint_for(&owner, json!({ "url": receiver.url }))
        .await;
    let id = ep["id"].as_str().expect("id").to_owned();
    receiver.fail_next(usize::MAX);
    app.suspend(&tenant).await;
    app.run_jobs().await;
    app.advance_days(4).await;
    let read = format!("{{ webhookEndpoints {{ {ENDPOINT_FIELDS} }} }}");
    let r = app.as_token(&owner, &read, json!({})).await;
    let now = &r.data()["webhookEndpoints"][0];
    assert_eq!(now["enabled"], true, "four days of failures are not enough");
    assert_eq!(now["failingSince"], "2026-03-01T00:00:00+00:00");
    assert!(
        app.notifications_of_kind(&tenant, "webhook_endpoint_disabled")
            .await
            .is_empty()
    );

    app.advance_days(1).await;
    let r = app.as_token(&owner, &read, json!({})).await;
    let now = &r.data()["webhookEndpoints"][0];
    assert_eq!(now["enabled"], false);
    assert_eq!(now["disabledAt"], "2026-03-06T00:00:00+00:00");
    let notes = app
        .notifications_of_kind(&tenant, "webhook_endpoint_disabled")
        .await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["reference"], id.as_str());
    let log = app.deliveries_of(&id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "FAILED");
    assert_eq!(log[0]["lastStatusCode"], 500);

    // A disabled endpoint gets no new deliveries, and no more requests.
    let tried = receiver.received().len();
    app.reactivate(&tenant).await;
    app.advance_days(1).await;
    assert_eq!(app.deliveries_of(&id).await.len(), 1);
    assert_eq!(receiver.received().len(), tried);
    assert_eq!(
        app.notifications_of_kind(&tenant, "webhook_endpoint_disabled")
            .await
            .len(),
        1
    );

    // Enabled again and replayed, the given-up event arrives with its original id.
    let replay = "mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) { delivery { id status replayOf eventId } } }";
    app.as_token(&owner, replay, json!({ "i": { "id": log[0]["id"] } }))
        .await
        .expect_code("CONFLICT");
    app.as_token(&owner, "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { endpoint { id } } }", json!({ "i": { "id": id, "enabled": true } }))
        .await
        .data();
    receiver.fail_next(0);
    let r = app
        .as_token(&owner, replay, json!({ "i": { "id": log[0]["id"] } }))
        .await;
    let new = &r.data()["replayWebhookDelivery"]["delivery"];
    assert_eq!(new["status"], "PENDING");
    assert_eq!(new["replayOf"], log[0]["id"]);
    app.run_jobs().await;
    let got = receiver.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, log[0]["eventId"].as_str().expect("event id"));
    assert_eq!(got[0].event_type(), "tenant.suspended");
}

#[tokio::test]
async fn the_delivery_log_and_replays_stay_within_the_tenant() {
    let app = spawn_webhooks_app().await;
    let receiver = WebhookReceiver::start().await;
    let (tenant, owner) = app.tenant_with_owner("hooks-log").await;
    let (_, other) = app.tenant_with_owner("hooks-log-other").await;
    let ep = app
        .endpoint_for(&owner, json!({ "url": receiver.url }))
        .await;
    app.suspend(&tenant).await;
    app.run_jobs().await;
    let r = app.deliveries(&owner, ep["id"].as_str().expect("id")).await;
    let log = nodes(&r, "webhookDeliveries");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "SUCCEEDED");
    assert_eq!(log[0]["eventType"], "tenant.suspended");
    assert_eq!(
        log[0]["payload"].as_str().expect("payload"),
        receiver.accepted()[0].body
    );

    let replay = "mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) { delivery { id status replayOf } } }";
    app.as_token(&other, replay, json!({ "i": { "id": log[0]["id"] } }))
        .await
        .expect_code("NOT_FOUND");
    app.as_token(&other, replay, json!({ "i": { "id": "whd_0" } }))
        .await
        .expect_code("VALIDATION");
    assert_eq!(
        app.deliveries_of(ep["id"].as_str().expect("id"))
            .await
            .len(),
        1,
        "nothing replayed"
    );

    let r = app
        .as_token(&owner, replay, json!({ "i": { "id": log[0]["id"] } }))
        .await;
    assert_eq!(
        r.data()["replayWebhookDelivery"]["delivery"]["replayOf"],
        log[0]["id"]
    );
    app.run_jobs().await;
    let got = receiver.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].id, got[1].id,
        "a replay carries the event's webhook-id"
    );
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(
        app.deliveries_of(ep["id"].as_str().expect("id"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn delivery_refuses_a_private_address_when_they_are_not_allowed() {
    let first = spawn_webhooks_app().await;
    let receiver = WebhookReceiver::start().await;
    let (tenant, owner) = first.tenant_with_owner("hooks-private").await;
    let ep = first
        .endpoint_for(&owner, json!({ "url": receiver.url }))
        .await;
    // The same database served by a process that does not allow private addresses: the
    // endpoint saved earlier still points at loopback, and delivery checks again.
    let app = first
        .restarted_with(|c| c.webhooks_allow_private = false)
        .await;
    app.suspend(&tenant).await;
    app.run_jobs().await;
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback receiver"
    );
    let log = app.deliveries_of(ep["id"].as_str().expect("id")).await;
    assert_eq!(log[0]["status"], "PENDING");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatusCode"], serde_json::Value::Null);
    let error = log[0]["lastError"].as_str().expect("error");
    assert!(error.contains("private address"), "{error}");
}
