//! The billing clock is saved when it is moved, so a restarted server resumes it; and anyone
//! signed in can read it with `billingClock`.
use billing::domain::Role;
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

const CLOCK: &str = "{ billingClock { now frozen source } }";

async fn clock_of(app: &TestApp, token: &str) -> Value {
    app.as_token(token, CLOCK, json!({})).await.data()["billingClock"].clone()
}

/// A tenant subscribed, without a trial, to a plan charging `tokens` at the period end.
async fn metered_tenant(app: &TestApp) -> Subscribed {
    app.create_metric("tokens").await;
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": "metered", "name": "Metered", "monthlyPriceMinor": "1000",
            "charges": [block_charge("tokens", "PERIOD_END", 0, 1000, 100)] } }),
    )
    .await
    .data();
    app.subscribed("acme", "metered").await
}

#[tokio::test]
async fn anyone_signed_in_reads_the_billing_clock_and_anonymous_callers_do_not() {
    let app = spawn_app_at("2026-01-31T10:00:00Z").await;
    let (_, owner) = app.tenant_with_owner("acme").await;
    for token in [app.admin_token.clone(), owner] {
        let clock = clock_of(&app, &token).await;
        assert_eq!(at(&clock["now"]), ts("2026-01-31T10:00:00Z"), "{clock}");
        assert_eq!(clock["frozen"], true);
        assert_eq!(clock["source"], "CONTROLLED");
    }
    let flowing = spawn_app().await;
    let clock = clock_of(&flowing, &flowing.admin_token).await;
    assert_eq!(clock["frozen"], false);
    let lag = Utc::now() - at(&clock["now"]);
    assert!(lag.num_seconds().abs() < 60, "{clock}");
    let r = app.anonymous(CLOCK, json!({})).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
}

#[tokio::test]
async fn a_standing_clock_resumes_where_it_was_after_a_restart() {
    let app = spawn_app_at("2026-01-31T10:00:00Z").await;
    let acme = metered_tenant(&app).await;
    app.advance_days(40).await;
    let restarted = app.restarted().await;
    let clock = clock_of(&restarted, &restarted.admin_token).await;
    assert_eq!(at(&clock["now"]), ts("2026-03-12T10:00:00Z"), "{clock}");
    assert_eq!(clock["frozen"], true);
    let owner = restarted.tenant_token(&acme.tenant, Role::Owner);
    let r = restarted
        .record_usage(&owner, None, [usage_event("tokens", 10, "after-restart")])
        .await;
    assert_eq!(
        statuses(&r.data()["recordUsage"]),
        ["ACCEPTED"],
        "{}",
        r.body
    );
    // Moved again after the restart, it is saved again.
    restarted.advance_days(1).await;
    let again = restarted.restarted().await;
    let clock = clock_of(&again, &again.admin_token).await;
    assert_eq!(at(&clock["now"]), ts("2026-03-13T10:00:00Z"), "{clock}");
}

#[tokio::test]
async fn a_flowing_clock_keeps_its_lead_after_a_restart_and_usage_is_accepted() {
    let app = spawn_app().await;
    let acme = metered_tenant(&app).await;
    let report = app.advance_days(31).await;
    assert_eq!(report["renewals"], 1, "{report}");
    let restarted = app.restarted().await;
    let clock = clock_of(&restarted, &restarted.admin_token).await;
    assert_eq!(clock["frozen"], false);
    let lead = at(&clock["now"]) - Utc::now();
    assert!(
        lead > TimeDelta::days(31) - TimeDelta::minutes(1)
            && lead < TimeDelta::days(31) + TimeDelta::minutes(1),
        "lead {lead}: {clock}"
    );
    let owner = restarted.tenant_token(&acme.tenant, Role::Owner);
    let r = restarted
        .record_usage(&owner, None, [usage_event("tokens", 10, "after-restart")])
        .await;
    assert_eq!(
        statuses(&r.data()["recordUsage"]),
        ["ACCEPTED"],
        "{}",
        r.body
    );
}
