//! Mixed money load for the fault tests: clients that report usage batches, spend credits,
//! reserve then settle holds and record deferred usage, each request with fresh idempotency
//! keys, recording which were acknowledged, while the admin charges the deferred usage; then
//! every request sent again, the deferred usage charged to the end, and the invariants of
//! usage, blocks and the ledger checked against what was sent.
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use billing::domain::{BlockChargeId, InvoiceId, PendingUsageId, TenantId, UsageEventId};
use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::{Gql, TestApp, block_charge, micro, str_of};

/// The plan of the load: a fee, `LOAD_INCLUDED` tokens, then `LOAD_BLOCK_PRICE` per started
/// block of `LOAD_BLOCK` tokens, charged at once.
pub const LOAD_PLAN: &str = "load-tokens";
pub const LOAD_FEE: i64 = 40_000;
pub const LOAD_INCLUDED: i64 = 8_000_000;
pub const LOAD_BLOCK: i64 = 8_000_000;
pub const LOAD_BLOCK_PRICE: i64 = 10_000;
/// Credits granted to each customer: more than the load can spend.
pub const LOAD_GRANT_CREDITS: i64 = 1_000_000;

const USAGE: &str = "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { \
    results { status eventId code message } } }";
const CONSUME: &str = "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { \
    entry { id kind } replayed } }";
const RESERVE: &str = "mutation($i: ReserveCreditsInput!) { reserveCredits(input: $i) { \
    hold { id status } replayed } }";
const DEFERRED: &str = "mutation($i: RecordDeferredUsageInput!) { recordDeferredUsage(input: $i) { \
    results { status code message record { id } } } }";
const PROCESS: &str = "mutation($i: ProcessUsageInput!) { processPendingUsage(input: $i) { \
    charged failed } }";
const SETTLE: &str = "mutation($i: SettleCreditsInput!) { settleCredits(input: $i) { \
    hold { id status settled } replayed } }";

/// A tenant of the load, subscribed to `LOAD_PLAN` with `LOAD_GRANT_CREDITS` credits.
pub struct Customer {
    pub tenant: String,
    /// The owner's token.
    pub token: String,
}

/// The default credit rule: 1 credit per 1,000 units, rounded up per request, in micro-credits.
pub fn credits_for(quantity: i64) -> i64 {
    (quantity + 999) / 1000 * 1_000_000
}

impl TestApp {
    /// The `tokens` metric and `LOAD_PLAN`, then `n` customers on it, each with
    /// `LOAD_GRANT_CREDITS` credits.
    pub async fn load_customers(&self, n: usize) -> Vec<Customer> {
        self.create_metric("tokens").await;
        self.as_admin(
            "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
            json!({ "i": { "code": LOAD_PLAN, "name": "Load tokens",
                "monthlyPriceMinor": LOAD_FEE.to_string(),
                "charges": [block_charge("tokens", "IMMEDIATELY", LOAD_INCLUDED, LOAD_BLOCK,
                    LOAD_BLOCK_PRICE)] } }),
        )
        .await
        .data();
        let mut customers = Vec::new();
        for i in 0..n {
            let s = self.subscribed(&format!("load-{i}"), LOAD_PLAN).await;
            self.as_admin(
                "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
                json!({ "i": { "tenantId": s.tenant, "credits": LOAD_GRANT_CREDITS.to_string(),
                    "reason": "load grant" } }),
            )
            .await
            .data();
            customers.push(Customer {
                tenant: s.tenant,
                token: s.owner,
            });
        }
        customers
    }

    /// Every ledger entry of `tenant`, oldest first, read page by page as admin.
    pub async fn ledger_of(&self, tenant: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let r = self
                .as_admin(
                    "query($t: ID, $a: String) { wallet(tenantId: $t) { \
                     ledger(first: 100, after: $a) { pageInfo { hasNextPage } \
                     edges { cursor node { id kind amount reference } } } } }",
                    json!({ "t": tenant, "a": after }),
                )
                .await;
            let conn = &r.data()["wallet"]["ledger"];
            let edges = conn["edges"].as_array().expect("edges");
            all.extend(edges.iter().map(|e| e["node"].clone()));
            if conn["pageInfo"]["hasNextPage"] != true || edges.is_empty() {
                return all;
            }
            after = Some(str_of(&edges[edges.len() - 1]["cursor"]).to_owned());
        }
    }

    /// The tenant's usage summary of `metric` in its current period, read as admin.
    pub async fn usage_summary_of(&self, tenant: &str, metric: &str) -> Value {
        let r = self
            .as_admin(
                &format!(
                    "query($t: ID, $m: String!) {{ usageSummary(tenantId: $t, metricCode: $m) \
                     {{ {} }} }}",
                    super::SUMMARY_FIELDS
                ),
                json!({ "t": tenant, "m": metric }),
            )
            .await;
        r.data()["usageSummary"].clone()
    }
}

/// One request of the load, kept so that it can be sent again word for word.
#[derive(Clone, Debug)]
pub enum Op {
    /// A `recordUsage` batch: (idempotency key, tokens) per event.
    Usage(Vec<(String, i64)>),
    Consume {
        key: String,
        quantity: i64,
    },
    /// `reserveCredits` of `reserve` units, then `settleCredits` of `actual`.
    ReserveSettle {
        key: String,
        reserve: i64,
        actual: i64,
    },
    /// `recordDeferredUsage` of one event, charged later by `processPendingUsage`.
    Deferred {
        key: String,
        quantity: i64,
    },
}

/// What a request's successful answer said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Each event's id, in input order.
    Usage(Vec<String>),
    /// The ledger entry's id.
    Consume(String),
    /// The hold's id and what settling it charged.
    ReserveSettle { hold: String, settled: String },
    /// The deferred record's id.
    Deferred(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An error answer, by `extensions.code` (`REJECTED:<code>` for a refused usage event).
    Code(String),
    /// No answer at all (refused or broken connection, a body that is not JSON).
    Transport(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Code(c) => write!(f, "error {c}"),
            Failure::Transport(t) => write!(f, "no answer ({t})"),
        }
    }
}

/// A successful answer: what it acknowledged, and whether each part was a replay (per event
/// for usage; the spend; the reservation and the settlement).
struct Answer {
    ack: Ack,
    replayed: Vec<bool>,
}

/// One request of the load and what became of it.
#[derive(Debug)]
pub struct Sent {
    pub customer: usize,
    pub op: Op,
    pub started: Instant,
    pub took: Duration,
    /// The acknowledgement the load got, if any.
    pub ack: Option<Ack>,
    /// A reservation acknowledged whose settlement was not.
    pub hold: Option<String>,
    pub failure: Option<Failure>,
    /// What sending it again answered (`resend_all`).
    pub resent: Option<Ack>,
}

impl Sent {
    /// `usage`, `spend` or `hold`.
    pub fn kind(&self) -> &'static str {
        match self.op {
            Op::Usage(_) => "usage",
            Op::Consume { .. } => "spend",
            Op::ReserveSettle { .. } => "hold",
            Op::Deferred { .. } => "deferred",
        }
    }
}

/// Asserts that each kind of request was acknowledged at least once: the load did run.
pub fn assert_each_kind_acknowledged(sent: &[Sent], when: &str) {
    for kind in ["usage", "spend", "hold", "deferred"] {
        assert!(
            sent.iter().any(|s| s.kind() == kind && s.ack.is_some()),
            "no {kind} request acknowledged {when}: {}",
            load_tally(sent)
        );
    }
}

fn failure_of(r: Result<Gql, String>) -> Result<Gql, Failure> {
    let r = r.map_err(Failure::Transport)?;
    match r.code() {
        Some(code) => Err(Failure::Code(code.to_owned())),
        None if r.body["data"].is_null() => Err(Failure::Code(format!(
            "no data (HTTP {}): {}",
            r.status, r.body
        ))),
        None => Ok(r),
    }
}

/// Sends `op` once; on failure, also returns the hold of a reservation that was acknowledged.
async fn exec(app: &TestApp, token: &str, op: &Op) -> Result<Answer, (Failure, Option<String>)> {
    match op {
        Op::Usage(events) => {
            let events: Vec<Value> = events
                .iter()
                .map(|(key, q)| {
                    json!({ "metricCode": "tokens", "quantity": q.to_string(),
                    "idempotencyKey": key })
                })
                .collect();
            let r = failure_of(
                app.try_as_token(token, USAGE, json!({ "i": { "events": events } }))
                    .await,
            )
            .map_err(|f| (f, None))?;
            let mut ids = Vec::new();
            let mut replayed = Vec::new();
            for res in r.body["data"]["recordUsage"]["results"]
                .as_array()
                .expect("results")
            {
                match str_of(&res["status"]) {
                    "ACCEPTED" | "DUPLICATE" => {
                        ids.push(str_of(&res["eventId"]).to_owned());
                        replayed.push(res["status"] == "DUPLICATE");
                    }
                    _ => {
                        let code = format!("REJECTED:{}: {res}", res["code"]);
                        return Err((Failure::Code(code), None));
                    }
                }
            }
            Ok(Answer {
                ack: Ack::Usage(ids),
                replayed,
            })
        }
        Op::Consume { key, quantity } => {
            let input = json!({ "metricCode": "tokens", "quantity": quantity,
                "operationType": "chat", "idempotencyKey": key });
            let r = failure_of(
                app.try_as_token(token, CONSUME, json!({ "i": input }))
                    .await,
            )
            .map_err(|f| (f, None))?;
            let c = &r.body["data"]["consumeCredits"];
            assert_eq!(c["entry"]["kind"], "CONSUME", "{}", r.body);
            Ok(Answer {
                ack: Ack::Consume(str_of(&c["entry"]["id"]).to_owned()),
                replayed: vec![c["replayed"] == true],
            })
        }
        Op::Deferred { key, quantity } => {
            let events = [json!({ "metricCode": "tokens", "quantity": quantity,
                "operationType": "batch", "idempotencyKey": key })];
            let r = failure_of(
                app.try_as_token(token, DEFERRED, json!({ "i": { "events": events } }))
                    .await,
            )
            .map_err(|f| (f, None))?;
            let res = &r.body["data"]["recordDeferredUsage"]["results"][0];
            match str_of(&res["status"]) {
                "ACCEPTED" | "DUPLICATE" => Ok(Answer {
                    ack: Ack::Deferred(str_of(&res["record"]["id"]).to_owned()),
                    replayed: vec![res["status"] == "DUPLICATE"],
                }),
                _ => Err((
                    Failure::Code(format!("REJECTED:{}: {res}", res["code"])),
                    None,
                )),
            }
        }
        Op::ReserveSettle {
            key,
            reserve,
            actual,
        } => {
            let input = json!({ "metricCode": "tokens", "quantity": reserve,
                "idempotencyKey": key, "ttlSeconds": 3600 });
            let r = failure_of(
                app.try_as_token(token, RESERVE, json!({ "i": input }))
                    .await,
            )
            .map_err(|f| (f, None))?;
            let reserved = &r.body["data"]["reserveCredits"];
            let hold = str_of(&reserved["hold"]["id"]).to_owned();
            let reserve_replayed = reserved["replayed"] == true;
            let input = json!({ "holdId": hold, "actualQuantity": actual });
            let r = failure_of(app.try_as_token(token, SETTLE, json!({ "i": input })).await)
                .map_err(|f| (f, Some(hold.clone())))?;
            let settled = &r.body["data"]["settleCredits"];
            assert_eq!(settled["hold"]["status"], "SETTLED", "{}", r.body);
            Ok(Answer {
                ack: Ack::ReserveSettle {
                    hold,
                    settled: str_of(&settled["hold"]["settled"]).to_owned(),
                },
                replayed: vec![reserve_replayed, settled["replayed"] == true],
            })
        }
    }
}

/// The `n`-th request of client `client`: clients take turns at the four kinds of request
/// and at the customers, and every key is new.
fn op_for(run: &str, client: usize, n: usize) -> Op {
    let key = |part: &str| format!("{run}-c{client}-n{n}{part}");
    match client % 4 {
        0 => Op::Usage(
            (0..10)
                .map(|k| (key(&format!("-e{k}")), 250_000 * (1 + ((n + k) % 8) as i64)))
                .collect(),
        ),
        1 => Op::Consume {
            key: key(""),
            quantity: 1_000 + (n % 5) as i64 * 700,
        },
        2 => Op::ReserveSettle {
            key: key(""),
            reserve: 5_000,
            actual: 1_000 + (n % 4) as i64 * 1_000,
        },
        _ => Op::Deferred {
            key: key(""),
            quantity: 500 + (n % 3) as i64 * 1_000,
        },
    }
}

/// Clients sending requests until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// The kinds of request acknowledged so far.
    acked: Arc<std::sync::Mutex<std::collections::HashSet<&'static str>>>,
    clients: Vec<tokio::task::JoinHandle<Vec<Sent>>>,
    /// The admin charging deferred usage: (answered calls, records they charged).
    processor: tokio::task::JoinHandle<(usize, i64)>,
}

impl Load {
    /// Starts `clients` clients against `app`, spread over `customers`; `run` makes the keys
    /// unique. A client that gets no success backs off for 500 ms before its next request.
    /// Meanwhile the admin charges pending deferred usage, a few records at a time.
    pub fn start(
        app: Arc<TestApp>,
        customers: Arc<Vec<Customer>>,
        clients: usize,
        run: &str,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let clients = (0..clients)
            .map(|client| {
                let (app, customers, stop, run) =
                    (app.clone(), customers.clone(), stop.clone(), run.to_owned());
                let acked = acked.clone();
                tokio::spawn(async move {
                    let mut sent = Vec::new();
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let customer = (client + n) % customers.len();
                        let op = op_for(&run, client, n);
                        let started = Instant::now();
                        let answer = exec(&app, &customers[customer].token, &op).await;
                        let took = started.elapsed();
                        let failed = answer.is_err();
                        let (ack, hold, failure) = match answer {
                            Ok(a) => (Some(a.ack), None, None),
                            Err((f, hold)) => (None, hold, Some(f)),
                        };
                        let s = Sent {
                            customer,
                            op,
                            started,
                            took,
                            ack,
                            hold,
                            failure,
                            resent: None,
                        };
                        if s.ack.is_some() {
                            acked.lock().expect("acked").insert(s.kind());
                        }
                        sent.push(s);
                        n += 1;
                        if failed {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    sent
                })
            })
            .collect();
        let processor = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut answered, mut charged) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let input = json!({ "i": { "limit": 4 } });
                    let pause = match failure_of(
                        app.try_as_token(&app.admin_token, PROCESS, input).await,
                    ) {
                        Ok(r) => {
                            answered += 1;
                            let p = &r.body["data"]["processPendingUsage"];
                            assert_eq!(p["failed"], 0, "{}", r.body);
                            charged += p["charged"].as_i64().expect("charged");
                            50
                        }
                        Err(_) => 500,
                    };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                (answered, charged)
            }
        });
        Load {
            stop,
            acked,
            clients,
            processor,
        }
    }

    /// Waits, up to `within`, until every kind of request has been acknowledged once, so that
    /// what follows happens under the whole mix even on a slow, loaded machine.
    pub async fn until_each_kind_acknowledged(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.acked.lock().expect("acked").len() == 4 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the clients after their current request; returns every request they sent.
    pub async fn stop(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        let (answered, charged) = self.processor.await.expect("the processor panicked");
        eprintln!(
            "deferred processing during the load: {answered} calls answered, {charged} records charged"
        );
        for c in self.clients {
            all.extend(c.await.expect("a load client panicked"));
        }
        all
    }
}

/// How many requests were acknowledged and how many failed, per kind, for the log.
pub fn load_tally(sent: &[Sent]) -> String {
    let mut t: HashMap<&str, (usize, usize)> = HashMap::new();
    for s in sent {
        let e = t.entry(s.kind()).or_default();
        if s.ack.is_some() { e.0 += 1 } else { e.1 += 1 }
    }
    let mut parts: Vec<String> = t
        .iter()
        .map(|(k, (ok, failed))| format!("{k}: {ok} acknowledged, {failed} not"))
        .collect();
    parts.sort();
    parts.join("; ")
}

/// Sends every request again, acknowledged or not, retrying an `UNAVAILABLE` or missing
/// answer for up to 30 s, and asserts what each answers: an acknowledged request replays
/// its first answer in full (same ids, nothing new charged); an unacknowledged one either
/// replays or acts now, as a whole (a usage batch is one transaction). Returns, for the log,
/// how many unacknowledged requests had in fact been done (their answer was lost) and how
/// many were done only now.
pub async fn resend_all(app: &TestApp, customers: &[Customer], sent: &mut [Sent]) -> String {
    let (mut lost_answers, mut done_now) = (0, 0);
    let answers: Vec<(usize, Answer)> = futures::stream::iter(sent.iter().enumerate())
        .map(|(i, s)| async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match exec(app, &customers[s.customer].token, &s.op).await {
                    Ok(a) => return (i, a),
                    Err((f, _)) => {
                        let retryable = matches!(&f, Failure::Transport(_))
                            || f == Failure::Code("UNAVAILABLE".into());
                        assert!(
                            retryable && Instant::now() < deadline,
                            "sending {:?} again failed: {f}",
                            s.op
                        );
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (i, answer) in answers {
        let s = &mut sent[i];
        match &s.ack {
            Some(first) => {
                assert_eq!(
                    &answer.ack, first,
                    "an acknowledged {:?} answered otherwise when sent again",
                    s.op
                );
                assert!(
                    answer.replayed.iter().all(|r| *r),
                    "an acknowledged {:?} acted again (replayed: {:?})",
                    s.op,
                    answer.replayed
                );
            }
            None => {
                if answer.replayed.iter().all(|r| *r) {
                    lost_answers += 1;
                } else {
                    done_now += 1;
                }
                if let Op::Usage(_) = s.op {
                    assert!(
                        answer.replayed.iter().all(|r| *r) || answer.replayed.iter().all(|r| !r),
                        "part of an unacknowledged batch was stored: {:?}",
                        answer.replayed
                    );
                }
                if let (Some(hold), Ack::ReserveSettle { hold: now, .. }) = (&s.hold, &answer.ack) {
                    assert_eq!(now, hold, "an acknowledged reservation got another hold");
                    assert!(answer.replayed[0], "an acknowledged reservation held again");
                }
            }
        }
        s.resent = Some(answer.ack);
    }
    format!(
        "of the unacknowledged, {lost_answers} had been done (answer lost), {done_now} done now"
    )
}

/// Charges every pending deferred record (as the admin), retrying `UNAVAILABLE` for up to
/// 30 s, until a run finds nothing left to charge.
pub async fn charge_deferred(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app
            .try_as_token(&app.admin_token, PROCESS, json!({ "i": {} }))
            .await;
        match failure_of(r) {
            Ok(r) => {
                let p = &r.body["data"]["processPendingUsage"];
                assert_eq!(p["failed"], 0, "{}", r.body);
                if p["charged"] == 0 {
                    return;
                }
            }
            Err(f) => assert!(
                Instant::now() < deadline,
                "processPendingUsage still fails: {f}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks, per customer, after `resend_all` and `charge_deferred`: every event sent exists once with the id its
/// answers gave, the period's usage is their sum, the block charges are those the plan owes
/// for that sum (indexes 1..n, each once, on usage invoices that add up), every deferred
/// record exists once and is charged once, and the wallet is the grant less exactly one
/// charge per spend, settled hold and deferred record, equal to its ledger.
/// Then that invoice numbers are unique and gapless.
pub async fn assert_money_invariants(app: &TestApp, customers: &[Customer], sent: &[Sent]) {
    let db = &app.state.db;
    for (c, customer) in customers.iter().enumerate() {
        let tenant = TenantId::parse("tenant", &customer.tenant).expect("tenant id");
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.customer == c).collect();
        let resent = |s: &Sent| s.resent.clone().expect("sent again");

        // Usage: each key once, with the id its answers gave.
        let mut events: HashMap<String, (i64, String)> = HashMap::new();
        let (mut spends, mut holds) = (BTreeSet::new(), BTreeSet::new());
        let mut deferred: HashMap<String, (i64, String)> = HashMap::new();
        let mut expected_spent = 0;
        for s in &mine {
            match (&s.op, resent(s)) {
                (Op::Usage(batch), Ack::Usage(ids)) => {
                    for ((key, q), id) in batch.iter().zip(ids) {
                        assert!(events.insert(key.clone(), (*q, id)).is_none(), "{key}");
                    }
                }
                (Op::Consume { quantity, .. }, Ack::Consume(id)) => {
                    assert!(spends.insert(id.clone()), "two spends answered entry {id}");
                    expected_spent += credits_for(*quantity);
                }
                (Op::ReserveSettle { actual, .. }, Ack::ReserveSettle { hold, settled }) => {
                    assert_eq!(micro(&settled), credits_for(*actual), "hold {hold}");
                    assert!(
                        holds.insert(hold.clone()),
                        "two reservations answered {hold}"
                    );
                    expected_spent += credits_for(*actual);
                }
                (Op::Deferred { key, quantity }, Ack::Deferred(id)) => {
                    assert!(deferred.insert(key.clone(), (*quantity, id)).is_none());
                    expected_spent += credits_for(*quantity);
                }
                (op, ack) => panic!("{op:?} answered {ack:?}"),
            }
        }
        let total: i64 = events.values().map(|(q, _)| q).sum();
        let n = i64::try_from(events.len()).expect("count");
        let stored = entity::usage_events::Entity::find()
            .filter(entity::usage_events::Column::TenantId.eq(tenant.0))
            .all(db)
            .await
            .expect("read usage events");
        let stored: HashMap<String, (i64, String)> = stored
            .into_iter()
            .map(|e| {
                let id = UsageEventId(e.id).to_string();
                (e.idempotency_key, (e.quantity, id))
            })
            .collect();
        assert_eq!(
            stored.len(),
            events.len(),
            "customer {c}: stored events ≠ events sent"
        );
        assert!(
            stored == events,
            "customer {c}: the stored events are not those sent, each once, with the ids answered"
        );
        let blocks = ((total - LOAD_INCLUDED).max(0) + LOAD_BLOCK - 1) / LOAD_BLOCK;
        let s = app.usage_summary_of(&customer.tenant, "tokens").await;
        assert_eq!(super::big(&s["totalQuantity"]), total, "customer {c}: {s}");
        assert_eq!(super::int_of(&s["events"]), n, "customer {c}: {s}");
        assert_eq!(
            super::int_of(&s["blockChargesCount"]),
            blocks,
            "customer {c}: blocks owed for {total} tokens: {s}"
        );
        assert_eq!(
            super::money(&s, "blockChargesTotal"),
            blocks * LOAD_BLOCK_PRICE,
            "customer {c}: {s}"
        );

        // Blocks: 1..=n, each once, each on a usage invoice that bills exactly them.
        let charges = entity::block_charges::Entity::find()
            .filter(entity::block_charges::Column::TenantId.eq(tenant.0))
            .all(db)
            .await
            .expect("read block charges");
        let mut indexes: Vec<i64> = charges.iter().map(|b| b.block_index).collect();
        indexes.sort_unstable();
        assert_eq!(
            indexes,
            (1..=blocks).collect::<Vec<_>>(),
            "customer {c}: block indexes"
        );
        let event_ids: BTreeSet<&str> = events.values().map(|(_, id)| id.as_str()).collect();
        for b in &charges {
            assert!(
                event_ids.contains(UsageEventId(b.event_id).to_string().as_str()),
                "customer {c}: block {} names an event that was not sent",
                BlockChargeId(b.id)
            );
        }
        let usage_invoices = entity::invoices::Entity::find()
            .filter(entity::invoices::Column::TenantId.eq(tenant.0))
            .filter(entity::invoices::Column::BillingReason.eq("usage_blocks"))
            .all(db)
            .await
            .expect("read invoices");
        let billed: i64 = usage_invoices.iter().map(|i| i.total_minor).sum();
        assert_eq!(
            billed,
            blocks * LOAD_BLOCK_PRICE,
            "customer {c}: block invoices"
        );
        for inv in &usage_invoices {
            let on_it: i64 = charges
                .iter()
                .filter(|b| b.invoice_id == inv.id)
                .map(|b| b.amount_minor)
                .sum();
            assert_eq!(on_it, inv.total_minor, "invoice {}", InvoiceId(inv.id));
        }

        // Deferred usage: each key once, with the id answered, charged at its cost.
        let records = entity::pending_usage::Entity::find()
            .filter(entity::pending_usage::Column::TenantId.eq(tenant.0))
            .all(db)
            .await
            .expect("read deferred usage");
        for r in &records {
            assert_eq!(
                (r.status.as_str(), r.cost_micro),
                ("charged", credits_for(r.quantity)),
                "customer {c}: deferred record {}",
                PendingUsageId(r.id)
            );
        }
        let records: HashMap<String, (i64, String)> = records
            .into_iter()
            .map(|r| {
                (
                    r.idempotency_key,
                    (r.quantity, PendingUsageId(r.id).to_string()),
                )
            })
            .collect();
        assert!(
            records == deferred,
            "customer {c}: the stored deferred records are not those sent, each once"
        );

        // Credits: the grant less one charge per spend, settled hold and deferred record,
        // equal to the ledger.
        let ledger = app.ledger_of(&customer.tenant).await;
        let sum: i64 = ledger.iter().map(|e| micro(str_of(&e["amount"]))).sum();
        let (balance, held) = app.balance(&customer.tenant).await;
        assert_eq!(
            micro(&balance),
            sum,
            "customer {c}: balance ≠ sum of the ledger"
        );
        assert_eq!(held, "0", "customer {c}: every hold was settled");
        assert_eq!(
            micro(&balance),
            LOAD_GRANT_CREDITS * 1_000_000 - expected_spent,
            "customer {c}: balance ≠ grant − what was spent once each"
        );
        let of_kind = |kind: &str| -> Vec<String> {
            ledger
                .iter()
                .filter(|e| e["kind"] == kind)
                .map(|e| str_of(&e["id"]).to_owned())
                .collect()
        };
        // Deferred charges name their record; spends name nothing of the kind.
        let (charges, consumed): (Vec<&Value>, Vec<&Value>) = ledger
            .iter()
            .filter(|e| e["kind"] == "CONSUME")
            .partition(|e| {
                e["reference"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("pnd_"))
            });
        let consumed: Vec<String> = consumed
            .iter()
            .map(|e| str_of(&e["id"]).to_owned())
            .collect();
        assert_eq!(
            consumed.iter().cloned().collect::<BTreeSet<_>>(),
            spends,
            "customer {c}: CONSUME entries ≠ the spends answered"
        );
        assert_eq!(consumed.len(), spends.len(), "customer {c}: a spend twice");
        let charged: Vec<&str> = charges.iter().map(|e| str_of(&e["reference"])).collect();
        assert_eq!(
            charged.iter().copied().collect::<BTreeSet<_>>(),
            deferred.values().map(|(_, id)| id.as_str()).collect(),
            "customer {c}: deferred charges ≠ the records sent"
        );
        assert_eq!(
            charged.len(),
            deferred.len(),
            "customer {c}: a record charged twice"
        );
        assert_eq!(
            of_kind("HOLD").len(),
            holds.len(),
            "customer {c}: HOLD entries ≠ reservations"
        );
        assert_eq!(
            of_kind("SETTLE").len(),
            holds.len(),
            "customer {c}: SETTLE entries ≠ settlements"
        );
    }
    assert_gapless_invoice_numbers(app).await;
}

/// Every finalized invoice in the database has a number, and the numbers of each year are
/// 1..n with no gap and no repeat.
pub async fn assert_gapless_invoice_numbers(app: &TestApp) {
    let invoices = entity::invoices::Entity::find()
        .all(&app.state.db)
        .await
        .expect("read invoices");
    let mut by_year: HashMap<String, Vec<u32>> = HashMap::new();
    for inv in invoices.iter().filter(|i| i.status != "draft") {
        let number = inv
            .number
            .as_deref()
            .unwrap_or_else(|| panic!("invoice {} has no number", InvoiceId(inv.id)));
        let (year, n) = number.split_once('-').expect("YYYY-NNNNNN");
        by_year
            .entry(year.to_owned())
            .or_default()
            .push(n.parse().expect("a number"));
    }
    assert!(!by_year.is_empty(), "no invoices at all");
    for (year, mut numbers) in by_year {
        numbers.sort_unstable();
        let expected: Vec<u32> = (1..=u32::try_from(numbers.len()).expect("count")).collect();
        assert_eq!(numbers, expected, "invoice numbers of {year}");
    }
}
