//! The database cut away for 10 s under mixed load (PostgreSQL, through a proxy the test
//! cuts): every request answers fast, with success or `UNAVAILABLE`; `/ready` says 503; the
//! app recovers by itself; and after every request is sent again, whatever was acknowledged
//! exists exactly once. Also the proxy's slow mode, in front of PostgreSQL and of Redis.
use std::sync::Arc;
use std::time::{Duration, Instant};

use billing::config::Config;
use serde_json::json;

use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
/// Generous bounds: the machines are shared and noisy. The acquire timeout under test is 2 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);
const READY_WITHIN: Duration = Duration::from_millis(3500);
const RECOVER_WITHIN: Duration = Duration::from_secs(15);
const CUT_FOR: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_database_cut_for_10_s_under_load_fails_fast_recovers_and_loses_nothing() {
    if backend() == "sqlite" {
        eprintln!("skipped on SQLite: the database is a file, there is no connection to cut");
        return;
    }
    let began = Instant::now();
    let url = std::env::var("BILLING_TEST_DATABASE_URL").expect("PostgreSQL URL");
    let proxy = TcpProxy::start(target_of(&url).await).await;
    let start: chrono::DateTime<chrono::Utc> = START.parse().expect("RFC 3339");
    let app = Arc::new(
        spawn_app_with(|c| {
            c.clock_start = Some(start);
            c.database_url = proxy.url_for(&c.database_url);
            c.database_acquire_timeout_ms = Config::default().database_acquire_timeout_ms;
        })
        .await,
    );
    let customers = Arc::new(app.load_customers(2).await);
    let probe = "{ wallet { balance } }";

    let load = Load::start(app.clone(), customers.clone(), 8, "cut");
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.cut();
    let cut_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    let ready = app.get("/ready").await;
    let ready_took = asked.elapsed();
    assert_eq!(ready.status(), 503, "/ready during the cut");
    assert!(ready_took < READY_WITHIN, "/ready took {ready_took:?}");
    tokio::time::sleep(CUT_FOR.saturating_sub(cut_at.elapsed())).await;
    proxy.restore();
    let restored_at = Instant::now();

    // Recovery needs nothing but the database coming back.
    loop {
        let r = app
            .try_as_token(&customers[0].token, probe, json!({}))
            .await
            .expect("an answer");
        if r.code().is_none() {
            break;
        }
        r.expect_code("UNAVAILABLE");
        assert!(
            restored_at.elapsed() < RECOVER_WITHIN,
            "not recovered {RECOVER_WITHIN:?} after the restore"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_after = restored_at.elapsed();
    assert_eq!(
        app.get("/ready").await.status(),
        200,
        "/ready after recovery"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut sent = load.stop().await;
    eprintln!(
        "database cut: {}; /ready {ready_took:?}; recovered {recovered_after:?} after the restore",
        load_tally(&sent)
    );

    // During the cut, and around it, every request answered fast, with success or UNAVAILABLE.
    let slowest = sent
        .iter()
        .map(|s| s.took)
        .max()
        .expect("requests were sent");
    eprintln!("slowest request: {slowest:?}");
    for s in &sent {
        assert!(
            s.took < ANSWER_WITHIN,
            "{:?} took {:?} ({:?})",
            s.op,
            s.took,
            s.failure
        );
        if let Some(f) = &s.failure {
            assert_eq!(
                f,
                &Failure::Code("UNAVAILABLE".into()),
                "{:?} failed otherwise than UNAVAILABLE",
                s.op
            );
        }
    }
    let during = |s: &&Sent| s.started >= cut_at && s.started + s.took <= restored_at;
    let failed_during = sent
        .iter()
        .filter(during)
        .filter(|s| s.failure.is_some())
        .count();
    assert!(failed_during > 0, "no request failed during the cut");
    assert!(
        sent.iter().filter(during).all(|s| s.failure.is_some()),
        "a request succeeded while the database was cut"
    );
    assert_each_kind_acknowledged(&sent, "around the cut");
    assert!(
        sent.iter()
            .any(|s| s.started >= restored_at && s.ack.is_some()),
        "no request of the load succeeded after the restore"
    );

    let resent = resend_all(&app, &customers, &mut sent).await;
    eprintln!("resent after the recovery: {resent}");
    charge_deferred(&app).await;
    assert_money_invariants(&app, &customers, &sent).await;
    eprintln!(
        "database cut on {}: {} requests, {:?} in all",
        backend(),
        sent.len(),
        began.elapsed()
    );
}

/// The proxy's slow mode delays every exchange but breaks nothing, in front of PostgreSQL
/// and, when configured, of Redis; restored, the app is fast again without reconnecting.
#[tokio::test]
async fn faults_a_slow_database_and_cache_behind_the_proxy_still_serve_correctly() {
    if backend() == "sqlite" {
        eprintln!("skipped on SQLite: the database is a file, there is no connection to slow");
        return;
    }
    const DELAY: Duration = Duration::from_millis(150);
    let url = std::env::var("BILLING_TEST_DATABASE_URL").expect("PostgreSQL URL");
    let db_proxy = TcpProxy::start(target_of(&url).await).await;
    let redis = std::env::var("BILLING_TEST_REDIS_URL").ok();
    let cache_proxy = match &redis {
        Some(r) => Some(TcpProxy::start(target_of(r).await).await),
        None => None,
    };
    let app = spawn_app_with(|c| {
        c.database_url = db_proxy.url_for(&c.database_url);
        if let (Some(p), Some(r)) = (&cache_proxy, &c.redis_url) {
            c.redis_url = Some(p.url_for(r));
        }
    })
    .await;
    let (tenant, owner) = app.tenant_with_owner("slow").await;
    let query = "{ me { tenant { slug } } }";
    let timed = |what: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let t = Instant::now();
            let r = app.as_token(owner, query, json!({})).await;
            assert_eq!(r.data()["me"]["tenant"]["slug"], "slow", "{what}");
            let ready = app.get("/ready").await;
            assert_eq!(ready.status(), 200, "{what}: /ready");
            t.elapsed()
        }
    };
    let fast = timed("before").await;

    db_proxy.slow(DELAY);
    let slow_db = timed("database slowed").await;
    // A write through the slow connection commits once, as any other.
    let created = app.create_tenant("slow-write").await;
    db_proxy.restore();
    assert!(
        slow_db >= DELAY,
        "the database was slowed by {DELAY:?} but the requests took {slow_db:?}"
    );

    let mut slow_cache = None;
    if let Some(p) = &cache_proxy {
        p.slow(DELAY);
        slow_cache = Some(timed("cache slowed").await);
        p.restore();
        let took = slow_cache.expect("timed");
        assert!(
            took >= DELAY,
            "Redis was slowed by {DELAY:?} but /ready took {took:?}"
        );
    }
    let after = timed("after the restore").await;
    eprintln!(
        "slow proxy: before {fast:?}, database slowed {slow_db:?}, cache slowed {slow_cache:?}, after {after:?}"
    );
    let tenants = app.count("tenants").await;
    assert_eq!(tenants, 2, "{tenant} and {created}, once each");
}
