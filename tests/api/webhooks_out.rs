//! Webhooks to the SaaS: endpoints with roles and tenant isolation, bad input, Standard
//! Webhooks signatures checked by the `standardwebhooks` Python package (with a secret
//! rotation), and the documented payload of each event.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

async fn endpoints(app: &TestApp, token: &str) -> Gql {
    app.as_token(
        token,
        &format!("{{ webhookEndpoints {{ {ENDPOINT_FIELDS} }} }}"),
        json!({}),
    )
    .await
}

fn ids(r: &Gql) -> Vec<String> {
    r.data()["webhookEndpoints"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn owners_and_billing_users_manage_their_own_endpoints_and_never_another_tenants() {
    let app = spawn_webhooks_app().await;
    let (a, owner_a) = app.tenant_with_owner("hooks-a").await;
    let (_b, owner_b) = app.tenant_with_owner("hooks-b").await;
    let billing_a = app.tenant_token(&a, Role::Billing);
    let member_a = app.tenant_token(&a, Role::Member);

    let ep = app
        .endpoint_for(
            &owner_a,
            json!({ "url": "https://hooks.example.com/a", "eventTypes": ["invoice.paid"] }),
        )
        .await;
    let id = ep["id"].as_str().expect("id").to_owned();
    assert_eq!(ep["tenantId"], a.as_str());
    assert_eq!(ep["eventTypes"], json!(["invoice.paid"]));
    assert_eq!(ep["enabled"], true);
    assert!(ep["secret"].as_str().expect("secret").starts_with("whsec_"));
    let by_billing = app
        .endpoint_for(&billing_a, json!({ "url": "https://hooks.example.com/a2" }))
        .await;
    assert_eq!(by_billing["eventTypes"], json!([]));
    let operator = app
        .endpoint_for(
            &app.admin_token.clone(),
            json!({ "url": "https://ops.example.com/all" }),
        )
        .await;
    assert_eq!(operator["tenantId"], Value::Null);

    // Members may not; another tenant sees nothing of A's and cannot name it.
    app.create_endpoint(&member_a, json!({ "url": "https://x.example.com/" }))
        .await
        .expect_code("FORBIDDEN");
    endpoints(&app, &member_a).await.expect_code("FORBIDDEN");
    assert_eq!(ids(&endpoints(&app, &owner_a).await).len(), 2);
    assert!(ids(&endpoints(&app, &owner_b).await).is_empty());
    app.create_endpoint(
        &owner_b,
        json!({ "tenantId": a, "url": "https://x.example.com/" }),
    )
    .await
    .expect_code("FORBIDDEN");
    let all = ids(&endpoints(&app, &app.admin_token.clone()).await);
    assert_eq!(all.len(), 3, "admins see every endpoint");
    assert!(
        !ids(&endpoints(&app, &owner_a).await)
            .contains(&operator["id"].as_str().expect("id").to_owned())
    );

    let update = "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { endpoint { id url eventTypes enabled } } }";
    let rotate = "mutation($i: WebhookEndpointIdInput!) { rotateWebhookSecret(input: $i) { endpoint { id secret previousSecretUntil } } }";
    let delete =
        "mutation($i: WebhookEndpointIdInput!) { deleteWebhookEndpoint(input: $i) { deletedId } }";
    for q in [update, rotate, delete] {
        app.as_token(&owner_b, q, json!({ "i": { "id": id } }))
            .await
            .expect_code("NOT_FOUND");
    }
    app.deliveries(&owner_b, &id).await.expect_code("NOT_FOUND");
    let again = ids(&endpoints(&app, &owner_a).await);
    assert!(again.contains(&id), "nothing changed");

    let r = app
        .as_token(&billing_a, update, json!({ "i": { "id": id, "url": "https://hooks.example.com/b", "eventTypes": ["invoice.paid", "invoice.voided"], "enabled": false } }))
        .await;
    let changed = &r.data()["updateWebhookEndpoint"]["endpoint"];
    assert_eq!(changed["url"], "https://hooks.example.com/b");
    assert_eq!(
        changed["eventTypes"],
        json!(["invoice.paid", "invoice.voided"])
    );
    assert_eq!(changed["enabled"], false);
    let r = app
        .as_token(&owner_a, rotate, json!({ "i": { "id": id } }))
        .await;
    let rotated = &r.data()["rotateWebhookSecret"]["endpoint"];
    assert_ne!(rotated["secret"], ep["secret"]);
    assert_eq!(rotated["previousSecretUntil"], "2026-03-02T00:00:00+00:00");
    let r = app
        .as_token(&owner_a, delete, json!({ "i": { "id": id } }))
        .await;
    assert_eq!(r.data()["deleteWebhookEndpoint"]["deletedId"], id.as_str());
    assert!(!ids(&endpoints(&app, &owner_a).await).contains(&id));
}

#[tokio::test]
async fn bad_urls_and_unknown_event_types_are_refused_and_change_nothing() {
    let app = spawn_app_with(|c| c.webhooks_allow_private = false).await;
    let (_, owner) = app.tenant_with_owner("hooks-bad").await;
    let long = format!("https://hooks.example.com/{}", "a".repeat(2100));
    for url in [
        "ftp://hooks.example.com/x",
        "javascript:alert(1)",
        "not a url",
        long.as_str(),
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.10/hook",
    ] {
        let r = app.create_endpoint(&owner, json!({ "url": url })).await;
        let err = r.expect_code("VALIDATION");
        assert_eq!(err["extensions"]["field"], "url", "{url}: {}", r.body);
    }
    let r = app
        .create_endpoint(&owner, json!({ "url": "https://hooks.example.com/", "eventTypes": ["invoice.paid", "invoice.exploded"] }))
        .await;
    assert_eq!(
        r.expect_code("VALIDATION")["extensions"]["field"],
        "eventTypes"
    );
    assert!(
        ids(&endpoints(&app, &owner).await).is_empty(),
        "nothing was created"
    );

    let ep = app
        .endpoint_for(&owner, json!({ "url": "https://hooks.example.com/" }))
        .await;
    let update = "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { endpoint { id } } }";
    for patch in [
        json!({ "id": ep["id"], "url": "http://127.0.0.1/x" }),
        json!({ "id": ep["id"], "eventTypes": ["nope"] }),
    ] {
        app.as_token(&owner, update, json!({ "i": patch }))
            .await
            .expect_code("VALIDATION");
    }
    app.as_token(
        &owner,
        update,
        json!({ "i": { "id": "whe_00000000000000000000000000000000" } }),
    )
    .await
    .expect_code("NOT_FOUND");
    app.as_token(&owner, update, json!({ "i": { "id": "inv_1" } }))
        .await
        .expect_code("VALIDATION");
    let r = endpoints(&app, &owner).await;
    let list = r.data()["webhookEndpoints"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["url"], "https://hooks.example.com/");
    assert_eq!(list[0]["eventTypes"], json!([]));
}

#[tokio::test]
async fn every_signature_verifies_with_standardwebhooks_through_a_secret_rotation() {
    let app = spawn_webhooks_app().await;
    let (tenant, owner) = app.tenant_with_owner("hooks-sig").await;
    let (mine, ops) = (
        WebhookReceiver::start().await,
        WebhookReceiver::start().await,
    );
    let ep = app.endpoint_for(&owner, json!({ "url": mine.url })).await;
    let op = app
        .endpoint_for(
            &app.admin_token.clone(),
            json!({ "url": ops.url, "eventTypes": ["tenant.suspended"] }),
        )
        .await;
    let s1 = ep["secret"].as_str().expect("secret").to_owned();
    let s_op = op["secret"].as_str().expect("secret").to_owned();

    app.suspend(&tenant).await;
    app.run_jobs().await;
    let r = app
        .as_token(&owner, "mutation($i: WebhookEndpointIdInput!) { rotateWebhookSecret(input: $i) { endpoint { secret } } }", json!({ "i": { "id": ep["id"] } }))
        .await;
    let s2 = r.data()["rotateWebhookSecret"]["endpoint"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    app.reactivate(&tenant).await;
    app.run_jobs().await;
    // Past the 24 h overlap only the new secret signs.
    app.advance_days(2).await;
    app.suspend(&tenant).await;
    app.run_jobs().await;

    let got = mine.accepted();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].signature.split(' ').count(), 1);
    assert_eq!(
        got[1].signature.split(' ').count(),
        2,
        "both secrets sign in the overlap"
    );
    assert_eq!(got[2].signature.split(' ').count(), 1);
    let op_got = ops.accepted();
    assert_eq!(
        op_got.len(),
        2,
        "the operator's filter lets only tenant.suspended through"
    );
    let mut tampered = got[0].clone();
    tampered.body = tampered.body.replace("suspended", "active");
    let mut old_timestamp = got[0].clone();
    old_timestamp.timestamp = (old_timestamp.timestamp.parse::<i64>().expect("ts") - 1).to_string();

    let verdicts = verify_with_standardwebhooks(&[
        ("before_rotation", &s1, &got[0]),
        ("overlap_old_secret", &s1, &got[1]),
        ("overlap_new_secret", &s2, &got[1]),
        ("after_overlap_new_secret", &s2, &got[2]),
        ("operator", &s_op, &op_got[0]),
        ("operator_second", &s_op, &op_got[1]),
        ("tampered_body", &s1, &tampered),
        ("changed_timestamp", &s1, &old_timestamp),
        ("before_rotation_new_secret", &s2, &got[0]),
        ("after_overlap_old_secret", &s1, &got[2]),
        ("wrong_endpoint_secret", &s1, &op_got[0]),
    ]);
    let expected = [
        true, true, true, true, true, true, false, false, false, false, false,
    ];
    for ((label, ok), want) in verdicts.iter().zip(expected) {
        assert_eq!(*ok, want, "{label}");
    }
}

/// The `data` of the first accepted request of `kind`.
fn data_of(got: &[ReceivedWebhook], kind: &str) -> Value {
    let r = got
        .iter()
        .find(|r| r.event_type() == kind)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} among {:?}",
                got.iter()
                    .map(ReceivedWebhook::event_type)
                    .collect::<Vec<_>>()
            )
        });
    let body = r.json();
    assert_eq!(body["timestamp"], "2026-03-01T00:00:00Z", "{kind}");
    body["data"].clone()
}

#[tokio::test]
async fn each_event_arrives_once_with_its_documented_payload() {
    let app = spawn_webhooks_app().await;
    app.create_plan("hooks-pro", 4_900, None, 0).await;
    let receiver = WebhookReceiver::start().await;
    let (tenant, owner) = app.tenant_with_owner("hooks-events").await;
    let ep = app
        .endpoint_for(&owner, json!({ "url": receiver.url }))
        .await;

    let created = app
        .subscribe(&owner, json!({ "planCode": "hooks-pro" }))
        .await;
    let sub = created.data()["createSubscription"]["subscription"]["id"]
        .as_str()
        .expect("sub")
        .to_owned();
    let first = created.data()["createSubscription"]["invoice"]["id"]
        .as_str()
        .expect("invoice")
        .to_owned();
    app.as_admin(
        "mutation($id: ID!) { markInvoicePaid(id: $id) { id } }",
        json!({ "id": first }),
    )
    .await
    .data();
    let (voided, _) = finalized(&app, &tenant, 1_000).await;
    app.as_admin(
        "mutation($id: ID!) { voidInvoice(id: $id) { id } }",
        json!({ "id": voided.to_string() }),
    )
    .await
    .data();
    app.as_token(
        &owner,
        "mutation { cancelSubscription(input: { atPeriodEnd: true }) { subscription { id } } }",
        json!({}),
    )
    .await
    .data();
    app.suspend(&tenant).await;
    app.reactivate(&tenant).await;
    app.run_jobs().await;
    app.run_jobs().await;

    let got = receiver.accepted();
    let kinds: Vec<String> = got.iter().map(ReceivedWebhook::event_type).collect();
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "each event once: {kinds:?}");
    assert!(got.iter().all(|r| r.id.starts_with("msg_")));

    let d = data_of(&got, "subscription.created");
    assert_eq!(d["tenant_id"], tenant.as_str());
    assert_eq!(d["subscription_id"], sub.as_str());
    assert_eq!(d["status"], "active");
    assert_eq!(d["cancel_at_period_end"], false);
    let d = data_of(&got, "invoice.finalized");
    assert_eq!(d["invoice_id"], first.as_str());
    assert_eq!(d["status"], "open");
    assert_eq!(d["currency"], "BRL");
    assert_eq!(d["total_minor"], 4_900);
    assert_eq!(d["amount_due_minor"], 4_900);
    assert_eq!(d["subscription_id"], sub.as_str());
    let d = data_of(&got, "invoice.paid");
    assert_eq!(d["invoice_id"], first.as_str());
    assert_eq!(d["status"], "paid");
    assert_eq!(d["amount_paid_minor"], 4_900);
    let d = data_of(&got, "invoice.voided");
    assert_eq!(d["invoice_id"], voided.to_string());
    assert_eq!(d["status"], "void");
    assert_eq!(d["total_minor"], 1_000);
    let d = data_of(&got, "subscription.updated");
    assert_eq!(d["subscription_id"], sub.as_str());
    assert_eq!(d["cancel_at_period_end"], true);
    let d = data_of(&got, "tenant.suspended");
    assert_eq!(
        d,
        json!({ "tenant_id": tenant, "status": "suspended", "reason": "unpaid" })
    );
    let d = data_of(&got, "tenant.reactivated");
    assert_eq!(d, json!({ "tenant_id": tenant, "status": "active" }));
    let kinds_set: std::collections::HashSet<&str> = kinds.iter().map(String::as_str).collect();
    assert_eq!(kinds_set.len(), 7, "{kinds:?}");

    // The log lists each as succeeded with the receiver's status code.
    let log = app.deliveries_of(ep["id"].as_str().expect("id")).await;
    assert_eq!(log.len(), got.len());
    for d in &log {
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(d["lastStatusCode"], 204);
        assert_eq!(d["attempts"], 1);
    }
}
