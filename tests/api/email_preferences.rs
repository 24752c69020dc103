//! Which notification kinds a tenant gets by email: `notificationPreferences` and
//! `updateNotificationPreferences`, and a kind turned off is not emailed while payment failures
//! always are (against the real SMTP sink, see `emails.rs`).
use billing::domain::{NewNotification, NotificationKind, Role};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_kind_turned_off_is_not_emailed_and_payment_failures_cannot_be_turned_off() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant_in(&app, "acme", "en").await;
    let set = "mutation($t: ID, $p: [NotificationPreferenceInput!]!) { \
               updateNotificationPreferences(tenantId: $t, preferences: $p) { kind email canTurnOff } }";
    let get = "query($t: ID) { notificationPreferences(tenantId: $t) { kind email canTurnOff } }";
    let member = app.tenant_token(&t, Role::Member);
    app.as_token(&member, get, json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.as_token(
        &member,
        set,
        json!({ "p": [{ "kind": "INVOICE_FINALIZED", "email": false }] }),
    )
    .await
    .expect_code("FORBIDDEN");
    let other = tenant_in(&app, "other", "en").await;
    let owner = app.tenant_token(&t, Role::Owner);
    app.as_token(&owner, get, json!({ "t": other }))
        .await
        .expect_code("FORBIDDEN");

    // Refused as a whole: the allowed change in the same request is not made either.
    let refused = app
        .as_token(
            &owner,
            set,
            json!({ "p": [
                { "kind": "INVOICE_FINALIZED", "email": false },
                { "kind": "PAYMENT_FAILED", "email": false }
            ] }),
        )
        .await;
    refused.expect_code("VALIDATION");
    let prefs = app.as_token(&owner, get, json!({})).await;
    let prefs = prefs.data()["notificationPreferences"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(prefs.len(), NotificationKind::ALL.len());
    assert!(prefs.iter().all(|p| p["email"] == true), "{prefs:?}");
    let fixed: Vec<&str> = prefs
        .iter()
        .filter(|p| p["canTurnOff"] == false)
        .map(|p| str_of(&p["kind"]))
        .collect();
    assert_eq!(fixed, ["PAYMENT_FAILED", "PAYMENT_ACTION_REQUIRED"]);

    let billing = app.tenant_token(&t, Role::Billing);
    let done = app
        .as_token(
            &billing,
            set,
            json!({ "p": [{ "kind": "INVOICE_FINALIZED", "email": false }] }),
        )
        .await;
    let off: Vec<&str> = done.data()["updateNotificationPreferences"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| p["email"] == false)
        .map(|p| str_of(&p["kind"]))
        .collect();
    assert_eq!(off, ["INVOICE_FINALIZED"]);

    let (invoice, _) = finalized(&app, &t, 5_000).await;
    let tid = billing::domain::TenantId::parse("t", &t).expect("tenant");
    let now = app.state.clock.now();
    record(
        &app,
        NewNotification::payment_failed(tid, invoice, 1, "card_declined", None, now),
    )
    .await;
    let report = run_outbox(&app).await;
    assert_eq!(
        report.emailed, 2,
        "both outbox messages are done: {report:?}"
    );
    let got = smtp.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].subject.contains("failed"), "{}", got[0].subject);

    // The admin changes any tenant's preferences, and turning a kind back on works.
    let back = app
        .as_admin(
            set,
            json!({ "t": t, "p": [{ "kind": "INVOICE_FINALIZED", "email": true }] }),
        )
        .await;
    assert!(
        back.data()["updateNotificationPreferences"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["email"] == true)
    );
}
