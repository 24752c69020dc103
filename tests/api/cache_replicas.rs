//! The two-level cache across replicas: two app instances on one database (and one Redis, or
//! none). A change made through one is read at once through the other: the write bumps a cache
//! epoch in the database, and (with Redis) its deletion is published so every replica drops
//! its in-process copy.
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const PLANS: &str = "query($all: Boolean!) { plans(allVersions: $all) { edges { node { code version isCurrent monthlyPrice { amountMinor } } } } }";
const PUBLISH: &str =
    "mutation($i: PlanInput!) { publishPlanVersion(input: $i) { plan { version } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }";

async fn replicas(redis: Option<&PrivateRedis>) -> (TestApp, TestApp) {
    let url = redis.map(PrivateRedis::url);
    let a = spawn_app_with(|c| c.redis_url = url).await;
    let b = a.restarted().await;
    (a, b)
}

async fn plans(app: &TestApp, all: bool) -> Vec<Value> {
    nodes(&app.as_admin(PLANS, json!({ "all": all })).await, "plans")
}

async fn changes_through_one_replica_are_read_at_once_through_the_other(
    redis: Option<&PrivateRedis>,
) {
    let (a, b) = replicas(redis).await;
    a.create_plan("team", 2900, None, 0).await;
    for app in [&a, &b] {
        // Twice: the second answer comes from the cache.
        for _ in 0..2 {
            let listed = plans(app, false).await;
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0]["monthlyPrice"]["amountMinor"], "2900");
        }
    }
    let r = a
        .as_admin(
            PUBLISH,
            json!({ "i": { "code": "team", "name": "Team", "monthlyPriceMinor": 3900, "trialDays": 0 } }),
        )
        .await;
    assert_eq!(r.data()["publishPlanVersion"]["plan"]["version"], 2);
    let listed = plans(&b, false).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["version"], 2);
    assert_eq!(listed[0]["monthlyPrice"]["amountMinor"], "3900");
    let all = plans(&b, true).await;
    let v1 = all.iter().find(|p| p["version"] == 1).expect("version 1");
    assert_eq!(v1["isCurrent"], false, "{all:?}");

    let (tenant, owner) = a.tenant_with_owner("replicated").await;
    let (id, secret) = a.create_api_key(&owner, Some(&tenant), "k").await;
    for app in [&a, &b] {
        for _ in 0..2 {
            let r = app.as_token(&secret, "{ me { role } }", json!({})).await;
            assert_eq!(r.data()["me"]["role"], "SERVICE");
        }
    }
    a.as_token(&owner, REVOKE, json!({ "id": id })).await.data();
    for app in [&b, &a] {
        app.as_token(&secret, "{ me { role } }", json!({}))
            .await
            .expect_code("UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn cache_two_replicas_on_one_redis_read_each_others_changes_at_once() {
    let redis = PrivateRedis::start(false).await;
    changes_through_one_replica_are_read_at_once_through_the_other(Some(&redis)).await;
}

#[tokio::test]
async fn cache_two_replicas_without_redis_still_never_serve_a_stale_entry() {
    changes_through_one_replica_are_read_at_once_through_the_other(None).await;
}

#[tokio::test]
async fn cache_a_deletion_is_published_and_every_replica_drops_its_copy() {
    let redis = PrivateRedis::start(false).await;
    let (a, b) = replicas(Some(&redis)).await;
    // Give both replicas' listeners time to subscribe (they drop everything when they do).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ttl = Duration::from_secs(300);
    a.state.cache.set("probe", "v1", ttl).await.expect("set");
    assert_eq!(
        b.state.cache.get("probe").await.expect("get").as_deref(),
        Some("v1")
    );
    // B now holds "probe" in its process. Deleting through A must reach it.
    a.state.cache.delete("probe").await.expect("delete");
    let mut dropped = false;
    for _ in 0..50 {
        if b.state.cache.get("probe").await.expect("get").is_none() {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped, "replica B still serves its in-process copy");
}

const SUBSCRIPTION: &str = "{ subscription { status cancelAtPeriodEnd plan { code } \
    discount { couponCode } } me { tenant { name status } } }";

/// Reads the caller's subscription and tenant twice (the second read is served by the cache).
async fn read_twice(app: &TestApp, token: &str) -> Value {
    let first = app
        .as_token(token, SUBSCRIPTION, json!({}))
        .await
        .data()
        .clone();
    let second = app
        .as_token(token, SUBSCRIPTION, json!({}))
        .await
        .data()
        .clone();
    assert_eq!(first, second);
    second
}

/// The tenant snapshot (tenant row and live subscription) changed through one replica is read
/// at once through the other: for a JWT caller and for an API key (whose request reuses the
/// epoch read while authenticating), for the plan, the cancellation, a coupon, the tenant's
/// name, and a suspension, which the other replica enforces on the very next `recordUsage`.
async fn tenant_and_subscription_changes_are_read_at_once_through_the_other(
    redis: Option<&PrivateRedis>,
) {
    let (a, b) = replicas(redis).await;
    a.create_plan("basic", 1_000, None, 0).await;
    a.create_plan("pro", 5_000, None, 0).await;
    a.create_coupon(json!({ "code": "HALF", "name": "HALF", "percentOff": 50,
        "duration": "FOREVER" }))
        .await;
    a.create_metric("tokens").await;
    let s = a.subscribed("snap", "basic").await;
    let (_, key) = a.create_api_key(&s.owner, Some(&s.tenant), "k").await;
    let callers = [s.owner.as_str(), key.as_str()];
    for app in [&a, &b] {
        for token in callers {
            let v = read_twice(app, token).await;
            assert_eq!(v["subscription"]["plan"]["code"], "basic");
            assert_eq!(v["me"]["tenant"]["status"], "ACTIVE");
        }
    }

    let changed = "mutation($i: ChangePlanInput!) { changePlan(input: $i) { subscription { plan { code } } } }";
    a.as_token(&s.owner, changed, json!({ "i": { "planCode": "pro" } }))
        .await
        .data();
    for token in callers {
        let v = read_twice(&b, token).await;
        assert_eq!(v["subscription"]["plan"]["code"], "pro", "{v}");
    }

    let coupon =
        "mutation($i: ApplyCouponInput!) { applyCoupon(input: $i) { subscription { id } } }";
    a.as_token(&s.owner, coupon, json!({ "i": { "code": "HALF" } }))
        .await
        .data();
    let cancel =
        "mutation { cancelSubscription(input: { atPeriodEnd: true }) { subscription { id } } }";
    a.as_token(&s.owner, cancel, json!({})).await.data();
    for token in callers {
        let v = read_twice(&b, token).await;
        assert_eq!(v["subscription"]["discount"]["couponCode"], "HALF", "{v}");
        assert_eq!(v["subscription"]["cancelAtPeriodEnd"], true, "{v}");
    }

    let rename = "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { name } } }";
    a.as_admin(
        rename,
        json!({ "i": { "id": s.tenant, "name": "Renamed" } }),
    )
    .await
    .data();
    for token in callers {
        assert_eq!(
            read_twice(&b, token).await["me"]["tenant"]["name"],
            "Renamed"
        );
    }

    // Warm B's snapshot with an accepted report, then suspend through A.
    let r = b
        .record_usage(&key, None, [usage_event("tokens", 10, "before-suspension")])
        .await;
    assert_eq!(statuses(&r.data()["recordUsage"]), ["ACCEPTED"]);
    let suspend =
        "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { status } } }";
    a.as_admin(suspend, json!({ "i": { "id": s.tenant } }))
        .await
        .data();
    b.record_usage(&key, None, [usage_event("tokens", 10, "after-suspension")])
        .await
        .expect_code("FORBIDDEN");
    assert_eq!(
        read_twice(&b, &s.owner).await["me"]["tenant"]["status"],
        "SUSPENDED"
    );
}

#[tokio::test]
async fn cache_tenant_and_subscription_changes_cross_replicas_on_one_redis() {
    let redis = PrivateRedis::start(false).await;
    tenant_and_subscription_changes_are_read_at_once_through_the_other(Some(&redis)).await;
}

#[tokio::test]
async fn cache_tenant_and_subscription_changes_cross_replicas_without_redis() {
    tenant_and_subscription_changes_are_read_at_once_through_the_other(None).await;
}
