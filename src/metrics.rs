//! Prometheus metrics, rendered at `GET /metrics` (or on `BILLING_METRICS_LISTEN`). Names follow
//! the Prometheus conventions: `_total` only on counters, units as suffixes, base units
//! (seconds; money in the currency's major unit, credits in whole credits). No label takes an
//! unbounded value: metric codes come from the operator's catalog, operation types are capped
//! at [`MAX_OPERATION_LABELS`] distinct values (the rest are `other`), and no tenant or
//! invoice id is ever a label. The README's "Metrics and dashboards" lists every series.
use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Distinct operation types that get a label of their own in
/// `billing_credits_consumed_total`; later ones are counted as `other`.
pub const MAX_OPERATION_LABELS: usize = 50;

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub struct Metrics {
    registry: Registry,
    /// `billing_graphql_requests_total{operation,outcome}`
    pub graphql_requests: IntCounterVec,
    /// `billing_graphql_request_duration_seconds{operation,outcome}`
    pub graphql_duration: HistogramVec,
    /// `billing_api_requests_total{method,endpoint,status}`
    pub http_requests: IntCounterVec,
    /// `billing_subscriptions{status,plan_id}` (the plan code), refreshed on every scrape.
    pub subscriptions: IntGaugeVec,
    /// `billing_monthly_revenue{currency}` in the currency's major unit, refreshed on scrape.
    pub monthly_revenue: GaugeVec,
    /// `billing_payments_total{status}`: collection attempts by outcome (`succeeded`,
    /// `failed`, `requires_action`).
    pub payments: IntCounterVec,
    /// `billing_usage_events_total{metric,outcome}`: `accepted`, `duplicate`, `rejected`.
    usage_events: IntCounterVec,
    /// `billing_block_charges_total{metric}`
    block_charges: IntCounterVec,
    /// `billing_block_charges_amount_total{metric,currency}`, major units.
    block_charge_amount: CounterVec,
    /// `billing_credits_consumed_total{operation}`, whole credits.
    credits_consumed: CounterVec,
    operations: Mutex<HashSet<String>>,
    /// `billing_deferred_usage_pending` and `billing_deferred_usage_oldest_age_seconds`.
    pub deferred_pending: IntGauge,
    pub deferred_oldest_age: Gauge,
    /// `billing_outbox_pending{kind}` and `billing_outbox_oldest_age_seconds{kind}`.
    pub outbox_pending: IntGaugeVec,
    pub outbox_oldest_age: GaugeVec,
    /// `billing_outbox_failures_total{kind}`: failed delivery attempts.
    outbox_failures: IntCounterVec,
    /// `billing_jobs_runs_total{job,outcome}` and `billing_job_duration_seconds{job}`.
    job_runs: IntCounterVec,
    job_duration: HistogramVec,
    /// `billing_invariant_violations{check}`: rows breaking each check at its last run.
    pub invariant_violations: IntGaugeVec,
    /// `billing_ready`: 1 when the database and the cache answered at the last scrape.
    pub ready: IntGauge,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, prometheus::Error> {
    IntGaugeVec::new(Opts::new(name, help), labels)
}

fn float_gauge(name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, prometheus::Error> {
    GaugeVec::new(Opts::new(name, help), labels)
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
        };
        let m = Self {
            registry: Registry::new(),
            graphql_requests: counter(
                "billing_graphql_requests_total",
                "GraphQL requests by root field and outcome",
                &["operation", "outcome"],
            )?,
            graphql_duration: histogram(
                "billing_graphql_request_duration_seconds",
                "GraphQL request duration by root field and outcome",
                &["operation", "outcome"],
            )?,
            http_requests: counter(
                "billing_api_requests_total",
                "HTTP requests by method, route and status",
                &["method", "endpoint", "status"],
            )?,
            subscriptions: gauge(
                "billing_subscriptions",
                "Subscriptions by status and plan code",
                &["status", "plan_id"],
            )?,
            monthly_revenue: float_gauge(
                "billing_monthly_revenue",
                "Monthly recurring revenue in the currency's major unit",
                &["currency"],
            )?,
            payments: counter(
                "billing_payments_total",
                "Payment collection attempts by outcome",
                &["status"],
            )?,
            usage_events: counter(
                "billing_usage_events_total",
                "Usage events by metric code and outcome (accepted, duplicate, rejected)",
                &["metric", "outcome"],
            )?,
            block_charges: counter(
                "billing_block_charges_total",
                "Usage blocks charged at once, by metric code",
                &["metric"],
            )?,
            block_charge_amount: CounterVec::new(
                Opts::new(
                    "billing_block_charges_amount_total",
                    "Amount of the blocks charged, in the currency's major unit",
                ),
                &["metric", "currency"],
            )?,
            credits_consumed: CounterVec::new(
                Opts::new(
                    "billing_credits_consumed_total",
                    "Credits consumed, by operation type (bounded; the rest are `other`)",
                ),
                &["operation"],
            )?,
            operations: Mutex::new(HashSet::new()),
            deferred_pending: IntGauge::new(
                "billing_deferred_usage_pending",
                "Deferred usage records waiting to be charged",
            )?,
            deferred_oldest_age: Gauge::new(
                "billing_deferred_usage_oldest_age_seconds",
                "Age of the oldest deferred usage record waiting to be charged",
            )?,
            outbox_pending: gauge(
                "billing_outbox_pending",
                "Outbox messages not carried out yet, by kind",
                &["kind"],
            )?,
            outbox_oldest_age: float_gauge(
                "billing_outbox_oldest_age_seconds",
                "Age of the oldest pending outbox message, by kind",
                &["kind"],
            )?,
            outbox_failures: counter(
                "billing_outbox_failures_total",
                "Failed outbox delivery attempts, by kind",
                &["kind"],
            )?,
            job_runs: counter(
                "billing_jobs_runs_total",
                "Background job runs by job and outcome (ok, error)",
                &["job", "outcome"],
            )?,
            job_duration: histogram(
                "billing_job_duration_seconds",
                "Background job run duration",
                &["job"],
            )?,
            invariant_violations: gauge(
                "billing_invariant_violations",
                "Rows that broke each billing invariant at the last check",
                &["check"],
            )?,
            ready: IntGauge::new(
                "billing_ready",
                "1 when the database and the cache answered at the last scrape, else 0",
            )?,
        };
        m.register_all()?;
        Ok(m)
    }

    fn register_all(&self) -> Result<(), prometheus::Error> {
        let r = &self.registry;
        r.register(Box::new(self.payments.clone()))?;
        r.register(Box::new(self.subscriptions.clone()))?;
        r.register(Box::new(self.monthly_revenue.clone()))?;
        r.register(Box::new(self.graphql_requests.clone()))?;
        r.register(Box::new(self.graphql_duration.clone()))?;
        r.register(Box::new(self.http_requests.clone()))?;
        r.register(Box::new(self.usage_events.clone()))?;
        r.register(Box::new(self.block_charges.clone()))?;
        r.register(Box::new(self.block_charge_amount.clone()))?;
        r.register(Box::new(self.credits_consumed.clone()))?;
        r.register(Box::new(self.deferred_pending.clone()))?;
        r.register(Box::new(self.deferred_oldest_age.clone()))?;
        r.register(Box::new(self.outbox_pending.clone()))?;
        r.register(Box::new(self.outbox_oldest_age.clone()))?;
        r.register(Box::new(self.outbox_failures.clone()))?;
        r.register(Box::new(self.job_runs.clone()))?;
        r.register(Box::new(self.job_duration.clone()))?;
        r.register(Box::new(self.invariant_violations.clone()))?;
        r.register(Box::new(self.ready.clone()))?;
        Ok(())
    }

    /// `n` usage events of one metric with one outcome: `accepted`, `duplicate` or `rejected`.
    pub fn usage_events(&self, metric: &str, outcome: &str, n: u64) {
        self.usage_events
            .with_label_values(&[metric, outcome])
            .inc_by(n);
    }

    /// One block charged, `amount_minor` in a currency with `exponent` decimals.
    pub fn block_charge(&self, metric: &str, currency: &str, amount_minor: i64, exponent: u8) {
        self.block_charges.with_label_values(&[metric]).inc();
        self.block_charge_amount
            .with_label_values(&[metric, currency])
            .inc_by(major(amount_minor, exponent).max(0.0));
    }

    /// Credits consumed (in micro-credits) for a client's operation type.
    pub fn credits_consumed(&self, operation: &str, micro: i64) {
        let label = self.operation_label(operation);
        self.credits_consumed
            .with_label_values(&[label.as_str()])
            .inc_by((micro.max(0) as f64) / 1_000_000.0);
    }

    /// The operation's own label while fewer than [`MAX_OPERATION_LABELS`] are known, else
    /// `other`.
    fn operation_label(&self, operation: &str) -> String {
        let mut known = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(operation) {
            return operation.to_owned();
        }
        if known.len() < MAX_OPERATION_LABELS {
            known.insert(operation.to_owned());
            return operation.to_owned();
        }
        "other".to_owned()
    }

    /// One failed outbox delivery attempt.
    pub fn outbox_failure(&self, kind: &str) {
        self.outbox_failures.with_label_values(&[kind]).inc();
    }

    /// Exports a kind's failure counter at 0 before its first failure, so rates over it exist.
    pub fn outbox_kind_known(&self, kind: &str) {
        self.outbox_failures.with_label_values(&[kind]);
    }

    /// One finished run of a background job.
    pub fn job_run(&self, job: &str, ok: bool, seconds: f64) {
        let outcome = if ok { "ok" } else { "error" };
        self.job_runs.with_label_values(&[job, outcome]).inc();
        self.job_duration.with_label_values(&[job]).observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// `amount_minor` in the major unit of a currency with `exponent` decimals.
pub fn major(amount_minor: i64, exponent: u8) -> f64 {
    amount_minor as f64 / 10f64.powi(i32::from(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_types_beyond_the_cap_are_counted_as_other() {
        let m = Metrics::new().expect("metrics");
        for i in 0..MAX_OPERATION_LABELS {
            assert_eq!(m.operation_label(&format!("op{i}")), format!("op{i}"));
        }
        assert_eq!(m.operation_label("one-too-many"), "other");
        assert_eq!(m.operation_label("op3"), "op3");
    }

    #[test]
    fn money_is_exported_in_major_units() {
        assert_eq!(major(4_990, 2), 49.9);
        assert_eq!(major(500, 0), 500.0);
    }
}
