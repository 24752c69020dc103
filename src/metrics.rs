//! Prometheus metrics, rendered at `GET /metrics`.
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// `billing_graphql_requests_total{operation,outcome}`
    pub graphql_requests: IntCounterVec,
    /// `billing_graphql_request_duration_seconds{operation,outcome}`
    pub graphql_duration: HistogramVec,
    /// `billing_api_requests_total{method,endpoint,status}`
    pub http_requests: IntCounterVec,
    /// `billing_subscriptions_total{status,plan_id}` (the plan code), refreshed by the jobs.
    pub subscriptions: IntGaugeVec,
    /// `billing_monthly_revenue{currency}` in minor units, refreshed by the jobs.
    pub monthly_revenue: IntGaugeVec,
    /// `billing_payments_total{status}`: collection attempts by outcome (`succeeded`,
    /// `failed`, `requires_action`).
    pub payments: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let graphql_requests = IntCounterVec::new(
            Opts::new(
                "billing_graphql_requests_total",
                "GraphQL requests by root field and outcome",
            ),
            &["operation", "outcome"],
        )?;
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new(
                "billing_graphql_request_duration_seconds",
                "GraphQL request duration by root field and outcome",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["operation", "outcome"],
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "billing_api_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "endpoint", "status"],
        )?;
        let subscriptions = IntGaugeVec::new(
            Opts::new(
                "billing_subscriptions_total",
                "Subscriptions by status and plan code",
            ),
            &["status", "plan_id"],
        )?;
        let monthly_revenue = IntGaugeVec::new(
            Opts::new(
                "billing_monthly_revenue",
                "Monthly recurring revenue in minor units, by currency",
            ),
            &["currency"],
        )?;
        let payments = IntCounterVec::new(
            Opts::new(
                "billing_payments_total",
                "Payment collection attempts by outcome",
            ),
            &["status"],
        )?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(subscriptions.clone()))?;
        registry.register(Box::new(monthly_revenue.clone()))?;
        registry.register(Box::new(graphql_requests.clone()))?;
        registry.register(Box::new(graphql_duration.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        Ok(Self {
            registry,
            graphql_requests,
            graphql_duration,
            http_requests,
            subscriptions,
            monthly_revenue,
            payments,
        })
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
