//! What the email tests share: an app whose outbox worker is off and whose emails go to an
//! SMTP sink (or to files), and ways to read what happened.
use std::collections::HashMap;

use billing::domain::{NewNotification, OutboxKind};
use billing::jobs::deliver_due;
use chrono::TimeDelta;
use serde_json::json;

use super::{ReceivedEmail, SmtpSink, TestApp, nodes, spawn_app_with, str_of};

pub async fn email_app(smtp: Option<&SmtpSink>) -> TestApp {
    let url = smtp.map(SmtpSink::url);
    spawn_app_with(|c| {
        c.clock_start = Some("2026-05-01T00:00:00Z".parse().expect("start"));
        c.outbox_interval_ms = 0;
        c.smtp_url = url.map(billing::config::Secret::new);
        c.public_url = "https://app.example.com".into();
    })
    .await
}

pub async fn tenant_in(app: &TestApp, slug: &str, locale: &str) -> String {
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
pub async fn run_outbox(app: &TestApp) -> billing::jobs::OutboxReport {
    deliver_due(&app.state).await.expect("deliver")
}

/// Moves the clock past any email back-off.
pub fn later(app: &TestApp) {
    app.state
        .clock
        .advance(TimeDelta::hours(2))
        .expect("advance the clock");
}

pub async fn record(app: &TestApp, new: NewNotification) {
    assert!(
        billing::store::notify::record_once(&app.state.db, new)
            .await
            .expect("record")
    );
}

/// Messages per envelope recipient.
pub fn by_recipient(received: &[ReceivedEmail]) -> HashMap<String, Vec<ReceivedEmail>> {
    let mut out: HashMap<String, Vec<ReceivedEmail>> = HashMap::new();
    for m in received {
        for to in &m.envelope_to {
            out.entry(to.clone()).or_default().push(m.clone());
        }
    }
    out
}

/// The `notificationEmails` of a notification, as (address, status, smtpCode).
pub async fn email_status(app: &TestApp, notification: &str) -> Vec<(String, String, Option<i64>)> {
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

pub async fn only_notification(app: &TestApp) -> String {
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

pub async fn email_rows(app: &TestApp) -> Vec<billing::domain::OutboxMessage> {
    let mut rows = billing::store::outbox::list(&app.state.db, 1_000)
        .await
        .expect("outbox");
    rows.retain(|m| m.kind == OutboxKind::SendEmail);
    rows
}
