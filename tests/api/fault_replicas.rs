//! Two replicas on one database running the billing jobs and the deferred processing at the
//! same moment, again and again: each period is invoiced once, invoice numbers stay unique
//! and gapless, each pending record is charged once, every wallet equals its ledger, and each
//! invoice's collection is enqueued once.
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use billing::config::Secret;
use billing::domain::{InvoiceId, PendingUsageId, TenantId};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
/// Two renewals after START (April 1 and May 1) are due at this moment.
const LATER: &str = "2026-05-02T00:00:00Z";
const CRON_SECRET: &str = "cron-secret-for-fault-tests-0123456789";
const TENANTS: usize = 5;
const RECORDS: usize = 12;
/// Tokens per deferred record: 2 credits each under the default rule.
const TOKENS: i64 = 1_500;
const GRANT: i64 = 100;
const ROUNDS: usize = 4;
/// Tenants that also report usage while the jobs run, and the tokens of each report.
const REPORTING: usize = 3;
const USAGE_TOKENS: i64 = 1_000;

/// What one call of the jobs or of the deferred processing reported.
#[derive(Default, Debug)]
struct Done {
    renewals: i64,
    invoices: i64,
    charged: i64,
}

async fn run_jobs(app: &TestApp) -> Done {
    let r = app
        .as_admin(
            "mutation { runBillingJobs { renewals invoicesIssued } }",
            json!({}),
        )
        .await;
    let j = &r.data()["runBillingJobs"];
    Done {
        renewals: int_of(&j["renewals"]),
        invoices: int_of(&j["invoicesIssued"]),
        charged: 0,
    }
}

async fn process_pending(app: &TestApp, limit: i64) -> Done {
    let r = app
        .as_admin(
            "mutation($i: ProcessUsageInput!) { processPendingUsage(input: $i) { charged failed } }",
            json!({ "i": { "limit": limit } }),
        )
        .await;
    let p = &r.data()["processPendingUsage"];
    assert_eq!(p["failed"], 0, "{}", r.body);
    Done {
        charged: int_of(&p["charged"]),
        ..Done::default()
    }
}

/// One usage event for `tenant`: with its period over and the jobs not yet run, recording
/// usage renews the subscription first, racing the jobs.
async fn report_usage(app: &TestApp, tenant: &str, key: String) -> Done {
    let r = app
        .record_usage(
            &app.admin_token,
            Some(tenant),
            [usage_event("tokens", USAGE_TOKENS, &key)],
        )
        .await;
    assert_eq!(
        statuses(&r.data()["recordUsage"]),
        ["ACCEPTED"],
        "{}",
        r.body
    );
    Done::default()
}

async fn cron(app: &TestApp) -> Done {
    let r = app
        .client
        .post(format!("{}/jobs/process-billing", app.address))
        .bearer_auth(CRON_SECRET)
        .send()
        .await
        .expect("POST /jobs/process-billing");
    let status = r.status();
    let body: Value = r.json().await.expect("a JSON body");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["failed"], 0, "{body}");
    Done {
        charged: body["charged"].as_i64().expect("charged"),
        ..Done::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_two_replicas_running_jobs_and_deferred_processing_invoice_and_charge_once() {
    let started = std::time::Instant::now();
    let base = spawn_app_with(|c| {
        c.clock_start = Some(ts(START));
        c.cron_secret = Some(Secret::new(CRON_SECRET));
        // Only the replicas' job runs carry out the outbox. A background worker on the set-up
        // instance would lease messages at its own clock, two months before the replicas',
        // so a replica would see the lease as long expired and take the message over.
        c.outbox_interval_ms = 0;
    })
    .await;
    base.create_metric("tokens").await;
    base.create_plan("monthly", 2_900, None, 0).await;
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let s = base.subscribed(&format!("replica-{i}"), "monthly").await;
        base.as_admin(
            "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
            json!({ "i": { "tenantId": s.tenant, "credits": GRANT.to_string(), "reason": "grant" } }),
        )
        .await
        .data();
        let events: Vec<Value> = (0..RECORDS)
            .map(|k| {
                json!({ "metricCode": "tokens", "quantity": TOKENS,
                "idempotencyKey": format!("deferred-{k}") })
            })
            .collect();
        let r = base
            .as_admin(
                "mutation($i: RecordDeferredUsageInput!) { recordDeferredUsage(input: $i) { \
                 results { status } } }",
                json!({ "i": { "tenantId": s.tenant, "events": events } }),
            )
            .await;
        let results = r.data()["recordDeferredUsage"]["results"]
            .as_array()
            .expect("results")
            .clone();
        assert!(
            results.iter().all(|x| x["status"] == "ACCEPTED"),
            "{}",
            r.body
        );
        tenants.push(s.tenant);
    }

    // Two replicas whose clocks stand after two renewals, neither having run the jobs yet.
    let replicas = [
        base.restarted_with(|c| c.clock_start = Some(ts(LATER)))
            .await,
        base.restarted_with(|c| c.clock_start = Some(ts(LATER)))
            .await,
    ];
    let mut calls: Vec<Pin<Box<dyn Future<Output = Done> + Send + '_>>> = Vec::new();
    for round in 0..ROUNDS {
        for (n, r) in replicas.iter().enumerate() {
            calls.push(Box::pin(run_jobs(r)));
            calls.push(Box::pin(process_pending(r, 5 + round as i64)));
            for tenant in &tenants[..REPORTING] {
                calls.push(Box::pin(report_usage(r, tenant, format!("r{n}-{round}"))));
            }
        }
    }
    let mut done: Vec<Done> = join_all(calls).await;
    // The cron route on both at once, while the jobs run on both again.
    let crons = join_all([cron(&replicas[0]), cron(&replicas[1])]);
    let jobs = join_all([run_jobs(&replicas[0]), run_jobs(&replicas[1])]);
    let (crons, jobs) = tokio::join!(crons, jobs);
    done.extend(crons);
    done.extend(jobs);

    let renewals: i64 = done.iter().map(|d| d.renewals).sum();
    let invoices: i64 = done.iter().map(|d| d.invoices).sum();
    let charged: i64 = done.iter().map(|d| d.charged).sum();
    eprintln!(
        "two replicas on {}: {} calls reported {renewals} renewals, {invoices} invoices, {charged} charges",
        backend(),
        done.len()
    );
    // Recording usage renews too, and does not report it: the jobs report at most every
    // renewal, and at least those of the tenants that reported nothing.
    let expected_renewals = i64::try_from(2 * TENANTS).expect("small");
    let by_jobs_only = i64::try_from(2 * (TENANTS - REPORTING)).expect("small");
    assert!(
        (by_jobs_only..=expected_renewals).contains(&renewals),
        "{renewals} renewals reported, all calls together"
    );
    assert_eq!(invoices, renewals, "invoices reported, all calls together");
    assert_eq!(
        charged,
        i64::try_from(TENANTS * RECORDS).expect("small"),
        "records charged, all calls together"
    );

    let app = &replicas[0];
    let db = &app.state.db;
    for tenant in &tenants {
        let sub = app.subscription_of(tenant).await;
        assert_eq!(sub["cycle"], 3, "{sub}");
        assert_eq!(
            at(&sub["currentPeriodStart"]),
            ts("2026-05-01T00:00:00Z"),
            "{sub}"
        );
        let invoices = app.invoices_of(tenant).await;
        let mut cycles: Vec<i64> = invoices.iter().map(|i| int_of(&i["cycle"])).collect();
        cycles.sort_unstable();
        assert_eq!(cycles, [1, 2, 3], "one invoice per period: {invoices:?}");
        let periods: BTreeSet<&str> = invoices.iter().map(|i| str_of(&i["periodStart"])).collect();
        assert_eq!(periods.len(), 3, "{invoices:?}");

        if tenants[..REPORTING].contains(tenant) {
            let s = app.usage_summary_of(tenant, "tokens").await;
            let reports = i64::try_from(2 * ROUNDS).expect("small");
            assert_eq!(s["cycle"], 3, "usage counted in the renewed period: {s}");
            assert_eq!(big(&s["totalQuantity"]), reports * USAGE_TOKENS, "{s}");
            assert_eq!(int_of(&s["events"]), reports, "{s}");
        }

        let ledger = app.ledger_of(tenant).await;
        let sum: i64 = ledger.iter().map(|e| micro(str_of(&e["amount"]))).sum();
        let (balance, _) = app.balance(tenant).await;
        assert_eq!(
            micro(&balance),
            sum,
            "{tenant}: balance ≠ sum of the ledger"
        );
        let per_record = credits_for(TOKENS);
        assert_eq!(
            micro(&balance),
            GRANT * 1_000_000 - per_record * i64::try_from(RECORDS).expect("small"),
            "{tenant}: each record charged once"
        );
        let consumed = ledger.iter().filter(|e| e["kind"] == "CONSUME").count();
        assert_eq!(consumed, RECORDS, "{tenant}: one CONSUME entry per record");

        let id = TenantId::parse("tenant", tenant).expect("tenant id").0;
        let records = entity::pending_usage::Entity::find()
            .filter(entity::pending_usage::Column::TenantId.eq(id))
            .all(db)
            .await
            .expect("read pending usage");
        assert_eq!(records.len(), RECORDS);
        for r in &records {
            assert_eq!(r.status, "charged", "{}", PendingUsageId(r.id));
        }
    }
    assert_gapless_invoice_numbers(app).await;

    // Each invoice with an amount due has its collection enqueued once; nothing else is.
    let due: BTreeSet<String> = entity::invoices::Entity::find()
        .all(db)
        .await
        .expect("read invoices")
        .into_iter()
        .filter(|i| i.amount_due_minor > 0)
        .map(|i| InvoiceId(i.id).to_string())
        .collect();
    assert_eq!(due.len(), 3 * TENANTS, "invoices with an amount due");
    let outbox = entity::outbox_messages::Entity::find()
        .filter(entity::outbox_messages::Column::Kind.eq("collect_invoice"))
        .all(db)
        .await
        .expect("read the outbox");
    let mut per_invoice: HashMap<String, usize> = HashMap::new();
    for m in &outbox {
        *per_invoice.entry(m.reference.clone()).or_default() += 1;
        // Carried out, by one worker, at the first attempt: the jobs' runs end with the
        // outbox worker, on both replicas at once.
        assert_eq!(
            (m.status.as_str(), m.attempts),
            ("done", 1),
            "collection of {} (last error: {:?})",
            m.reference,
            m.last_error
        );
    }
    assert!(
        per_invoice.values().all(|n| *n == 1),
        "a collection enqueued twice: {per_invoice:?}"
    );
    assert_eq!(
        per_invoice.keys().cloned().collect::<BTreeSet<_>>(),
        due,
        "collections enqueued ≠ invoices with an amount due"
    );
    eprintln!(
        "two replicas on {}: {:?} in all",
        backend(),
        started.elapsed()
    );
}
