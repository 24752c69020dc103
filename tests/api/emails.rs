//! Email notifications against a real SMTP server on loopback (aiosmtpd, `helpers/smtp.rs`):
//! every notification is emailed once through the outbox, in the tenant's language, to its
//! billing email and its owner and billing users; a 550 address is given up, a server that is
//! down or answers 451 is retried later, and two workers still send each email once. The app's
//! own outbox worker is off; the tests run it by hand and move the standing clock past the
//! back-off.
use std::collections::HashMap;

use billing::domain::{
    InvoiceId, LedgerEntryId, NewNotification, NotificationKind, OutboxKind, OutboxStatus, Role,
    SubscriptionId, TopupId,
};
use billing::jobs::deliver_due;
use chrono::TimeDelta;
use serde_json::json;

use crate::helpers::*;

async fn email_app(smtp: Option<&SmtpSink>) -> TestApp {
    let url = smtp.map(SmtpSink::url);
    spawn_app_with(|c| {
        c.clock_start = Some("2026-05-01T00:00:00Z".parse().expect("start"));
        c.outbox_interval_ms = 0;
        c.smtp_url = url.map(billing::config::Secret::new);
        c.public_url = "https://app.example.com".into();
    })
    .await
}

async fn tenant(app: &TestApp, slug: &str, locale: &str) -> String {
    let r = app
        .as_admin(
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            json!({ "i": { "name": format!("Tenant {slug}"), "slug": slug,
                "billingEmail": format!("billing@{slug}.example.com"), "locale": locale } }),
        )
        .await;
    str_of(&r.data()["createTenant"]["tenant"]["id"]).to_owned()
}

/// Runs the outbox until nothing is due now.
async fn deliver(app: &TestApp) -> billing::jobs::OutboxReport {
    deliver_due(&app.state).await.expect("deliver")
}

/// Moves the clock past any email back-off.
fn later(app: &TestApp) {
    app.state
        .clock
        .advance(TimeDelta::hours(2))
        .expect("advance the clock");
}

async fn record(app: &TestApp, new: NewNotification) {
    assert!(
        billing::store::notify::record_once(&app.state.db, new)
            .await
            .expect("record")
    );
}

/// Messages per envelope recipient.
fn by_recipient(received: &[Received]) -> HashMap<String, Vec<Received>> {
    let mut out: HashMap<String, Vec<Received>> = HashMap::new();
    for m in received {
        for to in &m.envelope_to {
            out.entry(to.clone()).or_default().push(m.clone());
        }
    }
    out
}

/// Each subject's words per kind, in pt-BR and English.
fn subject_words(kind: NotificationKind) -> (&'static str, &'static str) {
    match kind {
        NotificationKind::InvoiceFinalized => ("emitida", "issued"),
        NotificationKind::PaymentSucceeded => ("Recibo", "Receipt"),
        NotificationKind::PaymentFailed => ("Falha no pagamento", "failed"),
        NotificationKind::PaymentActionRequired => ("Confirme o pagamento", "Confirm the payment"),
        NotificationKind::PaymentMethodRequired => ("meio de pagamento", "payment method"),
        NotificationKind::InvoiceOverdue => ("vencida", "overdue"),
        NotificationKind::TrialEnding => ("teste", "trial"),
        NotificationKind::UsageLimit80 => ("80%", "80%"),
        NotificationKind::UsageLimit100 => ("100%", "100%"),
        NotificationKind::LowBalance => ("Saldo de créditos baixo", "Low credit balance"),
        NotificationKind::CreditsDepleted => ("acabaram", "used up"),
        NotificationKind::TopupCompleted => ("Recarga", "top-up completed"),
    }
}

/// One notification of every kind for `tenant`, about a real finalized invoice.
async fn every_kind(app: &TestApp, tenant: &str) -> Vec<NotificationKind> {
    let (invoice, _) = finalized(app, tenant, 12_345).await; // records invoice_finalized
    let t = billing::domain::TenantId::parse("t", tenant).expect("tenant id");
    let now = app.state.clock.now();
    let (sub, retry) = (SubscriptionId::new(), now + TimeDelta::days(3));
    let money = billing::domain::Money::new(12_345, billing::domain::Currency::BRL);
    for new in [
        NewNotification::payment_succeeded(t, invoice, "2026-000001", money, now),
        NewNotification::payment_failed(t, invoice, 1, "card_declined", Some(retry), now),
        NewNotification::payment_action_required(t, invoice, 1, "pi_secret", now),
        NewNotification::payment_method_required(t, invoice, now),
        NewNotification::invoice_overdue(t, invoice, None, now),
        NewNotification::trial_ending(t, sub, now + TimeDelta::days(3), now),
        NewNotification::usage_limit(t, sub, 1, "api_calls", 80, now),
        NewNotification::usage_limit(t, sub, 1, "api_calls", 100, now),
        NewNotification::low_balance(t, LedgerEntryId::new(), Default::default(), 10, now),
        NewNotification::credits_depleted(t, LedgerEntryId::new(), now),
        NewNotification::topup_completed(t, TopupId::new(), Default::default(), now),
    ] {
        record(app, new).await;
    }
    NotificationKind::ALL.to_vec()
}

#[tokio::test]
async fn every_kind_is_emailed_once_in_the_tenants_language_with_text_and_html() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let pt = tenant(&app, "acme-pt", "pt-BR").await;
    let en = tenant(&app, "acme-en", "en-US").await;
    let kinds = every_kind(&app, &pt).await;
    every_kind(&app, &en).await;
    let report = deliver(&app).await;
    assert_eq!(report.emailed, 24, "{report:?}");

    let got = by_recipient(&smtp.received());
    for (who, lang, pick) in [
        ("billing@acme-pt.example.com", "pt-BR", 0),
        ("billing@acme-en.example.com", "en", 1),
    ] {
        let mine = &got[who];
        assert_eq!(mine.len(), kinds.len(), "{who}: one email per notification");
        for kind in &kinds {
            let words = subject_words(*kind);
            let word = if pick == 0 { words.0 } else { words.1 };
            let m = mine
                .iter()
                .find(|m| m.subject.contains(word))
                .unwrap_or_else(|| panic!("{who}: no {kind:?} email ({word}) in {mine:#?}"));
            assert_eq!(m.content_language, lang, "{kind:?}");
            assert!(m.html.contains(&format!("lang=\"{lang}\"")), "{kind:?}");
            assert!(
                m.text.contains("https://app.example.com/"),
                "{kind:?}: {}",
                m.text
            );
            assert!(
                m.html.contains("<a href=\"https://app.example.com/"),
                "{kind:?}"
            );
            assert!(m.message_id.ends_with("@billing.notifications"), "{kind:?}");
        }
    }
    // The issued invoice carries its PDF; the others carry nothing.
    for who in ["billing@acme-pt.example.com", "billing@acme-en.example.com"] {
        for m in &got[who] {
            if m.subject.contains("emitida") || m.subject.contains("issued") {
                assert_eq!(m.attachments.len(), 1, "{who}: {}", m.subject);
                let (name, bytes) = &m.attachments[0];
                assert!(name.ends_with(".pdf"), "{name}");
                assert!(bytes.starts_with(b"%PDF"), "{who}: the attachment is a PDF");
            } else {
                assert!(m.attachments.is_empty(), "{who}: {}", m.subject);
            }
        }
    }
    // Values come in the tenant's formats, and the failed payment names the retry date and
    // the card page.
    let pt_failed = got["billing@acme-pt.example.com"]
        .iter()
        .find(|m| m.subject.contains("Falha"))
        .expect("failed payment email")
        .clone();
    assert!(pt_failed.text.contains("R$ 123,45"), "{}", pt_failed.text);
    assert!(pt_failed.text.contains("04/05/2026"), "{}", pt_failed.text);
    assert!(
        pt_failed
            .text
            .contains("https://app.example.com/billing/payment-method")
    );
    let en_failed = got["billing@acme-en.example.com"]
        .iter()
        .find(|m| m.subject.contains("failed"))
        .expect("failed payment email")
        .clone();
    assert!(en_failed.text.contains("2026-05-04"), "{}", en_failed.text);

    // Nothing is emailed twice.
    later(&app);
    assert_eq!(deliver(&app).await.emailed, 0);
    assert_eq!(smtp.received().len(), 24);
}

#[tokio::test]
async fn recipients_are_the_billing_email_and_owner_and_billing_users_not_members() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant(&app, "acme", "pt-BR").await;
    app.create_user(
        Some(&t),
        "Owner@Acme.example.com",
        "OWNER",
        "a-long-password-1",
    )
    .await;
    app.create_user(
        Some(&t),
        "money@acme.example.com",
        "BILLING",
        "a-long-password-1",
    )
    .await;
    app.create_user(
        Some(&t),
        "dev@acme.example.com",
        "MEMBER",
        "a-long-password-1",
    )
    .await;
    tenant(&app, "other", "pt-BR").await;
    finalized(&app, &t, 5_000).await;
    deliver(&app).await;

    let got = smtp.received();
    let mut to: Vec<String> = got.iter().flat_map(|m| m.envelope_to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "billing@acme.example.com",
            "money@acme.example.com",
            "owner@acme.example.com"
        ],
        "one email each, members and other tenants left out"
    );
    assert!(got.iter().all(|m| m.subject.contains("emitida")));
}

#[tokio::test]
async fn a_kind_turned_off_is_not_emailed_and_payment_failures_cannot_be_turned_off() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant(&app, "acme", "en").await;
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
    let other = tenant(&app, "other", "en").await;
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
    let report = deliver(&app).await;
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

/// The `notificationEmails` of a notification, as (address, status, smtpCode).
async fn email_status(app: &TestApp, notification: &str) -> Vec<(String, String, Option<i64>)> {
    let r = app
        .as_admin(
            "query($n: ID!) { notificationEmails(notificationId: $n) { address status smtpCode } }",
            json!({ "n": notification }),
        )
        .await;
    r.data()["notificationEmails"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            (
                str_of(&d["address"]).to_owned(),
                str_of(&d["status"]).to_owned(),
                d["smtpCode"].as_i64(),
            )
        })
        .collect()
}

async fn only_notification(app: &TestApp) -> String {
    let r = app
        .as_admin(
            "{ notifications(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let all = nodes(&r, "notifications");
    assert_eq!(all.len(), 1, "{all:?}");
    str_of(&all[0]["id"]).to_owned()
}

async fn email_rows(app: &TestApp) -> Vec<billing::domain::OutboxMessage> {
    let mut rows = billing::store::outbox::list(&app.state.db, 1_000)
        .await
        .expect("outbox");
    rows.retain(|m| m.kind == OutboxKind::SendEmail);
    rows
}

#[tokio::test]
async fn an_address_refused_with_550_is_marked_failed_and_never_retried() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant(&app, "acme", "en").await;
    app.create_user(
        Some(&t),
        "gone@acme.example.com",
        "OWNER",
        "a-long-password-1",
    )
    .await;
    smtp.reject(&["gone@acme.example.com"]);
    finalized(&app, &t, 5_000).await;
    let report = deliver(&app).await;
    assert_eq!((report.emailed, report.retried), (1, 0), "{report:?}");
    let n = only_notification(&app).await;
    assert_eq!(
        email_status(&app, &n).await,
        [
            ("billing@acme.example.com".into(), "SENT".into(), None),
            ("gone@acme.example.com".into(), "FAILED".into(), Some(550)),
        ]
    );
    let rows = email_rows(&app).await;
    assert_eq!(rows[0].status, OutboxStatus::Done);

    // Even once the address would be accepted, it is not tried again.
    smtp.reject(&[]);
    later(&app);
    assert_eq!(deliver(&app).await.emailed, 0);
    let to: Vec<String> = smtp
        .received()
        .iter()
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    assert_eq!(to, ["billing@acme.example.com"]);
}

#[tokio::test]
async fn a_server_down_then_answering_451_then_back_still_delivers_each_email_once() {
    let mut smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant(&app, "acme", "pt-BR").await;
    app.create_user(
        Some(&t),
        "owner@acme.example.com",
        "OWNER",
        "a-long-password-1",
    )
    .await;
    let mut invoices: Vec<InvoiceId> = Vec::new();
    smtp.stop();
    for amount in [1_000, 2_000, 3_000] {
        invoices.push(finalized(&app, &t, amount).await.0);
    }
    let down = deliver(&app).await;
    assert_eq!((down.emailed, down.retried), (0, 3), "{down:?}");
    assert!(
        email_rows(&app)
            .await
            .iter()
            .all(|m| m.status == OutboxStatus::Pending && m.last_error.is_some())
    );
    // Nothing is due again before the back-off has passed.
    assert_eq!(deliver(&app).await, Default::default());

    // Back, but answering 451 to the owner: the billing email gets its three, the owner none.
    smtp.restart();
    smtp.tempfail(&["owner@acme.example.com"]);
    later(&app);
    let partial = deliver(&app).await;
    assert_eq!((partial.emailed, partial.retried), (0, 3), "{partial:?}");
    assert_eq!(smtp.received().len(), 3);

    // Then accepting everyone: only the owner's emails are sent now.
    smtp.tempfail(&[]);
    later(&app);
    let back = deliver(&app).await;
    assert_eq!((back.emailed, back.retried), (3, 0), "{back:?}");
    let got = by_recipient(&smtp.received());
    for who in ["billing@acme.example.com", "owner@acme.example.com"] {
        let mut subjects: Vec<String> = got[who].iter().map(|m| m.subject.clone()).collect();
        subjects.sort();
        subjects.dedup();
        assert_eq!(got[who].len(), 3, "{who}: exactly once each");
        assert_eq!(subjects.len(), 3, "{who}: one per invoice");
    }
    later(&app);
    assert_eq!(deliver(&app).await.emailed, 0);
    assert_eq!(smtp.received().len(), 6);
}

#[tokio::test]
async fn two_workers_on_two_replicas_email_each_notification_once() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let replica = app.restarted().await;
    let t = tenant(&app, "acme", "en").await;
    for i in 0..12 {
        finalized(&app, &t, 1_000 + i).await;
    }
    let (a, b) = tokio::join!(deliver_due(&app.state), deliver_due(&replica.state));
    let (a, b) = (a.expect("worker a"), b.expect("worker b"));
    assert_eq!(a.emailed + b.emailed, 12, "{a:?} {b:?}");
    let got = smtp.received();
    let mut ids: Vec<String> = got.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(got.len(), 12);
    assert_eq!(ids.len(), 12, "no message sent twice");
}

#[tokio::test]
async fn without_an_smtp_server_emails_are_written_as_eml_files_once() {
    let app = email_app(None).await;
    let dir = std::path::PathBuf::from(&app.state.config.email_dir);
    let t = tenant(&app, "acme", "pt-BR").await;
    app.create_user(
        Some(&t),
        "owner@acme.example.com",
        "OWNER",
        "a-long-password-1",
    )
    .await;
    finalized(&app, &t, 5_000).await;
    assert_eq!(deliver(&app).await.emailed, 1);
    let files = read_folder(&dir);
    assert_eq!(files.len(), 2, "one file per recipient");
    assert!(files.iter().all(|m| m.subject.contains("emitida")));
    assert!(files.iter().all(|m| m.content_language == "pt-BR"));
    assert!(
        files
            .iter()
            .all(|m| !m.text.is_empty() && !m.html.is_empty())
    );
    // Sending it again, as a second worker whose lease ran out would, writes nothing new:
    // every recipient is done.
    let n = only_notification(&app).await;
    let id = billing::domain::NotificationId::parse("n", &n).expect("id");
    let statuses = email_status(&app, &n).await;
    assert_eq!(statuses.len(), 2);
    assert!(statuses.iter().all(|d| d.1 == "SENT"), "{statuses:?}");
    billing::mail::send_notification(&app.state, id, 2)
        .await
        .expect("send again");
    assert_eq!(read_folder(&dir).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
