//! Email notifications against a real SMTP server on loopback (aiosmtpd, `helpers/smtp.rs`):
//! every notification is emailed once through the outbox, in the tenant's language, to its
//! billing email and its owner and billing users; a 550 address is given up, a server that is
//! down or answers 451 is retried later, and two workers still send each email once. The app's
//! own outbox worker is off; the tests run it by hand and move the standing clock past the
//! back-off.
use billing::domain::{
    InvoiceId, LedgerEntryId, NewNotification, NotificationKind, OutboxStatus, SubscriptionId,
    TopupId, WebhookEndpointId,
};
use billing::jobs::deliver_due;
use chrono::TimeDelta;

use crate::helpers::*;

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
        NotificationKind::WebhookEndpointDisabled => ("desativado", "disabled"),
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
        NewNotification::webhook_endpoint_disabled(
            t,
            WebhookEndpointId::new(),
            "https://hooks.example.com/billing",
            now,
        ),
    ] {
        record(app, new).await;
    }
    NotificationKind::ALL.to_vec()
}

#[tokio::test]
async fn every_kind_is_emailed_once_in_the_tenants_language_with_text_and_html() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let pt = tenant_in(&app, "acme-pt", "pt-BR").await;
    let en = tenant_in(&app, "acme-en", "en-US").await;
    let kinds = every_kind(&app, &pt).await;
    every_kind(&app, &en).await;
    let report = run_outbox(&app).await;
    assert_eq!(report.emailed, 26, "{report:?}");

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
    assert_eq!(run_outbox(&app).await.emailed, 0);
    assert_eq!(smtp.received().len(), 26);
}

#[tokio::test]
async fn recipients_are_the_billing_email_and_owner_and_billing_users_not_members() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant_in(&app, "acme", "pt-BR").await;
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
    tenant_in(&app, "other", "pt-BR").await;
    finalized(&app, &t, 5_000).await;
    run_outbox(&app).await;

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
async fn an_address_refused_with_550_is_marked_failed_and_never_retried() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let t = tenant_in(&app, "acme", "en").await;
    app.create_user(
        Some(&t),
        "gone@acme.example.com",
        "OWNER",
        "a-long-password-1",
    )
    .await;
    smtp.reject(&["gone@acme.example.com"]);
    finalized(&app, &t, 5_000).await;
    let report = run_outbox(&app).await;
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
    assert_eq!(run_outbox(&app).await.emailed, 0);
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
    let t = tenant_in(&app, "acme", "pt-BR").await;
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
    let down = run_outbox(&app).await;
    assert_eq!((down.emailed, down.retried), (0, 3), "{down:?}");
    assert!(
        email_rows(&app)
            .await
            .iter()
            .all(|m| m.status == OutboxStatus::Pending && m.last_error.is_some())
    );
    // Nothing is due again before the back-off has passed.
    assert_eq!(run_outbox(&app).await, Default::default());

    // Back, but answering 451 to the owner: the billing email gets its three, the owner none.
    smtp.restart();
    smtp.tempfail(&["owner@acme.example.com"]);
    later(&app);
    let partial = run_outbox(&app).await;
    assert_eq!((partial.emailed, partial.retried), (0, 3), "{partial:?}");
    assert_eq!(smtp.received().len(), 3);

    // Then accepting everyone: only the owner's emails are sent now.
    smtp.tempfail(&[]);
    later(&app);
    let back = run_outbox(&app).await;
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
    assert_eq!(run_outbox(&app).await.emailed, 0);
    assert_eq!(smtp.received().len(), 6);
}

#[tokio::test]
async fn two_workers_on_two_replicas_email_each_notification_once() {
    let smtp = SmtpSink::start();
    let app = email_app(Some(&smtp)).await;
    let replica = app.restarted().await;
    let t = tenant_in(&app, "acme", "en").await;
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
    let t = tenant_in(&app, "acme", "pt-BR").await;
    app.create_user(
        Some(&t),
        "owner@acme.example.com",
        "OWNER",
        "a-long-password-1",
    )
    .await;
    finalized(&app, &t, 5_000).await;
    assert_eq!(run_outbox(&app).await.emailed, 1);
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
