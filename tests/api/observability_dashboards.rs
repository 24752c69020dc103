//! Every PromQL expression of every panel of every Grafana dashboard, run through a real
//! Prometheus that scraped the test app during a scenario (subscriptions, usage with block
//! charges, credit spending, a failed and a paid Stripe payment): each parses and each returns
//! data, so no dashboard shows a metric that does not exist.
use serde_json::json;

use crate::helpers::*;

/// The scenario: a subscription with usage crossing blocks (and a duplicate and a rejected
/// event), credits granted and spent, and two invoices collected through the Stripe test
/// server, one declined and one paid.
async fn scenario(app: &TestApp, server: &StripeServer) {
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
        usage_event("tokens", 25, "k-1"),
        usage_event("nope", 1, "k-2"),
    ];
    app.record_usage(&sub.owner, None, events).await.data();

    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": sub.tenant, "credits": "10", "reason": "test" } }),
    )
    .await
    .data();
    app.as_token(
        &sub.owner,
        "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }",
        json!({ "i": { "metricCode": "tokens", "quantity": 100, "operationType": "chat",
            "idempotencyKey": "spend-1" } }),
    )
    .await
    .data();

    let (tenant, owner) = app.tenant_with_owner("payer").await;
    save_card(app, server, &owner, "visa", "4242").await;
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::decline("insufficient_funds"),
    );
    let (declined, _) = finalized(app, &tenant, 5_000).await;
    deliver(app).await;
    let (paid, _) = finalized(app, &tenant, 3_000).await;
    deliver(app).await;
    assert_eq!(payments_of(app, declined).await[0]["status"], "FAILED");
    assert_eq!(payments_of(app, paid).await[0]["status"], "SUCCEEDED");
    app.run_jobs().await;
}

#[tokio::test]
async fn every_dashboard_query_parses_and_returns_data_from_a_real_prometheus() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let target = app.address.trim_start_matches("http://").to_owned();
    let prometheus = PrometheusProcess::start(&target).await;
    prometheus.wait_for("up{job=\"billing\"} == 1").await;
    scenario(&app, &server).await;
    // Traffic after the scenario too, so every rate has two samples that differ.
    app.run_jobs().await;

    let queries = dashboard_queries();
    let mut titles: Vec<&str> = Vec::new();
    for dashboard in ["Billing Overview", "Subscriptions", "Revenue", "Usage"] {
        let found = std::fs::read_dir(grafana_dir().join("dashboards"))
            .expect("dashboards")
            .filter_map(|e| std::fs::read_to_string(e.expect("entry").path()).ok())
            .any(|t| t.contains(&format!("\"title\": \"{dashboard}\"")));
        assert!(found, "no dashboard titled {dashboard}");
        titles.push(dashboard);
    }
    assert!(queries.len() >= 20, "{} queries", queries.len());
    for (file, panel, expr) in &queries {
        let promql = substitute(expr);
        assert!(
            !promql.contains('$'),
            "{file} / {panel}: unresolved variable in {promql}"
        );
        let answer = prometheus.query(&promql).await;
        assert_eq!(
            answer["status"], "success",
            "{file} / {panel}: {promql} does not parse: {answer}"
        );
        prometheus.wait_for(&promql).await;
    }
    // The seed's names, kept by recording rules, answer too.
    prometheus.wait_for("billing_subscriptions_total").await;
    prometheus
        .wait_for("billing_payments_total{status=\"failed\"} > 0")
        .await;
    prometheus
        .wait_for("billing_payments_total{status=\"succeeded\"} > 0")
        .await;
}
