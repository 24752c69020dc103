//! Metrics checked by Prometheus's own tools: `promtool` accepts the configuration and the
//! rules and passes every alert's unit tests, finds nothing to complain about in a live
//! `/metrics`, and `/metrics` moves to a listener of its own when one is configured.
use serde_json::json;

use crate::helpers::*;

#[test]
fn promtool_accepts_the_config_and_the_rules_and_every_alert_passes_its_unit_tests() {
    let (ok, out) = promtool(&["check", "config", "prometheus.yml"], None);
    assert!(ok, "promtool check config: {out}");
    let (ok, out) = promtool(
        &["check", "rules", "rules/recording.yml", "rules/alerts.yml"],
        None,
    );
    assert!(ok, "promtool check rules: {out}");
    let (ok, out) = promtool(&["test", "rules", "tests/alerts_test.yml"], None);
    assert!(ok, "promtool test rules: {out}");
    assert!(out.contains("SUCCESS"), "{out}");

    // Every alert rule has unit tests, both firing and staying quiet.
    let alerts = std::fs::read_to_string(grafana_dir().join("rules/alerts.yml")).expect("alerts");
    let tests =
        std::fs::read_to_string(grafana_dir().join("tests/alerts_test.yml")).expect("tests");
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        let cases: Vec<&str> = tests
            .split("- eval_time:")
            .filter(|case| case.contains(&format!("alertname: {name}\n")))
            .collect();
        assert!(
            cases.iter().any(|c| c.contains("exp_alerts: []")),
            "{name} has no test where it stays quiet"
        );
        assert!(
            cases.iter().any(|c| c.contains("exp_labels:")),
            "{name} has no test where it fires"
        );
    }
}

/// A tenant with usage, a duplicate and a rejected event, and credits spent, so that every
/// family of series has samples.
async fn some_traffic(app: &TestApp) {
    app.create_metric("tokens").await;
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": "metered", "name": "Metered", "monthlyPriceMinor": "1000",
            "trialDays": 0, "charges": [block_charge("tokens", "IMMEDIATELY", 10, 10, 500)] } }),
    )
    .await
    .data();
    let sub = app.subscribed("acme", "metered").await;
    let events = [
        usage_event("tokens", 25, "k-1"),
        usage_event("tokens", 1, "k-1"),
        usage_event("no-such-metric", 1, "k-2"),
    ];
    let r = app.record_usage(&sub.owner, None, events).await;
    assert_eq!(
        statuses(&r.data()["recordUsage"]),
        ["ACCEPTED", "DUPLICATE", "REJECTED"]
    );
    let tenant = app.create_tenant("credits").await;
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "10", "reason": "test" } }),
    )
    .await
    .data();
    app.as_admin(
        "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "metricCode": "tokens", "quantity": 100,
            "operationType": "chat", "idempotencyKey": "spend-1" } }),
    )
    .await
    .data();
    app.run_jobs().await;
}

pub async fn scrape(app: &TestApp, url: &str) -> (u16, String) {
    let r = app.client.get(url).send().await.expect("scrape");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// The value of the sample `series` (name and labels as rendered) in a scrape.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn promtool_check_metrics_finds_nothing_to_complain_about_in_a_live_scrape() {
    let app = spawn_app().await;
    some_traffic(&app).await;
    let (status, text) = scrape(&app, &format!("{}/metrics", app.address)).await;
    assert_eq!(status, 200);
    for family in [
        "billing_usage_events_total",
        "billing_block_charges_total",
        "billing_credits_consumed_total",
        "billing_outbox_pending",
        "billing_jobs_runs_total",
        "billing_invariant_violations",
        "billing_subscriptions",
        "billing_monthly_revenue",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    assert_eq!(
        sample(
            &text,
            "billing_usage_events_total{metric=\"tokens\",outcome=\"accepted\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "billing_usage_events_total{metric=\"tokens\",outcome=\"duplicate\"}"
        ),
        Some(1.0)
    );
    // A metric code outside the catalog never becomes a label.
    assert_eq!(
        sample(
            &text,
            "billing_usage_events_total{metric=\"unknown\",outcome=\"rejected\"}"
        ),
        Some(1.0)
    );
    assert!(!text.contains("no-such-metric"));
    assert_eq!(
        sample(&text, "billing_block_charges_total{metric=\"tokens\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "billing_credits_consumed_total{operation=\"chat\"}").map(|c| c > 0.0),
        Some(true)
    );
    assert!(!text.contains("ten_"), "no tenant id is a label");
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok && out.trim().is_empty(), "promtool check metrics: {out}");
}

#[tokio::test]
async fn metrics_move_to_their_own_listener_when_one_is_configured() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let app = spawn_app_with(|c| c.metrics_listen = Some(format!("127.0.0.1:{port}"))).await;
    let (status, _) = scrape(&app, &format!("{}/metrics", app.address)).await;
    assert_eq!(status, 404, "the public port does not serve /metrics");
    let (status, text) = scrape(&app, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(sample(&text, "billing_ready"), Some(1.0), "{text}");
    let (status, _) = scrape(&app, &format!("{}/health", app.address)).await;
    assert_eq!(status, 200);
}
